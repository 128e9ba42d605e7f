//! The hub of an engine: its state ([`Core`]) and what reaches sockets — the notify
//! fan-out, the destroy that disconnects a session everywhere, the kick an expiry timer
//! runs — and the public handle [`SessionIo`] with the calls that need nothing more.
//!
//! Every other engine module builds on this one and none is imported here, so the modules
//! never import each other in a circle: the modules above add their own methods to
//! [`SessionIo`] in their files (sessions in `session`, admission in `admission`, socket
//! handlers in `handler`, HTTP in `http`), the host's socket callbacks are kept here
//! type-erased ([`Callbacks`]), and the background work is started through the hook that
//! `startup` sets when the engine is built ([`Core::start_background`]).

use std::collections::HashMap;
use std::sync::{Arc, Once, RwLock};
use std::time::Duration;

use serde::Serialize;
use socketioxide::{BroadcastError, SocketIo};

use crate::ack::{HandlerError, Reply};
use crate::adapter::{Adapter, Bus, SocketRef};
use crate::config::{Builder, Config};
use crate::cookie::Signer;
use crate::delivery;
use crate::error::{Error, Refusal, Result};
use crate::metrics::{Metrics, Stats};
use crate::pending_handshakes::PendingHandshakes;
use crate::presence::Presence;
use crate::rooms;
use crate::socket_state::session_id_of;
use crate::store::{now_ms, BoxFuture, Data, Login, Record, SessionStore, Touch};
use crate::{SessionId, Value};

/// The engine: cheap to clone, `Send + Sync`; every clone is the same server.
///
/// Its methods are documented together, but live with what they are about: this module
/// has the fan-out (`notify_session`, `destroy_session`) and the engine's state; sessions,
/// socket handlers, admission and HTTP add theirs in their own modules.
#[derive(Clone)]
pub struct SessionIo(pub(crate) Arc<Core>);

/// The state of one engine, shared by every handle on it.
pub(crate) struct Core {
    pub(crate) config: Config,
    pub(crate) signer: Signer,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) io: SocketIo<Adapter>,
    /// The one Engine.IO service of every layer and listener of this engine.
    pub(crate) engine: crate::engine_io::EngineService,
    /// How the engine reaches the other processes (if any).
    pub(crate) bus: Bus,
    /// With other processes linked: this node's tag. Each socket joins, beside each of
    /// its rooms, that room's share on this node ([`rooms::node_share`]), so that a
    /// broadcast can skip this node's sockets (they are reached one by one, see
    /// [`delivery`]).
    pub(crate) node_tag: Option<String>,
    pub(crate) presence: Arc<Presence>,
    /// Engine.IO sessions that have not connected to a namespace yet (bounded).
    pub(crate) pending: Arc<PendingHandshakes>,
    /// One of several workers on one port ([`Builder::workers`](crate::Builder::workers)):
    /// its private port, where the others pass requests of its polling sessions.
    pub(crate) workers: Option<crate::workers::Workers>,
    pub(crate) callbacks: RwLock<Callbacks>,
    pub(crate) metrics: Arc<Metrics>,
    /// Runs [`on_start`](Self::on_start) once.
    pub(crate) started: Once,
    /// Registers the namespaces and starts the sweeper (`startup` sets it): called on
    /// build when a runtime is current, else on the first request or call.
    pub(crate) on_start: fn(&Arc<Core>),
}

/// One incoming socket event, as the engine hands it to a registered callback.
#[derive(Clone)]
pub(crate) struct RawEvent {
    pub(crate) core: Arc<Core>,
    pub(crate) socket: SocketRef,
    pub(crate) event: Arc<str>,
    pub(crate) args: Arc<[Value]>,
}

/// A registered event handler or middleware, over the engine's own types (`handler`
/// wraps the host's closures of its public context types into these).
pub(crate) type EventFn<T> =
    Arc<dyn Fn(RawEvent) -> BoxFuture<'static, std::result::Result<T, HandlerError>> + Send + Sync>;

/// A registered on-connection callback.
pub(crate) type ConnectionFn =
    Arc<dyn Fn(Arc<Core>, SocketRef) -> BoxFuture<'static, ()> + Send + Sync>;

/// The host's socket callbacks.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) events: HashMap<String, EventFn<Reply>>,
    pub(crate) middlewares: Vec<EventFn<()>>,
    pub(crate) on_connection: Vec<ConnectionFn>,
}

