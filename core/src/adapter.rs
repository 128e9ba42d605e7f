//! Links the engines of several processes: socketioxide's Redis adapter
//! (`socketioxide-redis`) on a pub/sub driver of our own.
//!
//! With the `redis` cargo feature every engine uses the same adapter type, so that the rest
//! of the core is written once: on one node the driver is [`Bus::Local`] (nothing
//! published, and the core broadcasts with socketioxide's `local` flag so nothing is even
//! encoded); with a Redis it is [`Bus::Redis`]. Without the feature there is no Redis
//! bus, and the adapter is socketioxide's `LocalAdapter`.
//!
//! Why not the adapter's own `RedisDriver`: it connects while the engine is built (an
//! engine must build without a runtime and without Redis), its connection does not come
//! back after Redis restarts, and its subscriptions are lost with it. This driver makes
//! one RESP3 connection (a reconnecting `ConnectionManager`) on first use, answers
//! `subscribe` at once (the adapter's namespace init never waits for Redis), and a
//! maintenance task (re)subscribes every channel whenever the connection is new: after
//! start, and within [`RETRY`] of Redis coming back after a restart.
//!
//! **Nothing is lost quietly.** Redis pub/sub delivers to whoever is subscribed at that
//! instant, so a node that is re-subscribing after a Redis restart would miss what is
//! published meanwhile. Each node therefore announces itself in a sorted set
//! (`{sessionio}:nodes`, a heartbeat every second, gone after [`NODE_TTL`]), and a publish to
//! every node checks `PUBLISH`'s count of receivers against it: if a node is missing, it
//! waits until the channel has all its subscribers again and publishes once more (nodes
//! that had it already drop the copy), up to [`DELIVERY_BOUND`]; after that the caller
//! gets an error, never a silent loss.

#[cfg(feature = "redis")]
use std::collections::{HashMap, HashSet, VecDeque};
#[cfg(feature = "redis")]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
#[cfg(feature = "redis")]
use std::sync::{OnceLock, RwLock, Weak};
use std::time::Duration;

#[cfg(feature = "redis")]
use redis::{PushInfo, PushKind};
#[cfg(feature = "redis")]
use socketioxide::adapter::Emitter;
#[cfg(feature = "redis")]
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
#[cfg(feature = "redis")]
use socketioxide_redis::{CustomRedisAdapter, InitRes, RedisAdapterConfig, RedisAdapterCtr};
#[cfg(feature = "redis")]
use tokio::sync::{mpsc, Notify};

#[cfg(feature = "redis")]
use crate::redis_target::{Patience, RedisConn, RedisTarget};
use crate::{Error, Result};

/// The adapter of every engine: socketioxide-redis over [`Bus`].
#[cfg(feature = "redis")]
pub type Adapter = CustomRedisAdapter<Emitter, Bus>;

/// The adapter of every engine without the `redis` feature: socketioxide's own, for one
/// process (the bus is then always [`Bus::Local`]).
#[cfg(not(feature = "redis"))]
pub type Adapter = socketioxide::adapter::LocalAdapter;

/// A socket of an engine, as socketioxide hands it out.
pub(crate) type SocketRef = socketioxide::extract::SocketRef<Adapter>;

