//! # sessionio
//!
//! An embeddable session-realtime core: a Socket.IO server (socketioxide) that shares the
//! web app's sessions. Every socket is authenticated at the handshake from the session
//! cookie (or a signed `auth.token`), joins its session's room, gets a live session
//! handle in its event handlers, and is told and disconnected when its session expires.
//! The host pushes to every tab of a session with [`SessionIo::notify_session`] and logs
//! a session out everywhere with [`SessionIo::destroy_session`].
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use sessionio::{Session, SessionIo};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SessionIo::builder()
//!     .secret(std::env::var("SESSION_SECRET")?)
//!     .allowed_origins(["https://app.example.com"])
//!     .build()?;
//! io.on("incr", |ctx| async move {
//!     let session = ctx.require_session()?;
//!     let n = session.increment("count", 1).await?;
//!     session.notify("current count", n).await?;
//!     Ok(n)
//! });
//! let app = Router::new()
//!     .route("/incr", post(|session: Session| async move {
//!         let n = session.increment("count", 1).await?;
//!         session.notify("current count", n).await?;
//!         Ok::<_, sessionio::http::HttpError>(n.to_string())
//!     }))
//!     .layer(io.layer());
//! let listener = sessionio::http::bind("127.0.0.1:3000".parse()?).await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```

mod adapter;
mod config;
pub mod conn;
pub mod cookie;
mod delivery;
mod error;
pub mod express;
pub mod http;
mod metrics;
mod presence;
// Without the `redis` feature the adapter is socketioxide's local one, whose namespace
// initialisation is `()`; realtime hands it to `adapter::init_namespace` all the same.
#[cfg_attr(not(feature = "redis"), allow(clippy::unit_arg))]
mod realtime;
mod session;
pub mod store;

use std::sync::{Arc, Once};
use std::time::Duration;

use serde::Serialize;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{BroadcastError, SocketIo};

pub use adapter::Adapter;
pub use config::{Builder, Config, Origins, Transport, MIN_SECRET_LEN};
pub use cookie::SameSite;
pub use error::{Error, Refusal, Result};
pub use realtime::{EventContext, HandlerError, Handshake, IntoReply, Reply, SocketHandle};
pub use rmpv::Value;
pub use session::Session;
/// A session id: tower-sessions' 128-bit random id, 22 base64url characters.
pub use tower_sessions_core::session::Id as SessionId;

use cookie::Signer;
use presence::Presence;
use realtime::Handlers;
use store::{now_ms, Record, SessionStore};

/// The engine: cheap to clone, `Send + Sync`; every clone is the same server.
#[derive(Clone)]
pub struct SessionIo(Arc<Core>);

pub(crate) struct Core {
    pub(crate) config: config::Config,
    pub(crate) signer: Signer,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) io: SocketIo<Adapter>,
    pub(crate) sio_layer: SocketIoLayer<Adapter>,
    /// How the engine reaches the other processes (if any).
    pub(crate) bus: adapter::Bus,
    /// With other processes linked: a room every session socket of this node joins, so
    /// that a broadcast can skip this node's sockets (they are reached one by one, see
    /// [`delivery`]).
    pub(crate) node_room: Option<String>,
    pub(crate) presence: Presence,
    pub(crate) handlers: std::sync::RwLock<Handlers>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    background: Once,
}

impl std::fmt::Debug for SessionIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionIo")
            .field("config", &self.0.config)
            .finish()
    }
}

/// What an HTTP request's cookie resolved to; see [`SessionIo::http_session`].
#[derive(Debug, Clone)]
pub struct HttpSession {
    /// The request's session.
    pub session: Session,
    /// A `Set-Cookie` header value to send, when the session was created for this request.
    pub set_cookie: Option<String>,
}