/// Why a session id does not name a live session: the one mapping every caller uses,
/// to a [`Refusal`] for clients and to an [`Error`] for the host.
#[derive(Debug)]
pub(crate) enum NotLive {
    /// No such record (never created, destroyed, regenerated).
    Missing,
    /// The record is past its expiry instant.
    Expired,
    /// The store could not be read.
    Unavailable(Error),
}

impl From<NotLive> for Refusal {
    fn from(n: NotLive) -> Self {
        match n {
            NotLive::Missing => Refusal::InvalidSession,
            NotLive::Expired => Refusal::SessionExpired,
            NotLive::Unavailable(_) => Refusal::StoreUnavailable,
        }
    }
}

impl From<NotLive> for Error {
    fn from(n: NotLive) -> Self {
        match n {
            NotLive::Missing => Error::SessionNotFound,
            NotLive::Expired => Error::SessionExpired,
            NotLive::Unavailable(e) => e,
        }
    }
}

/// How far an access moves a session's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extension {
    /// Not at all: the host's own reads and writes, and socket events when
    /// `extend_on_socket_activity` is off.
    None,
    /// To `ttl` from now: activity (HTTP requests, socket events).
    Ttl,
    /// To `ttl` from now only if that ends by this instant (unix ms), else not at all:
    /// the activity of a token-admitted socket, which must not keep the session alive
    /// beyond its token. Not capped at the instant instead: a store may extend by a
    /// lifetime of its own (express-session's `maxAge`), never to a given instant.
    TtlUntil(u64),
}

impl From<bool> for Extension {
    fn from(extends: bool) -> Self {
        if extends {
            Extension::Ttl
        } else {
            Extension::None
        }
    }
}

impl Extension {
    /// The same extension, made only if it ends by `limit` (unix ms); no extension stays
    /// none.
    pub(crate) fn until(self, limit: Option<u64>) -> Self {
        match (self, limit) {
            (Extension::None, _) | (_, None) => self,
            (Extension::Ttl, Some(limit)) => Extension::TtlUntil(limit),
            (Extension::TtlUntil(own), Some(limit)) => Extension::TtlUntil(own.min(limit)),
        }
    }

    /// The expiry instant an access at `now` moves the session to (never backwards from
    /// its current one: the caller keeps the later of the two), `None` when it does not.
    pub(crate) fn target(self, now: u64, ttl_ms: u64) -> Option<u64> {
        let full = now.saturating_add(ttl_ms);
        match self {
            Extension::None => None,
            Extension::Ttl => Some(full),
            Extension::TtlUntil(limit) => (full <= limit).then_some(full),
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

pub(crate) fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for SessionIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionIo")
            .field("config", &self.0.config)
            .finish()
    }
}

impl SessionIo {
    /// Starts configuring an engine.
    pub fn builder() -> Builder {
        Builder::default()
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

    /// Disconnects every socket of session `id`, on every node, if the store no longer
    /// has it: for a host whose own session system deletes sessions without the engine
    /// (express-session's `req.session.regenerate()` and `destroy()` call its store
    /// directly). Then as after [`destroy_session`](Self::destroy_session): the cookie is
    /// refused. While the session is live (or expired: its expiry timer tells its
    /// sockets), nothing is done. Returns how many sockets were disconnected here.
    pub async fn disconnect_if_gone(&self, id: SessionId) -> Result<usize> {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("sessionio.disconnect_if_gone", session = %id);
        self.0.disconnect_if_gone(id).instrument(span).await
    }

    /// A signed token for clients that cannot send cookies: they connect with
    /// `auth: { token }`. It names the session and expires after `ttl`: a socket it let in
    /// is told `"session expired"` and disconnected at that instant, and its events extend
    /// the session only when the extension ends by then (so never past it). A destroyed
    /// session's tokens stop working.
    pub fn issue_token(&self, id: SessionId, ttl: Duration) -> Result<String> {
        if ttl.is_zero() {
            return Err(Error::InvalidValue("token ttl must be positive".into()));
        }
        let exp = now_ms().saturating_add(ttl.as_millis().min(u64::MAX as u128) as u64);
        Ok(self.0.signer.sign_token(&self.0.host_id(id), exp))
    }

    /// Counters for monitoring and leak tests.
    pub fn stats(&self) -> Stats {
        let namespaces =
            || (self.0.config.transport.namespaces.iter()).filter_map(|ns| self.0.io.of(ns));
        Stats {
            sockets: namespaces().map(|op| op.local().sockets().len()).sum(),
            sessions_with_sockets: self.0.presence.sessions(),
            rooms: namespaces()
                // Local rooms are answered without waiting.
                .filter_map(|op| futures_util::FutureExt::now_or_never(op.local().rooms()))
                .map(|rooms| rooms.map_or(0, |r| r.len()))
                .sum(),
            pending_handshakes: self.0.pending.count(),
        }
    }

    /// Every counter in the Prometheus text format (version 0.0.4), for a `/metrics`
    /// route: sockets and sessions connected, handshakes accepted and refused by reason,
    /// notifications sent, expiries, destroys, and a histogram of store latency. With the
    /// memory store, also the user index's size (`sessionio_indexed_users`,
    /// `sessionio_indexed_user_sessions`); other stores answer it through
    /// [`user_index_size`](Self::user_index_size), which waits for the store.
    ///
    /// ```
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let text = io.metrics_text();
    /// assert!(text.contains("sessionio_handshakes_refused_total{reason=\"invalid session\"} 0"));
    /// ```
    pub fn metrics_text(&self) -> String {
        // The index's gauges only from a store that answers at once (the memory store):
        // this call does not wait. `user_index_size()` asks any store.
        let users = futures_util::FutureExt::now_or_never(self.0.store.user_index_size())
            .and_then(|r| r.ok());
        self.0.metrics.render(&self.stats(), users)
    }

    /// Disconnects every socket and stops the Socket.IO server.
    pub async fn close(&self) {
        if let Some(workers) = &self.0.workers {
            workers.stop();
        }
        self.0.io.close().await;
    }
}

impl Core {
    /// Registers the namespaces and starts the sweeper, once; see [`Core::on_start`].
    pub(crate) fn start_background(self: &Arc<Self>) {
        self.started.call_once(|| (self.on_start)(self));
    }