#[cfg(feature = "redis")]
/// Bound on one publish or subscribe round trip.
const IO_TIMEOUT: Duration = Duration::from_millis(1_000);
#[cfg(feature = "redis")]
/// Pause between (re)subscription attempts while Redis is unreachable.
const RETRY: Duration = Duration::from_millis(50);
#[cfg(feature = "redis")]
const PATIENCE: Patience = Patience {
    io_timeout: IO_TIMEOUT,
    max_retry_delay: RETRY,
};
#[cfg(feature = "redis")]
/// How long a publish keeps trying to reach every node before it reports a failure.
const DELIVERY_BOUND: Duration = Duration::from_millis(1_500);
#[cfg(feature = "redis")]
/// Pause between delivery attempts.
const DELIVERY_RETRY: Duration = Duration::from_millis(20);
#[cfg(feature = "redis")]
/// A node that has not sent a heartbeat for this long is no longer counted.
const NODE_TTL: Duration = Duration::from_secs(3);
/// The prefix of the adapter's channels (`{sessionio}-request#<namespace>#…`). The braces
/// are a Redis Cluster hash tag: every channel, and every key the engine shares between
/// processes ([`NODES_KEY`], the Redis store's count index), hashes to the slot of
/// `sessionio`, so that what is global lives on one master of a cluster (one failure
/// domain) and a session's own keys are spread over all of them.
pub(crate) const CHANNEL_PREFIX: &str = "{sessionio}";
#[cfg(feature = "redis")]
/// The sorted set of live nodes (member: node id, score: last heartbeat, unix ms).
const NODES_KEY: &str = "{sessionio}:nodes";
#[cfg(feature = "redis")]
/// Request ids already handled, to drop the copies of a publish sent again.
const SEEN_CAPACITY: usize = 4096;
#[cfg(feature = "redis")]
/// How often a healthy connection is checked with a PING (a dead peer that sent no FIN is
/// noticed by its timeout).
const HEALTH_CHECK: Duration = Duration::from_secs(1);

/// The pub/sub driver under the adapter.
#[derive(Clone)]
pub enum Bus {
    /// One process: nothing leaves it.
    Local,
    /// Several processes on one Redis.
    Redis(Arc<RedisBus>),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::Local => f.write_str("Bus::Local"),
            Bus::Redis(_) => f.write_str("Bus::Redis"),
        }
    }
}

/// A failure to reach the other nodes.
#[cfg(feature = "redis")]
#[derive(Debug, thiserror::Error)]
#[error("redis adapter: {0}")]
pub struct BusError(String);

#[cfg(feature = "redis")]
impl From<redis::RedisError> for BusError {
    fn from(e: redis::RedisError) -> Self {
        BusError(e.to_string())
    }
}

#[cfg(feature = "redis")]
type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

#[cfg(feature = "redis")]
/// The Redis side of [`Bus`].
pub struct RedisBus {
    target: RedisTarget,
    manager: OnceLock<RedisConn>,
    /// Every channel the adapter subscribed, and where its messages go.
    handlers: Arc<RwLock<Handlers>>,
    /// Set when the connection is new (or lost): the channels must be subscribed again.
    stale: Arc<AtomicBool>,
    /// Counts the channels added: a (re)subscription that began before the last one was
    /// added did not include it, so it must not mark the bus subscribed.
    added: AtomicUsize,
    wake: Arc<Notify>,
    /// Set once every channel is subscribed on a live connection.
    subscribed: Arc<AtomicBool>,
    subscribed_changed: Arc<Notify>,
    maintenance: std::sync::Once,
    /// This node's member in [`NODES_KEY`].
    node: String,
    /// Live nodes, this one included: what a publish to every node must reach.
    nodes: AtomicUsize,
    /// When the subscriptions were last (re)made: for [`NODE_TTL`] after that, other
    /// nodes' heartbeats may still date from before a Redis restart, so none is dropped.
    subscribed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

#[cfg(feature = "redis")]
/// Hashes of the request messages received lately (a publish sent again after a node
/// was missing reaches the others twice).
#[derive(Default)]
struct Seen {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

#[cfg(feature = "redis")]
impl Seen {
    /// False if `message` was seen before.
    fn first_time(&mut self, message: &[u8]) -> bool {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher(), message);
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > SEEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    fn hasher(&self) -> std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> {
        Default::default()
    }
}

#[cfg(feature = "redis")]
fn lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(feature = "redis")]
impl RedisBus {
    /// A bus on the Redis of `url` (`redis://…`, or `redis-cluster://…` for sharded
    /// pub/sub on a Redis Cluster; RESP3, Redis ≥ 7). Nothing is connected here.
    pub(crate) fn open(url: &str) -> Result<RedisBus> {
        let target = RedisTarget::parse(url)
            .map_err(|e| Error::Config(format!("adapter URL {url:?}: {e}")))?;
        Ok(RedisBus {
            target,
            manager: OnceLock::new(),
            handlers: Default::default(),
            stale: Arc::new(AtomicBool::new(true)),
            added: AtomicUsize::new(0),
            wake: Default::default(),
            subscribed: Default::default(),
            subscribed_changed: Default::default(),
            maintenance: std::sync::Once::new(),
            node: crate::SessionId::default().to_string(),
            nodes: AtomicUsize::new(1),
            subscribed_at: Default::default(),
        })
    }