impl SessionIo {
    /// Starts configuring an engine.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn from_config(config: config::Config) -> Result<Self> {
        let t = &config.transport;
        let (bus, adapter) = adapter::constructor(config.adapter_url.as_deref(), "sessionio")?;
        let (sio_layer, io) = SocketIo::builder()
            .req_path(t.path.clone())
            .ping_interval(t.ping_interval)
            .ping_timeout(t.ping_timeout)
            .max_payload(t.max_payload)
            // max_payload bounds polling bodies only; websocket messages have their own
            // limit (64 MiB by default): hold them to the same one.
            .ws_max_message_size(usize::try_from(t.max_payload).unwrap_or(usize::MAX))
            .connect_timeout(t.connect_timeout)
            .max_buffer_size(t.max_buffer_size)
            .ws_read_buffer_size(t.ws_read_buffer_size)
            .with_adapter::<Adapter>(adapter)
            .build_layer();
        let metrics = Arc::new(metrics::Metrics::default());
        let core = Arc::new(Core {
            signer: Signer::new(&config.secrets),
            store: Arc::new(metrics::TimedStore {
                inner: config.store.clone(),
                metrics: metrics.clone(),
            }),
            metrics,
            config,
            io,
            sio_layer,
            node_room: matches!(bus, adapter::Bus::Redis(_))
                .then(|| format!("sessionio:node:{}", SessionId::default())),
            bus,
            presence: Presence::default(),
            handlers: Default::default(),
            background: Once::new(),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            core.start_background();
        }
        Ok(SessionIo(core))
    }

    /// Waits until the engine can serve: its namespaces registered and, with the Redis
    /// adapter, its channels subscribed on Redis (at most 5 s, then
    /// [`Error::StoreUnavailable`]). Call it inside the runtime before accepting traffic
    /// so that notifications from other processes are not missed at start;
    /// [`serve`](Self::serve) calls it. Later Redis outages are survived without it.
    pub async fn ready(&self) -> Result<()> {
        self.0.start_background();
        if let adapter::Bus::Redis(bus) = &self.0.bus {
            bus.ready(Duration::from_secs(5)).await?;
        }
        Ok(())
    }

    /// The cookie and token codec of this engine (its secrets): what the handshake and
    /// the HTTP middlewares verify with.
    pub fn signer(&self) -> &cookie::Signer {
        &self.0.signer
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The underlying socketioxide handle, for what sessionio does not wrap. Its
    /// broadcasts reach every process linked by the Redis adapter (see
    /// [`Builder::adapter_url`]); add `.local()` for this process only.
    pub fn socket_io(&self) -> &SocketIo<Adapter> {
        &self.0.io
    }

    /// Emits `event` with `data` (one argument) to every socket of the session, on every
    /// namespace; returns how many sockets it reached. An unknown session reaches 0.
    pub async fn notify_session(
        &self,
        id: SessionId,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<usize> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("sessionio.notify_session", session = %id, event);
        self.0
            .notify_session(id, event, data)
            .instrument(span)
            .await
    }

    /// Deletes the session and disconnects every socket of it (server-side: clients do
    /// not reconnect by themselves); returns how many sockets were disconnected. Later
    /// handshakes and HTTP requests with its cookie are refused with `invalid session`.
    pub async fn destroy_session(&self, id: SessionId) -> Result<usize> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("sessionio.destroy_session", session = %id);
        self.0.destroy_session(id).instrument(span).await
    }

    /// The engine's id for a session id as the host knows it: a sessionio id, or in
    /// express-session mode ([`Builder::express_session`]) express-session's
    /// `req.session.id`. Bindings take ids as strings through this.
    ///
    /// ```
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let id = sessionio::SessionId::default();
    /// assert_eq!(io.resolve_id(&id.to_string()).unwrap(), id);
    /// assert!(io.resolve_id("nope").is_err());
    /// ```
    pub fn resolve_id(&self, id: &str) -> Result<SessionId> {
        match &self.0.config.express {
            Some(express) => express.resolve(id),
            None => id.parse().map_err(|_| Error::InvalidSessionId),
        }
    }

    /// The id of `id` as the host knows it: the inverse of [`resolve_id`](Self::resolve_id).
    pub fn host_id(&self, id: SessionId) -> String {
        self.0.host_id(id)
    }

    /// A signed token for clients that cannot send cookies: they connect with
    /// `auth: { token }`. It names the session and expires after `ttl`; it does not keep
    /// the session alive, and a destroyed session's tokens stop working.
    pub fn issue_token(&self, id: SessionId, ttl: Duration) -> Result<String> {
        if ttl.is_zero() {
            return Err(Error::InvalidValue("token ttl must be positive".into()));
        }
        let exp = now_ms().saturating_add(ttl.as_millis().min(u64::MAX as u128) as u64);
        Ok(self.0.signer.sign_token(&id, exp))
    }

    /// Creates an empty session.
    pub async fn create_session(&self) -> Result<Session> {
        let id = self
            .0
            .insert_new_session(Default::default(), now_ms() + self.0.ttl_ms())
            .await?;
        Ok(Session::new(id, self.0.clone(), true, None))
    }