    /// The record of a live session, or why `id` names none.
    pub(crate) async fn live_record(&self, id: SessionId) -> std::result::Result<Record, NotLive> {
        match self.store.load(id).await {
            Ok(Some(r)) if r.is_expired(now_ms()) => Err(NotLive::Expired),
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(NotLive::Missing),
            Err(e) => Err(NotLive::Unavailable(e)),
        }
    }

    /// Checks that `id` is live and moves its expiry as far as `extension` says
    /// (activity; `true` is [`Extension::Ttl`]).
    pub(crate) async fn check_live(
        &self,
        id: SessionId,
        extension: impl Into<Extension>,
    ) -> std::result::Result<(), NotLive> {
        self.extend_live(id, extension.into(), false)
            .await
            .map(drop)
    }

    /// [`check_live`](Self::check_live), and when `read`, the record as the check left
    /// it if the store read it in the same step ([`SessionStore::touch_and_read`]).
    pub(crate) async fn extend_live(
        &self,
        id: SessionId,
        extension: Extension,
        read: bool,
    ) -> std::result::Result<Option<Record>, NotLive> {
        let now = now_ms();
        let Some(expires_at) = extension.target(now, self.ttl_ms()) else {
            return self.live_record(id).await.map(Some);
        };
        let touched = if read {
            self.store.touch_and_read(id, expires_at, now).await
        } else {
            self.store
                .touch(id, expires_at, now)
                .await
                .map(|t| (t, None))
        };
        match touched {
            Ok((Touch::Extended, record)) => Ok(record),
            Ok((Touch::Expired, _)) => Err(NotLive::Expired),
            Ok((Touch::Missing, _)) => Err(NotLive::Missing),
            Err(e) => Err(NotLive::Unavailable(e)),
        }
    }

    pub(crate) fn host_id(&self, id: SessionId) -> String {
        self.config.identity.host_id(id)
    }

    pub(crate) fn ttl_ms(&self) -> u64 {
        self.config.ttl.as_millis().min(u64::MAX as u128) as u64
    }