    /// The connection (inside the runtime), and the maintenance task with it.
    fn connection(self: &Arc<Self>) -> std::result::Result<RedisConn, BusError> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        let handlers = Arc::downgrade(&self.handlers);
        let (stale, wake) = (self.stale.clone(), self.wake.clone());
        let subscribed = self.subscribed.clone();
        let seen = std::sync::Mutex::new(Seen::default());
        let on_push = move |push: PushInfo| {
            on_push(push, &handlers, &stale, &wake, &subscribed, &seen);
            Ok::<(), std::convert::Infallible>(())
        };
        let made = self.target.connect_lazily(PATIENCE, Some(on_push))?;
        let manager = self.manager.get_or_init(|| made).clone();
        self.maintenance.call_once(|| {
            tokio::spawn(maintain(Arc::downgrade(self)));
        });
        Ok(manager)
    }

    /// Whether heartbeats older than [`NODE_TTL`] may be dropped: not until this node has
    /// been subscribed for that long, since after a Redis restart every other node's
    /// entry is old until it beats again, and those nodes must still be waited for.
    fn may_drop_stale_nodes(&self) -> bool {
        self.subscribed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() >= NODE_TTL)
    }

    /// Waits until every channel is subscribed on a live connection, at most `timeout`.
    pub(crate) async fn ready(self: &Arc<Self>, timeout: Duration) -> Result<()> {
        self.connection()
            .map_err(|e| Error::StoreUnavailable(e.to_string()))?;
        self.wake.notify_one();
        let wait = async {
            loop {
                let changed = self.subscribed_changed.notified();
                if self.subscribed.load(Ordering::Acquire) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            Error::StoreUnavailable(format!(
                "redis adapter: not subscribed within {} ms",
                timeout.as_millis()
            ))
        })
    }
}

#[cfg(feature = "redis")]
fn on_push(
    push: PushInfo,
    handlers: &Weak<RwLock<Handlers>>,
    stale: &AtomicBool,
    wake: &Notify,
    subscribed: &AtomicBool,
    seen: &std::sync::Mutex<Seen>,
) {
    match push.kind {
        // Sharded pub/sub (a cluster) delivers `smessage` pushes.
        PushKind::Message | PushKind::SMessage => {
            let mut data = push.data.into_iter();
            let (Some(chan), Some(msg)) = (data.next(), data.next()) else {
                return;
            };
            let (Ok(chan), Ok(msg)) = (
                redis::from_redis_value::<String>(chan),
                redis::from_redis_value::<Vec<u8>>(msg),
            ) else {
                tracing::warn!("redis adapter: a pub/sub message that is not (channel, bytes)");
                return;
            };
            // Responses carry the answering node's id and are never sent twice.
            if chan.contains("-request#")
                && !seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .first_time(&msg)
            {
                return;
            }
            let Some(handlers) = handlers.upgrade() else {
                return;
            };
            let tx = handlers
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&chan)
                .cloned();
            if let Some(tx) = tx {
                // The adapter reads this channel without pause; a full one means the node
                // is overloaded. Say so rather than lose the request quietly.
                if let Err(e) = tx.try_send((chan, msg)) {
                    tracing::error!(error = %e, "redis adapter: request from another node dropped");
                }
            }
        }
        PushKind::Disconnection => {
            subscribed.store(false, Ordering::Release);
            stale.store(true, Ordering::Release);
            wake.notify_one();
        }
        _ => {}
    }
}

