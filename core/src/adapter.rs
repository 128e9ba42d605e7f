//! Links the engines of several processes: socketioxide's Redis adapter
//! (`socketioxide-redis`) on a pub/sub driver of our own.
//!
//! Every engine uses the same adapter type, so that the rest of the core is written once:
//! on one node the driver is [`Bus::Local`] (nothing published, and the core broadcasts
//! with socketioxide's `local` flag so nothing is even encoded); with a Redis it is
//! [`Bus::Redis`].
//!
//! Why not the adapter's own `RedisDriver`: it connects while the engine is built (an
//! engine must build without a runtime and without Redis), its connection does not come
//! back after Redis restarts, and its subscriptions are lost with it. This driver makes
//! one RESP3 connection (a reconnecting `ConnectionManager`) on first use, answers
//! `subscribe` at once (the adapter's namespace init never waits for Redis), and a
//! maintenance task (re)subscribes every channel whenever the connection is new: after
//! start, and within [`RETRY`] of Redis coming back after a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, PushInfo, PushKind};
use socketioxide::adapter::Emitter;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use socketioxide_redis::{CustomRedisAdapter, InitRes, RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::{mpsc, Notify};

use crate::{Error, Result};

/// The adapter of every engine: socketioxide-redis over [`Bus`].
pub type Adapter = CustomRedisAdapter<Emitter, Bus>;

/// Bound on one publish or subscribe round trip.
const IO_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Pause between (re)subscription attempts while Redis is unreachable.
const RETRY: Duration = Duration::from_millis(200);
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
#[derive(Debug, thiserror::Error)]
#[error("redis adapter: {0}")]
pub struct BusError(String);

impl From<redis::RedisError> for BusError {
    fn from(e: redis::RedisError) -> Self {
        BusError(e.to_string())
    }
}

type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

/// The Redis side of [`Bus`].
pub struct RedisBus {
    client: Client,
    manager: OnceLock<ConnectionManager>,
    /// Every channel the adapter subscribed, and where its messages go.
    handlers: Arc<RwLock<Handlers>>,
    /// Set when the connection is new (or lost): the channels must be subscribed again.
    stale: Arc<AtomicBool>,
    wake: Arc<Notify>,
    /// Set once every channel is subscribed on a live connection.
    subscribed: Arc<AtomicBool>,
    subscribed_changed: Arc<Notify>,
    maintenance: std::sync::Once,
}

fn lock<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl RedisBus {
    /// A bus on the Redis of `url` (`redis://…`; RESP3 is asked for, Redis ≥ 7). Nothing
    /// is connected here.
    pub(crate) fn open(url: &str) -> Result<RedisBus> {
        let info: redis::ConnectionInfo = url
            .parse()
            .map_err(|e| Error::Config(format!("adapter URL {url:?}: {e}")))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client =
            Client::open(info).map_err(|e| Error::Config(format!("adapter URL {url:?}: {e}")))?;
        Ok(RedisBus {
            client,
            manager: OnceLock::new(),
            handlers: Default::default(),
            stale: Arc::new(AtomicBool::new(true)),
            wake: Default::default(),
            subscribed: Default::default(),
            subscribed_changed: Default::default(),
            maintenance: std::sync::Once::new(),
        })
    }

    /// The connection manager (inside the runtime), and the maintenance task with it.
    fn connection(self: &Arc<Self>) -> std::result::Result<ConnectionManager, BusError> {
        if let Some(m) = self.manager.get() {
            return Ok(m.clone());
        }
        let handlers = Arc::downgrade(&self.handlers);
        let (stale, wake) = (self.stale.clone(), self.wake.clone());
        let subscribed = self.subscribed.clone();
        let on_push = move |push: PushInfo| {
            on_push(push, &handlers, &stale, &wake, &subscribed);
            Ok::<(), std::convert::Infallible>(())
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(IO_TIMEOUT))
            .set_response_timeout(Some(IO_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(RETRY)
            .set_push_sender(on_push);
        let made = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        let manager = self.manager.get_or_init(|| made).clone();
        self.maintenance.call_once(|| {
            tokio::spawn(maintain(Arc::downgrade(self)));
        });
        Ok(manager)
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

fn on_push(
    push: PushInfo,
    handlers: &Weak<RwLock<Handlers>>,
    stale: &AtomicBool,
    wake: &Notify,
    subscribed: &AtomicBool,
) {
    match push.kind {
        PushKind::Message => {
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
        if bus.stale.load(Ordering::Acquire) {
            let channels: Vec<String> = lock(&bus.handlers).keys().cloned().collect();
            let done = if channels.is_empty() {
                ping(&mut conn).await
            } else {
                tokio::time::timeout(IO_TIMEOUT, conn.subscribe(channels))
                    .await
                    .map_err(|_| BusError("no answer".into()))
                    .and_then(|r| r.map_err(BusError::from))
            };
            match done {
                Ok(()) => {
                    bus.stale.store(false, Ordering::Release);
                    bus.subscribed.store(true, Ordering::Release);
                    bus.subscribed_changed.notify_waiters();
                    tracing::debug!("redis adapter: subscribed");
                }
                Err(e) => {
                    tracing::debug!(error = %e, "redis adapter: subscribing failed; retrying")
                }
            }
        } else if let Err(e) = ping(&mut conn).await {
            tracing::warn!(error = %e, "redis adapter: connection lost; resubscribing");
            bus.subscribed.store(false, Ordering::Release);
            bus.stale.store(true, Ordering::Release);
        }
    }
}

async fn ping(conn: &mut ConnectionManager) -> std::result::Result<(), BusError> {
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<redis::Value>(conn);
    match tokio::time::timeout(IO_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(BusError("no answer to PING".into())),
    }
}

impl Driver for Bus {
    type Error = BusError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> std::result::Result<(), BusError> {
        let Bus::Redis(bus) = self else {
            return Ok(());
        };
        let mut conn = bus.connection()?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(chan).arg(val);
        let publish = cmd.query_async::<redis::Value>(&mut conn);
        match tokio::time::timeout(IO_TIMEOUT, publish).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(BusError("no answer to PUBLISH".into())),
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
        lock(&bus.handlers).insert(chan, tx);
        // Answer at once: the maintenance task subscribes it on the live connection.
        bus.connection()?;
        bus.subscribed.store(false, Ordering::Release);
        bus.stale.store(true, Ordering::Release);
        bus.wake.notify_one();
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> std::result::Result<(), BusError> {
        let Bus::Redis(bus) = self else {
            return Ok(());
        };
        lock(&bus.handlers).remove(&chan);
        let mut conn = bus.connection()?;
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
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(chan);
        let query = cmd.query_async::<redis::Value>(&mut conn);
        let reply = match tokio::time::timeout(IO_TIMEOUT, query).await {
            Ok(r) => r?,
            Err(_) => return Err(BusError("no answer to PUBSUB NUMSUB".into())),
        };
        // RESP3 answers a map {chan: n}, RESP2 a flat [chan, n].
        let count = match reply {
            redis::Value::Map(pairs) => pairs.into_iter().next().map(|(_, n)| n),
            redis::Value::Array(items) => items.into_iter().nth(1),
            _ => None,
        };
        count
            .and_then(|n| redis::from_redis_value::<u16>(n).ok())
            .ok_or_else(|| BusError("unexpected PUBSUB NUMSUB reply".into()))
    }
}

/// The adapter's state for an engine: a local bus, or a Redis bus on `url`.
pub(crate) fn constructor(url: Option<&str>, prefix: &str) -> Result<(Bus, RedisAdapterCtr<Bus>)> {
    let bus = match url {
        None => Bus::Local,
        Some(url) => Bus::Redis(Arc::new(RedisBus::open(url)?)),
    };
    let config = RedisAdapterConfig::new().with_prefix(prefix.to_owned());
    Ok((bus.clone(), RedisAdapterCtr::new_with_driver(bus, config)))
}

/// Runs the adapter's namespace initialisation. With [`Bus`] it never waits for the
/// network, so it completes on its first poll; it must run inside the runtime (the
/// adapter spawns its listener).
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