    /// A handle on an existing, live session. Writes through it do not count as activity.
    pub async fn session(&self, id: SessionId) -> Result<Session> {
        match self.0.store.load(id).await? {
            None => Err(Error::SessionNotFound),
            Some(r) if r.is_expired(now_ms()) => Err(Error::SessionExpired),
            Some(_) => Ok(Session::new(id, self.0.clone(), false, None)),
        }
    }

    /// Parses a session id from its text form.
    pub fn parse_session_id(text: &str) -> Result<SessionId> {
        let id: SessionId = text.parse().map_err(|_| Error::InvalidSessionId)?;
        if id.to_string() != text {
            return Err(Error::InvalidSessionId);
        }
        Ok(id)
    }

    /// The session of an HTTP request, from its `Cookie` header: the cookie's live session
    /// (its expiry is extended: this is activity), or a new session with the
    /// `Set-Cookie` to send when there is no cookie. A cookie that is forged or names a
    /// destroyed session is refused — never silently replaced by a new session — and the
    /// response should then carry [`clear_cookie`](Self::clear_cookie). This is what
    /// every host middleware (axum, Express, ASGI, WSGI) calls. After the handler ran,
    /// [`Session::cookie_change`] tells the response's `Set-Cookie` if it regenerated or
    /// destroyed the session.
    pub async fn http_session(
        &self,
        cookie_header: Option<&str>,
    ) -> std::result::Result<HttpSession, Refusal> {
        let slot = Arc::new(http::CookieSlot::default());
        self.0.http_session(cookie_header, Some(slot)).await
    }

    /// What an HTTP request's `Cookie` header says, without creating or extending
    /// anything: `None` without a session cookie, the session of a valid cookie, or the
    /// refusal (forged, unknown or destroyed: `invalid session`; expired). In
    /// express-session mode this guards the routes before express-session's middleware,
    /// which would otherwise replace a refused cookie by a new session silently.
    pub async fn check_cookie(
        &self,
        cookie_header: Option<&str>,
    ) -> std::result::Result<Option<SessionId>, Refusal> {
        self.0.start_background();
        let id = match self.0.cookie_credential(cookie_header) {
            CookieCredential::Absent => return Ok(None),
            CookieCredential::Invalid => return Err(Refusal::InvalidSession),
            CookieCredential::Valid(id) => id,
        };
        if self.0.presence.is_tombstoned(id) {
            return Err(Refusal::InvalidSession);
        }
        self.0.live_record(id).await.map(|_| Some(id))
    }

    /// The `Set-Cookie` value that stores a session's cookie.
    pub fn set_cookie(&self, id: SessionId) -> String {
        self.0
            .config
            .cookie
            .set_cookie(&self.0.signer.sign_cookie(&id))
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        self.0.config.cookie.clear_cookie()
    }

    /// Counters for monitoring and leak tests.
    pub fn stats(&self) -> Stats {
        Stats {
            sockets: (self.0.config.transport.namespaces.iter())
                .filter_map(|ns| self.0.io.of(ns))
                .map(|op| op.local().sockets().len())
                .sum(),
            sessions_with_sockets: self.0.presence.sessions(),
            rooms: (self.0.config.transport.namespaces.iter())
                .filter_map(|ns| self.0.io.of(ns))
                // Local rooms are answered without waiting.
                .filter_map(|op| futures_util::FutureExt::now_or_never(op.local().rooms()))
                .map(|rooms| rooms.map_or(0, |r| r.len()))
                .sum(),
        }
    }

    /// Every counter in the Prometheus text format (version 0.0.4), for a `/metrics`
    /// route: sockets and sessions connected, handshakes accepted and refused by reason,
    /// notifications sent, expiries, destroys, and a histogram of store latency.
    ///
    /// ```
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let text = io.metrics_text();
    /// assert!(text.contains("sessionio_handshakes_refused_total{reason=\"invalid session\"} 0"));
    /// ```
    pub fn metrics_text(&self) -> String {
        self.0.metrics.render(&self.stats())
    }

    /// Disconnects every socket and stops the Socket.IO server.
    pub async fn close(&self) {
        self.0.io.close().await;
    }
}