#[cfg(feature = "redis")]
/// Keeps the subscriptions alive: subscribes every channel when the connection is new,
/// retries every [`RETRY`] while Redis is away, and PINGs a healthy connection.
async fn maintain(bus: Weak<RedisBus>) {
    loop {
        let (wake, stale) = {
            let Some(bus) = bus.upgrade() else { return };
            (bus.wake.clone(), bus.stale.load(Ordering::Acquire))
        };
        let pause = if stale { RETRY } else { HEALTH_CHECK };
        let _ = tokio::time::timeout(pause, wake.notified()).await;
        let Some(bus) = bus.upgrade() else { return };
        let Ok(mut conn) = bus.connection() else {
            continue;
        };
        // A bus with no channel (none yet, or closed) is no member of the node set.
        let (added, channels): (usize, Vec<String>) = {
            let handlers = lock(&bus.handlers);
            (
                bus.added.load(Ordering::Acquire),
                handlers.keys().cloned().collect(),
            )
        };
        if bus.stale.load(Ordering::Acquire) {
            let done = if channels.is_empty() {
                ping(&mut conn).await
            } else {
                let subscribed = tokio::time::timeout(IO_TIMEOUT, conn.subscribe(channels))
                    .await
                    .map_err(|_| BusError("no answer".into()))
                    .and_then(|r| r.map_err(BusError::from));
                match subscribed {
                    Ok(()) => {
                        // Before the heartbeat: its pruning must wait NODE_TTL from now,
                        // or it would drop the nodes that have not beaten since a restart.
                        *bus.subscribed_at.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(std::time::Instant::now());
                        heartbeat(&bus, &mut conn).await
                    }
                    Err(e) => Err(e),
                }
            };
            match done {
                Ok(()) => {
                    let handlers = lock(&bus.handlers);
                    // A channel added meanwhile is not in `channels`: its `subscribe` left
                    // the bus stale and a wake-up, so the next round subscribes it.
                    if bus.added.load(Ordering::Acquire) == added {
                        bus.stale.store(false, Ordering::Release);
                        bus.subscribed.store(true, Ordering::Release);
                        drop(handlers);
                        bus.subscribed_changed.notify_waiters();
                        tracing::debug!("redis adapter: subscribed");
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "redis adapter: subscribing failed; retrying")
                }
            }
        } else if let Err(e) = if channels.is_empty() {
            ping(&mut conn).await
        } else {
            heartbeat(&bus, &mut conn).await
        } {
            tracing::warn!(error = %e, "redis adapter: connection lost; resubscribing");
            bus.subscribed.store(false, Ordering::Release);
            bus.stale.store(true, Ordering::Release);
        }
    }
}