    /// The `Set-Cookie` value that stores `id`'s cookie; `None` when the identity's
    /// session system writes its own cookie.
    pub(crate) fn set_cookie(&self, id: SessionId) -> Option<String> {
        let value = self.config.identity.sign_cookie(id)?;
        Some(self.config.cookie.set_cookie(&value))
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub(crate) fn clear_cookie(&self) -> String {
        self.config.cookie.clear_cookie()
    }

    pub(crate) async fn insert_new_session(
        &self,
        data: Data,
        expires_at: u64,
        login: Option<Login>,
    ) -> Result<SessionId> {
        // A collision of 128-bit random ids is astronomically unlikely; retry anyway
        // rather than overwrite.
        for _ in 0..4 {
            let id = SessionId::default();
            let record = Record {
                login: login.clone(),
                ..Record::new(id, data.clone(), expires_at)
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
        if self.presence.count(id) == 0 && !self.is_linked() {
            return Ok(0);
        }
        let room = rooms::session_room(id);
        self.notify_room(room, |s| session_id_of(s) == Some(id), event, data)
            .await
    }

    /// Emits to one of the engine's rooms: the other nodes in one adapter broadcast, this
    /// node's sockets that `admitted` accepts one by one. Returns how many sockets were
    /// reached here.
    pub(crate) async fn notify_room(
        &self,
        room: String,
        admitted: impl Fn(&SocketRef) -> bool,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<usize> {
        let (mut sent, mut dropped) = (0, 0);
        let mut unlinked = None;
        for ns in &self.config.transport.namespaces {
            let Some(op) = self.io.of(ns) else { continue };
            if let Some(here) = self.node_share(&room) {
                // The other nodes, in one adapter broadcast that skips this node's sockets.
                // Their own full queues are their heartbeat's to close: socketioxide's
                // adapter does not report them back.
                let others = op.clone().to(room.clone()).except(here);
                if let Err(e) = others.emit(event, data).await {
                    match e {
                        BroadcastError::Adapter(e) => unlinked = Some(e),
                        e => tracing::debug!(error = %e, "notify: broadcast failed"),
                    }
                }
            }
            // This node's sockets one by one, each with back-pressure (see `delivery`); only
            // those admitted to the session, whatever else the room may hold (the raw
            // socketioxide handle can join any room).
            let mut sockets = op.local().to(room.clone()).sockets();
            sockets.retain(&admitted);
            let (here_sent, here_dropped) = delivery::deliver_all(&sockets, event, data).await;
            sent += here_sent;
            dropped += here_dropped;
        }
        if dropped > 0 {
            tracing::warn!(
                room,
                dropped,
                "notify: sockets that fell behind were not reached"
            );
        }
        self.metrics.notified(sent, dropped);
        match unlinked {
            None => Ok(sent),
            Some(e) => {
                tracing::warn!(error = %e, "notify: other nodes were not reached");
                Err(Error::StoreUnavailable(format!(
                    "{e}; the other nodes were not reached ({sent} sockets on this node were)"
                )))
            }
        }
    }

    /// This node's share of `room` ([`rooms::node_share`]), when other nodes are linked.
    pub(crate) fn node_share(&self, room: &str) -> Option<String> {
        let tag = self.node_tag.as_deref()?;
        Some(rooms::node_share(tag, room))
    }

    /// Whether other processes are linked through the Redis adapter.
    pub(crate) fn is_linked(&self) -> bool {
        matches!(self.bus, Bus::Redis(_))
    }

    pub(crate) async fn destroy_session(&self, id: SessionId) -> Result<usize> {
        self.presence.tombstone(id);
        self.store.delete(id).await?;
        let kicked = self.kick(id, None, Reach::AllNodes).await;
        self.metrics.destroyed(kicked);
        Ok(kicked)
    }

    pub(crate) async fn disconnect_if_gone(&self, id: SessionId) -> Result<usize> {
        match self.live_record(id).await {
            Ok(_) | Err(NotLive::Expired) => Ok(0),
            Err(NotLive::Unavailable(e)) => Err(e),
            Err(NotLive::Missing) => {
                self.presence.tombstone(id);
                let kicked = self.kick(id, None, Reach::AllNodes).await;
                self.metrics.destroyed(kicked);
                Ok(kicked)
            }
        }
    }

    /// Disconnects every socket of `id` (here, or on every node), first emitting `event`
    /// to them if given; returns how many were here. Only
    /// [`destroy_session`](Self::destroy_session) tombstones the id: an expired session's
    /// record stays readable so its cookie is told `session expired`.
    pub(crate) async fn kick(&self, id: SessionId, event: Option<&str>, reach: Reach) -> usize {
        let n = self.presence.count(id);
        let room = rooms::session_room(id);
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
                if matches!(e, BroadcastError::Adapter(_)) {
                    tracing::warn!(error = %e, "kick: other nodes were not reached");
                    let _ = op.local().to(room.clone()).disconnect().await;
                } else {
                    tracing::debug!(error = %e, "kick: disconnect failed");
                }
            }
        }
        n
    }
}