/// Live counters; see [`SessionIo::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Sockets connected to this process, on every namespace.
    pub sockets: usize,
    /// Sessions that have at least one socket here (= running expiry timers).
    pub sessions_with_sockets: usize,
    /// Rooms with at least one socket of this process, on every namespace (each session
    /// with sockets is one; rooms joined by handlers add to it).
    pub rooms: usize,
}

impl Core {
    /// The record of a live session, or why a handshake or request naming it is refused.
    pub(crate) async fn live_record(&self, id: SessionId) -> std::result::Result<Record, Refusal> {
        match self.store.load(id).await {
            Ok(Some(r)) if r.is_expired(now_ms()) => Err(Refusal::SessionExpired),
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(Refusal::InvalidSession),
            Err(_) => Err(Refusal::StoreUnavailable),
        }
    }

    pub(crate) fn host_id(&self, id: SessionId) -> String {
        match self.config.express.as_ref().and_then(|x| x.sid_of(id)) {
            Some(sid) => sid.to_string(),
            None => id.to_string(),
        }
    }

    pub(crate) fn ttl_ms(&self) -> u64 {
        self.config.ttl.as_millis().min(u64::MAX as u128) as u64
    }

    /// Registers the namespaces (the adapter's init runs inside the runtime) and starts the
    /// sweeper: on build when a runtime is current, else on the first request or call.
    pub(crate) fn start_background(self: &Arc<Self>) {
        self.background.call_once(|| {
            realtime::install(self);
            let core = Arc::downgrade(self);
            // Sweep expired records. Those expired less than a minute ago are kept so
            // their cookies are told `session expired` rather than `invalid session`.
            let period = self
                .config
                .ttl
                .clamp(Duration::from_secs(1), Duration::from_secs(60));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    let Some(core) = core.upgrade() else { return };
                    let before = now_ms().saturating_sub(60_000);
                    if let Err(e) = core.store.delete_expired(before).await {
                        tracing::warn!(error = %e, "sweeping expired sessions failed");
                    }
                    if let Some(express) = &core.config.express {
                        express.forget_unused(|id| core.presence.count(id) > 0);
                    }
                }
            });
        });
    }

    pub(crate) async fn insert_new_session(
        &self,
        data: store::Data,
        expires_at: u64,
    ) -> Result<SessionId> {
        // A collision of 128-bit random ids is astronomically unlikely; retry anyway
        // rather than overwrite.
        for _ in 0..4 {
            let id = SessionId::default();
            let record = Record {
                id,
                data: data.clone(),
                expires_at,
                version: 0,
            };
            if self.store.create(record).await? {
                return Ok(id);
            }
        }
        Err(Error::StoreUnavailable(
            "could not allocate a session id".into(),
        ))
    }

    pub(crate) async fn notify_session(
        &self,
        id: SessionId,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<usize> {
        let reached = self.presence.count(id);
        let linked = self.is_linked();
        if reached == 0 && !linked {
            return Ok(0);
        }
        let room = id.to_string();
        let (mut sent, mut dropped) = (0, 0);
        let mut unlinked = None;
        for ns in &self.config.transport.namespaces {
            let Some(op) = self.io.of(ns) else { continue };
            if let Some(node_room) = &self.node_room {
                // The other nodes, in one adapter broadcast that skips this node's sockets.
                // Their own full queues are their heartbeat's to close: socketioxide's
                // adapter does not report them back.
                let others = op.clone().to(room.clone()).except(node_room.clone());
                if let Err(e) = others.emit(event, data).await {
                    match e {
                        BroadcastError::Adapter(e) => unlinked = Some(e),
                        e => tracing::debug!(error = %e, "notify_session: broadcast failed"),
                    }
                }
            }
            // This node's sockets one by one, each with back-pressure (see `delivery`).
            let sockets = op.local().to(room.clone()).sockets();
            let (here_sent, here_dropped) = delivery::deliver_all(&sockets, event, data).await;
            sent += here_sent;
            dropped += here_dropped;
        }
        if dropped > 0 {
            tracing::warn!(session = %id, dropped, "notify_session: sockets that fell behind were not reached");
        }
        self.metrics.notified(sent, dropped);
        match unlinked {
            None => Ok(sent),
            Some(e) => {
                tracing::warn!(error = %e, "notify_session: other nodes were not reached");
                Err(Error::StoreUnavailable(format!(
                    "{e}; the other nodes were not reached ({sent} sockets on this node were)"
                )))
            }
        }
    }

    /// Whether other processes are linked through the Redis adapter.
    fn is_linked(&self) -> bool {
        matches!(self.bus, adapter::Bus::Redis(_))
    }

    pub(crate) async fn destroy_session(&self, id: SessionId) -> Result<usize> {
        self.presence.tombstone(id);
        self.store.delete(id).await?;
        let kicked = self.kick(id, None, Reach::AllNodes).await;
        self.metrics.destroyed(kicked);
        Ok(kicked)
    }

    /// Disconnects every socket of `id` (here, or on every node), first emitting `event`
    /// to them if given; returns how many were here. Only
    /// [`destroy_session`](Self::destroy_session) tombstones the id: an expired session's
    /// record stays readable so its cookie is told `session expired`.
    pub(crate) async fn kick(&self, id: SessionId, event: Option<&str>, reach: Reach) -> usize {
        let n = self.presence.count(id);
        let room = id.to_string();
        let everywhere = reach == Reach::AllNodes && self.is_linked();
        for ns in &self.config.transport.namespaces {
            let Some(op) = self.io.of(ns) else { continue };
            let op = if everywhere { op } else { op.local() };
            if let Some(event) = event {
                if let Err(e) = op.clone().to(room.clone()).emit(event, &()).await {
                    tracing::debug!(error = %e, "kick: emit failed");
                }
            }
            if let Err(e) = op.clone().to(room.clone()).disconnect().await {
                if matches!(e, socketioxide::BroadcastError::Adapter(_)) {
                    tracing::warn!(error = %e, "kick: other nodes were not reached");
                    let _ = op.local().to(room.clone()).disconnect().await;
                } else {
                    tracing::debug!(error = %e, "kick: disconnect failed");
                }
            }
        }
        n
    }

    pub(crate) async fn http_session(
        self: &Arc<Self>,
        cookie_header: Option<&str>,
        slot: Option<Arc<http::CookieSlot>>,
    ) -> std::result::Result<HttpSession, Refusal> {
        self.start_background();
        let now = now_ms();
        match self.cookie_credential(cookie_header) {
            // express-session makes the sessions in that mode, not sessionio.
            CookieCredential::Absent if self.config.express.is_some() => {
                Err(Refusal::SessionRequired)
            }
            CookieCredential::Absent => {
                let id = self
                    .insert_new_session(Default::default(), now + self.ttl_ms())
                    .await
                    .map_err(|_| Refusal::StoreUnavailable)?;
                Ok(HttpSession {
                    session: Session::new(id, self.clone(), true, slot),
                    set_cookie: Some(self.config.cookie.set_cookie(&self.signer.sign_cookie(&id))),
                })
            }
            CookieCredential::Invalid => Err(Refusal::InvalidSession),
            CookieCredential::Valid(id) => {
                if self.presence.is_tombstoned(id) {
                    return Err(Refusal::InvalidSession);
                }
                match self.store.touch(id, now + self.ttl_ms(), now).await {
                    Ok(store::Touch::Extended) => Ok(HttpSession {
                        session: Session::new(id, self.clone(), true, slot),
                        set_cookie: None,
                    }),
                    Ok(store::Touch::Expired) => Err(Refusal::SessionExpired),
                    Ok(store::Touch::Missing) => Err(Refusal::InvalidSession),
                    Err(_) => Err(Refusal::StoreUnavailable),
                }
            }
        }
    }

    /// The first validly signed session cookie in a `Cookie` header.
    pub(crate) fn cookie_credential(&self, header: Option<&str>) -> CookieCredential {
        let Some(header) = header else {
            return CookieCredential::Absent;
        };
        let mut seen = false;
        for value in cookie::cookie_values(header, &self.config.cookie.name) {
            seen = true;
            let id = match &self.config.express {
                None => self.signer.verify_cookie(value),
                Some(express) => express
                    .signer
                    .verify_cookie(value)
                    .and_then(|sid| express.resolve(&sid).ok()),
            };
            if let Some(id) = id {
                return CookieCredential::Valid(id);
            }
        }
        if seen {
            CookieCredential::Invalid
        } else {
            CookieCredential::Absent
        }
    }
}

/// Which sockets a kick reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// This process's (each node's expiry timer kicks its own sockets).
    ThisNode,
    /// Every linked process's (a destroyed session is gone everywhere).
    AllNodes,
}

pub(crate) enum CookieCredential {
    Absent,
    Invalid,
    Valid(SessionId),
}