#[cfg(feature = "redis")]
/// Announces this node and reads how many are live.
async fn heartbeat(bus: &RedisBus, conn: &mut RedisConn) -> std::result::Result<(), BusError> {
    let now = crate::store::now_ms();
    let mut pipe = redis::pipe();
    pipe.cmd("ZADD")
        .arg(NODES_KEY)
        .arg(now)
        .arg(&bus.node)
        .ignore();
    if bus.may_drop_stale_nodes() {
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(NODES_KEY)
            .arg("-inf")
            .arg(now.saturating_sub(NODE_TTL.as_millis() as u64))
            .ignore();
    }
    pipe.cmd("ZCARD").arg(NODES_KEY);
    let beat = pipe.query_async::<(usize,)>(conn);
    match tokio::time::timeout(IO_TIMEOUT, beat).await {
        Ok(Ok((live,))) => {
            bus.nodes.store(live.max(1), Ordering::Release);
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(BusError("no answer to the heartbeat".into())),
    }
}

#[cfg(feature = "redis")]
async fn ping(conn: &mut RedisConn) -> std::result::Result<(), BusError> {
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<redis::Value>(conn);
    match tokio::time::timeout(IO_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(BusError("no answer to PING".into())),
    }
}

#[cfg(feature = "redis")]
impl Driver for Bus {
    type Error = BusError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> std::result::Result<(), BusError> {
        let Bus::Redis(bus) = self else {
            return Ok(());
        };
        // The request channel of every node ends with `#<namespace>#`; the others name
        // one node (`…#<uid>#`).
        let to_every_node = chan.matches('#').count() == 2;
        let expected = if to_every_node {
            bus.nodes.load(Ordering::Acquire)
        } else {
            1
        };
        let deadline = tokio::time::Instant::now() + DELIVERY_BOUND;
        let mut conn = bus.connection()?;
        let mut wait_for_subscribers = false;
        loop {
            let attempt = async {
                if wait_for_subscribers && subscribers(&mut conn, &chan).await? < expected {
                    return Ok(None);
                }
                let mut cmd = conn.publish_cmd();
                cmd.arg(&chan).arg(&val);
                let received: usize = cmd.query_async(&mut conn).await?;
                Ok::<_, BusError>(Some(received))
            };
            let outcome = match tokio::time::timeout(IO_TIMEOUT, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => Err(BusError("no answer to PUBLISH".into())),
            };
            let why = match outcome {
                Ok(Some(received)) if received >= expected => return Ok(()),
                Ok(Some(received)) => {
                    wait_for_subscribers = true;
                    format!("{received} of {expected} nodes were subscribed")
                }
                Ok(None) => format!("fewer than {expected} nodes are subscribed"),
                Err(e) => e.0,
            };
            if tokio::time::Instant::now() + DELIVERY_RETRY > deadline {
                return Err(BusError(format!(
                    "not delivered within {} ms: {why}",
                    DELIVERY_BOUND.as_millis()
                )));
            }
            tokio::time::sleep(DELIVERY_RETRY).await;
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> std::result::Result<MessageStream<ChanItem>, BusError> {
        let Bus::Redis(bus) = self else {
            return Ok(MessageStream::new_empty());
        };
        let (tx, rx) = mpsc::channel(size);
        {
            // Under the lock: the maintenance task marks the bus subscribed under it too,
            // so it cannot do so for a snapshot without this channel after this point.
            let mut handlers = lock(&bus.handlers);
            handlers.insert(chan, tx);
            bus.added.fetch_add(1, Ordering::AcqRel);
            bus.subscribed.store(false, Ordering::Release);
            bus.stale.store(true, Ordering::Release);
        }
        // Answer at once: the maintenance task subscribes it on the live connection.
        bus.connection()?;
        bus.wake.notify_one();
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> std::result::Result<(), BusError> {
        let Bus::Redis(bus) = self else {
            return Ok(());
        };
        let last = {
            let mut handlers = lock(&bus.handlers);
            handlers.remove(&chan);
            handlers.is_empty()
        };
        let mut conn = bus.connection()?;
        if last {
            // Leaving: the others stop waiting for this node at their next heartbeat.
            let mut cmd = redis::cmd("ZREM");
            cmd.arg(NODES_KEY).arg(&bus.node);
            let leave = cmd.query_async::<redis::Value>(&mut conn);
            if let Ok(Err(e)) | Err(e) = tokio::time::timeout(IO_TIMEOUT, leave)
                .await
                .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "timeout")))
            {
                tracing::debug!(error = %e, "redis adapter: could not leave the node set");
            }
        }
        match tokio::time::timeout(IO_TIMEOUT, conn.unsubscribe(chan)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(BusError("no answer to UNSUBSCRIBE".into())),
        }
    }

    async fn num_serv(&self, chan: &str) -> std::result::Result<u16, BusError> {
        let Bus::Redis(bus) = self else {
            return Ok(1);
        };
        let mut conn = bus.connection()?;
        match tokio::time::timeout(IO_TIMEOUT, subscribers(&mut conn, chan)).await {
            Ok(n) => Ok(u16::try_from(n?).unwrap_or(u16::MAX)),
            Err(_) => Err(BusError("no answer to PUBSUB NUMSUB".into())),
        }
    }
}

#[cfg(feature = "redis")]
/// How many clients are subscribed to `chan`.
async fn subscribers(conn: &mut RedisConn, chan: &str) -> std::result::Result<usize, BusError> {
    let reply: redis::Value = conn.numsub_cmd(chan).query_async(conn).await?;
    // RESP3 answers a map {chan: n}, RESP2 a flat [chan, n].
    let count = match reply {
        redis::Value::Map(pairs) => pairs.into_iter().next().map(|(_, n)| n),
        redis::Value::Array(items) => items.into_iter().nth(1),
        _ => None,
    };
    count
        .and_then(|n| redis::from_redis_value::<usize>(n).ok())
        .ok_or_else(|| BusError("unexpected PUBSUB NUMSUB reply".into()))
}

/// Without the `redis` cargo feature there is no Redis bus: this type has no values, so
/// [`Bus::Redis`] is never built. The builder refuses a `redis://` adapter URL with an
/// error naming the feature, and [`RedisBus::open`] does the same.
#[cfg(not(feature = "redis"))]
pub enum RedisBus {}

#[cfg(not(feature = "redis"))]
impl RedisBus {
    pub(crate) fn open(url: &str) -> Result<RedisBus> {
        Err(Error::Config(format!(
            "adapter URL {url:?} needs sessionio's \"redis\" cargo feature"
        )))
    }

    pub(crate) async fn ready(self: &Arc<Self>, _timeout: Duration) -> Result<()> {
        match **self {}
    }
}

/// The adapter's state for an engine: a local bus, or a Redis bus on `url`.
#[cfg(feature = "redis")]
pub(crate) fn constructor(url: Option<&str>, prefix: &str) -> Result<(Bus, RedisAdapterCtr<Bus>)> {
    let bus = match url {
        None => Bus::Local,
        Some(url) => Bus::Redis(Arc::new(RedisBus::open(url)?)),
    };
    let config = RedisAdapterConfig::new().with_prefix(prefix.to_owned());
    Ok((bus.clone(), RedisAdapterCtr::new_with_driver(bus, config)))
}

/// The adapter's state for an engine without the `redis` feature: the local bus (the
/// builder refuses a `redis://` adapter URL with an error naming the feature).
#[cfg(not(feature = "redis"))]
pub(crate) fn constructor(url: Option<&str>, _prefix: &str) -> Result<(Bus, ())> {
    let bus = match url {
        None => Bus::Local,
        Some(url) => Bus::Redis(Arc::new(RedisBus::open(url)?)),
    };
    Ok((bus, ()))
}

/// Runs the adapter's namespace initialisation. With [`Bus`] it never waits for the
/// network, so it completes on its first poll; it must run inside the runtime (the
/// adapter spawns its listener).
#[cfg(feature = "redis")]
pub(crate) fn init_namespace(mut init: InitRes<Bus>) {
    use futures_util::FutureExt as _;
    match (&mut init).now_or_never() {
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::error!(error = %e, "namespace could not be initialised"),
        None => {
            tokio::spawn(async move {
                if let Err(e) = init.await {
                    tracing::error!(error = %e, "namespace could not be initialised");
                }
            });
        }
    }
}

/// socketioxide's local adapter has nothing to initialise.
#[cfg(not(feature = "redis"))]
pub(crate) fn init_namespace(_init: ()) {}
