//! Socket.IO: the handshake check, rooms by session, and event handlers with acks.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use futures_util::FutureExt;
use serde::ser::SerializeTuple;
use serde::Serialize;
use socketioxide::extract::{AckSender, Event, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::presence::Membership;
use crate::store::{now_ms, BoxFuture, Touch};
use crate::{Adapter, Core, Error, Refusal, Session, SessionId, SessionIo, Value};

pub(crate) type SocketRef = socketioxide::extract::SocketRef<Adapter>;

type EventFn =
    Arc<dyn Fn(EventContext) -> BoxFuture<'static, Result<Reply, HandlerError>> + Send + Sync>;
type MiddlewareFn =
    Arc<dyn Fn(EventContext) -> BoxFuture<'static, Result<(), HandlerError>> + Send + Sync>;
type ConnectionFn = Arc<dyn Fn(SocketHandle) -> BoxFuture<'static, ()> + Send + Sync>;

#[derive(Default)]
pub(crate) struct Handlers {
    events: HashMap<String, EventFn>,
    middlewares: Vec<MiddlewareFn>,
    on_connection: Vec<ConnectionFn>,
}

/// An error a handler or middleware answers with. The client's ack receives
/// `{"error": "<message>"}`; the message should be safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
        }
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError::new(e.to_string())
    }
}

/// The arguments an ack is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply(Vec<Value>);

impl Reply {
    /// An ack with several arguments.
    pub fn args(args: Vec<Value>) -> Self {
        Reply(args)
    }

    /// The arguments.
    pub fn into_args(self) -> Vec<Value> {
        self.0
    }
}

/// What a handler may return: any `Serialize` value (one ack argument) or a [`Reply`].
pub trait IntoReply {
    /// Converts into the ack's arguments.
    fn into_reply(self) -> Result<Reply, HandlerError>;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(self)
    }
}

impl<T: Serialize> IntoReply for T {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        rmpv::ext::to_value(&self)
            .map(|v| Reply(vec![v]))
            .map_err(|e| HandlerError::new(format!("reply not serializable: {e}")))
    }
}

/// Serializes a list as separate Socket.IO arguments (socketioxide spreads tuples).
struct Args<'a>(&'a [Value]);

impl Serialize for Args<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

/// Deserializes every argument of a packet. socketioxide hands the whole argument list
/// only to tuple-like types (anything else gets the first argument), so this asks for a
/// tuple of any length.
struct AllArgs(Vec<Value>);

impl<'de> serde::Deserialize<'de> for AllArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AllArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of arguments")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AllArgs, A::Error> {
                let mut args = Vec::new();
                while let Some(v) = seq.next_element()? {
                    args.push(v);
                }
                Ok(AllArgs(args))
            }
        }
        d.deserialize_tuple(usize::MAX, Visit)
    }
}

/// Per-socket state kept in the socket's extensions.
pub(crate) struct SocketState {
    membership: Option<Membership>,
    auth: serde_json::Value,
    time: SystemTime,
    /// Set once a message to the socket found its queue full for
    /// [`ROOM_WAIT`](crate::delivery::ROOM_WAIT): see [`crate::delivery`].
    pub(crate) behind: AtomicBool,
}

impl SocketState {
    fn session_id(&self) -> Option<SessionId> {
        self.membership.as_ref().map(|m| m.id)
    }
}

/// What the client sent when it connected (the tutorial's `socket.handshake`).
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Headers of the first HTTP request of the connection, as kept for the socket's life:
    /// up to [`KEPT_HEADER_BYTES`](crate::http::KEPT_HEADER_BYTES) in all; past that, a
    /// `Cookie` header is reduced to the session cookie and other headers are dropped.
    pub headers: http::HeaderMap,
    /// Query parameters of that request.
    pub query: Vec<(String, String)>,
    /// The `auth` object of the namespace connect packet.
    pub auth: serde_json::Value,
    /// When the socket connected.
    pub time: SystemTime,
    /// The client's address, when the server provides it (`serve()`, or axum with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub address: Option<SocketAddr>,
}

/// One connected socket.
#[derive(Clone)]
pub struct SocketHandle {
    socket: SocketRef,
    core: Arc<Core>,
}

impl std::fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketHandle")
            .field("id", &self.socket.id)
            .finish()
    }
}

impl SocketHandle {
    fn state(&self) -> Option<Arc<SocketState>> {
        self.socket.extensions.get::<Arc<SocketState>>()
    }

    /// The socket id.
    pub fn id(&self) -> String {
        self.socket.id.to_string()
    }

    /// The namespace path.
    pub fn namespace(&self) -> &str {
        self.socket.ns()
    }

    /// The session id, `None` for an anonymous socket.
    pub fn session_id(&self) -> Option<SessionId> {
        self.state()?.session_id()
    }

    /// A live handle on the socket's session, `None` for an anonymous socket.
    pub fn session(&self) -> Option<Session> {
        let extends = self.core.config.extend_on_socket_activity;
        self.session_id()
            .map(|id| Session::new(id, self.core.clone(), extends, None))
    }

    /// The handshake details.
    pub fn handshake(&self) -> Handshake {
        let parts = self.socket.req_parts();
        let query = parts
            .uri
            .query()
            .map(|q| {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let state = self.state();
        Handshake {
            headers: parts.headers.clone(),
            query,
            auth: state.as_ref().map(|s| s.auth.clone()).unwrap_or_default(),
            time: state.map_or(SystemTime::UNIX_EPOCH, |s| s.time),
            address: parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        }
    }

    /// Emits `event` with one argument to this socket.
    pub fn emit(&self, event: &str, data: &(impl Serialize + ?Sized)) -> crate::Result<()> {
        self.socket
            .emit(event, data)
            .map_err(|e| Error::Server(e.to_string()))
    }

    /// Emits `event` with several arguments to this socket.
    pub fn emit_args(&self, event: &str, args: &[Value]) -> crate::Result<()> {
        self.emit(event, &Args(args))
    }

    /// Emits `event` with several arguments and waits (at most `timeout`) for the
    /// client's acknowledgement; returns its arguments.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: &[Value],
        timeout: std::time::Duration,
    ) -> crate::Result<Vec<Value>> {
        let ack = self
            .socket
            .timeout(timeout)
            .emit_with_ack::<_, AllArgs>(event, &Args(args))
            .map_err(|e| Error::Server(e.to_string()))?;
        ack.await
            .map(|a| a.0)
            .map_err(|e| Error::Server(e.to_string()))
    }

    /// Joins a room.
    pub fn join(&self, room: impl Into<String>) {
        self.socket.join(room.into());
    }

    /// Leaves a room. The session's own room cannot be left.
    pub fn leave(&self, room: &str) {
        if self.session_id().is_some_and(|id| id.to_string() == room) {
            return;
        }
        self.socket.leave(room.to_owned());
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<String> {
        self.socket
            .rooms()
            .into_iter()
            .map(|r| r.to_string())
            .collect()
    }

    /// The socket's session id as the host knows it
    /// ([`SessionIo::host_id`](crate::SessionIo::host_id)), `None` for an anonymous socket.
    pub fn session_host_id(&self) -> Option<String> {
        self.session_id().map(|id| self.core.host_id(id))
    }

    /// Disconnects the socket from the server side (the client does not reconnect).
    pub fn disconnect(&self) {
        let _ = self.socket.clone().disconnect();
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.socket.connected()
    }
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One incoming event: its name, arguments, socket and session.
#[derive(Clone)]
pub struct EventContext {
    socket: SocketHandle,
    event: Arc<str>,
    args: Arc<[Value]>,
}

impl std::fmt::Debug for EventContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventContext")
            .field("event", &self.event)
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl EventContext {
    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event's arguments (an acknowledgement callback is not one of them).
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Argument `i` deserialized to `T`.
    pub fn arg<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<T, HandlerError> {
        let v = self
            .args
            .get(i)
            .ok_or_else(|| HandlerError::new(format!("argument {i} is missing")))?;
        rmpv::ext::from_value(v.clone())
            .map_err(|e| HandlerError::new(format!("argument {i}: {e}")))
    }

    /// The socket the event came from.
    pub fn socket(&self) -> &SocketHandle {
        &self.socket
    }

    /// A fresh handle on the socket's session (`None` for an anonymous socket).
    pub fn session(&self) -> Option<Session> {
        self.socket.session()
    }

    /// The session, or an error for anonymous sockets.
    pub fn require_session(&self) -> Result<Session, HandlerError> {
        self.session()
            .ok_or_else(|| HandlerError::new(Refusal::SessionRequired.message()))
    }

    /// The host handle, e.g. to notify another session.
    pub fn io(&self) -> SessionIo {
        SessionIo(self.socket.core.clone())
    }
}

impl SessionIo {
    /// Registers the handler of a socket event. Its `Ok` value answers the client's ack
    /// (if it asked for one); its `Err` answers `{"error": message}`. A panicking handler
    /// answers `{"error": "internal error"}` and the server keeps running. Register
    /// handlers before clients connect.
    ///
    /// ```
    /// # let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// io.on("incr", |ctx| async move {
    ///     let session = ctx.require_session()?;
    ///     let n = session.increment("count", 1).await?;
    ///     session.notify("current count", n).await?;
    ///     Ok(n)
    /// });
    /// ```
    pub fn on<F, Fut, R>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(EventContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
        R: IntoReply,
    {
        let handler: EventFn = Arc::new(move |ctx| {
            let fut = handler(ctx);
            Box::pin(async move { fut.await?.into_reply() })
        });
        write(&self.0.handlers).events.insert(event.into(), handler);
    }

    /// Adds a per-event middleware: it runs, in the order added, before the handler of
    /// every event; an `Err` stops the event (the ack gets `{"error": message}`).
    pub fn use_event<F, Fut>(&self, middleware: F)
    where
        F: Fn(EventContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let f: MiddlewareFn = Arc::new(move |ctx| Box::pin(middleware(ctx)));
        write(&self.0.handlers).middlewares.push(f);
    }

    /// Runs `callback` for every accepted socket, after it joined its session's room.
    pub fn on_connection<F, Fut>(&self, callback: F)
    where
        F: Fn(SocketHandle) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: ConnectionFn = Arc::new(move |s| Box::pin(callback(s)));
        write(&self.0.handlers).on_connection.push(f);
    }
}

fn read<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Registers the namespaces with their handshake check.
pub(crate) fn install(core: &Arc<Core>) {
    for ns in &core.config.transport.namespaces {
        let (on_connect_core, auth_core) = (Arc::downgrade(core), Arc::downgrade(core));
        let on_connect = move |socket: SocketRef| {
            let core = on_connect_core.clone();
            async move { on_connect(core, socket).await }
        };
        let authenticate = move |socket: SocketRef,
                                 TryData(auth): TryData<
            Option<serde_json::Map<String, serde_json::Value>>,
        >| {
            let core = auth_core.clone();
            async move {
                use tracing::Instrument as _;
                let metrics = core.upgrade().map(|c| c.metrics.clone());
                let span = tracing::debug_span!("sessionio.handshake", socket = %socket.id);
                let outcome = match auth {
                    Ok(auth) => {
                        let auth = auth.map(serde_json::Value::Object);
                        authenticate(core.clone(), socket.clone(), auth)
                            .instrument(span)
                            .await
                    }
                    Err(_) => Err(Refusal::InvalidAuth),
                };
                if let (Ok(()), Some(core)) = (&outcome, core.upgrade()) {
                    attach(&core, &socket);
                }
                if let Err(refusal) = outcome {
                    tracing::debug!(%refusal, "handshake refused");
                }
                if let Some(m) = metrics {
                    match outcome {
                        Ok(()) => m.accepted(),
                        Err(refusal) => m.refused(refusal),
                    }
                }
                outcome
            }
        };
        crate::adapter::init_namespace(core.io.ns(ns.clone(), on_connect.with(authenticate)));
    }
}

/// The connect middleware: Origin, then cookie or token, then the store, then the
/// per-session cap. Its `Err` becomes the client's `connect_error` message.
async fn authenticate(
    core: Weak<Core>,
    socket: SocketRef,
    auth: Option<serde_json::Value>,
) -> Result<(), Refusal> {
    let core = core.upgrade().ok_or(Refusal::StoreUnavailable)?;
    core.start_background();
    let auth = auth.unwrap_or(serde_json::Value::Null);
    let admitted = check_handshake(&core, &socket.req_parts().headers, &auth).await?;
    let membership = match admitted {
        None => None,
        Some((id, expires_at)) => {
            let m = core.presence.admit(
                &core,
                id,
                expires_at,
                core.config.max_connections_per_session,
            )?;
            socket.join(id.to_string());
            if let Some(room) = &core.node_room {
                socket.join(room.clone());
            }
            Some(m)
        }
    };
    socket.extensions.insert(Arc::new(SocketState {
        membership,
        auth,
        time: SystemTime::now(),
        behind: AtomicBool::new(false),
    }));
    Ok(())
}

/// The handshake check, up to the per-session cap: the Origin, then the cookie or the
/// token, then the store. Answers the session to join with its expiry instant, or `None`
/// for an anonymous socket (when allowed).
pub(crate) async fn check_handshake(
    core: &Core,
    headers: &http::HeaderMap,
    auth: &serde_json::Value,
) -> Result<Option<(SessionId, u64)>, Refusal> {
    if !core
        .config
        .origins
        .allows(headers.get(http::header::ORIGIN))
    {
        return Err(Refusal::OriginNotAllowed);
    }
    let now = now_ms();
    // The same reading as the HTTP middlewares: every Cookie header, read lossily.
    let cookie = crate::http::cookie_header(headers);
    let token = auth
        .get("token")
        .and_then(|t| t.as_str())
        .filter(|_| core.config.token_auth);
    let id = match (core.cookie_credential(cookie.as_deref()), token) {
        (crate::CookieCredential::Valid(id), _) => id,
        (_, Some(token)) => core.signer.verify_token(token, now)?,
        (crate::CookieCredential::Invalid, None) => return Err(Refusal::InvalidSession),
        (crate::CookieCredential::Absent, None) if core.config.allow_anonymous => return Ok(None),
        (crate::CookieCredential::Absent, None) => return Err(Refusal::SessionRequired),
    };
    let record = core.live_record(id).await?;
    Ok(Some((id, record.expires_at)))
}

impl SessionIo {
    /// What the Socket.IO connect middleware decides for a handshake with these request
    /// headers and `auth` object, without a socket: the session the socket would join
    /// (`None`: an anonymous socket), or the [`Refusal`] its client would get as
    /// `connect_error`. The per-session socket cap is not checked (it depends on the
    /// sockets connected at that moment). Useful to test a deployment's cookies, and to
    /// fuzz the handshake path.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cookie", "sessionio.sid=forged".parse().unwrap());
    /// let refused = io.check_handshake(&headers, None).await.unwrap_err();
    /// assert_eq!(refused.message(), "invalid session");
    /// # });
    /// ```
    pub async fn check_handshake(
        &self,
        headers: &http::HeaderMap,
        auth: Option<&serde_json::Value>,
    ) -> Result<Option<SessionId>, Refusal> {
        let null = serde_json::Value::Null;
        check_handshake(&self.0, headers, auth.unwrap_or(&null))
            .await
            .map(|admitted| admitted.map(|(id, _)| id))
    }
}

/// Gives an accepted socket its disconnect and event handlers. This runs in the connect
/// middleware, before socketioxide sends the CONNECT answer: the connect handler is a
/// task spawned after that answer, so an event the client sends at once could otherwise
/// arrive before its handler exists and be dropped.
fn attach(core: &Arc<Core>, socket: &SocketRef) {
    socket.on_disconnect(|socket: SocketRef, _reason: DisconnectReason| async move {
        if let Some(state) = socket.extensions.get::<Arc<SocketState>>() {
            if let Some(m) = &state.membership {
                m.release();
            }
        }
    });
    let dispatch_core = Arc::downgrade(core);
    socket.on_fallback(
        move |socket: SocketRef,
              Event(event): Event,
              TryData(args): TryData<AllArgs>,
              ack: AckSender<Adapter>| {
            let core = dispatch_core.clone();
            async move {
                let Some(core) = core.upgrade() else { return };
                let args = match args {
                    Ok(AllArgs(args)) => args,
                    Err(e) => {
                        send_ack(
                            &core,
                            &socket,
                            ack,
                            Err(HandlerError::new(format!("malformed arguments: {e}"))),
                        );
                        return;
                    }
                };
                let ctx = EventContext {
                    socket: SocketHandle {
                        socket: socket.clone(),
                        core: core.clone(),
                    },
                    event: event.into(),
                    args: args.into(),
                };
                if let Some(result) = dispatch(&core, ctx).await {
                    send_ack(&core, &socket, ack, result);
                }
            }
        },
    );
}

async fn on_connect(core: Weak<Core>, socket: SocketRef) {
    let Some(core) = core.upgrade() else { return };
    let handle = SocketHandle {
        socket: socket.clone(),
        core: core.clone(),
    };
    // A destroy that raced this handshake (it loaded the record just before the delete)
    // tombstoned the id; the socket leaves at once.
    if handle
        .session_id()
        .is_some_and(|id| core.presence.is_tombstoned(id))
    {
        handle.disconnect();
        return;
    }
    let callbacks = read(&core.handlers).on_connection.clone();
    for callback in callbacks {
        run_guarded(callback(handle.clone())).await;
    }
}

/// Runs middlewares and the handler of one event; `None` if no handler exists.
async fn dispatch(core: &Arc<Core>, ctx: EventContext) -> Option<Result<Reply, HandlerError>> {
    let (handler, middlewares) = {
        let h = read(&core.handlers);
        (h.events.get(ctx.event()).cloned(), h.middlewares.clone())
    };
    let handler = handler?;
    if let Some(id) = ctx.socket.session_id() {
        // Every event is checked against the session's current state: a session that
        // just expired or was destroyed elsewhere runs no handler.
        let now = now_ms();
        let outcome = if core.config.extend_on_socket_activity {
            core.store.touch(id, now + core.ttl_ms(), now).await
        } else {
            core.store.load(id).await.map(|r| match r {
                None => Touch::Missing,
                Some(r) if r.is_expired(now) => Touch::Expired,
                Some(_) => Touch::Extended,
            })
        };
        let refusal = match outcome {
            Ok(Touch::Extended) => None,
            Ok(Touch::Expired) => Some(Refusal::SessionExpired),
            Ok(Touch::Missing) => Some(Refusal::InvalidSession),
            Err(_) => Some(Refusal::StoreUnavailable),
        };
        if let Some(r) = refusal {
            return Some(Err(HandlerError::new(r.message())));
        }
    }
    let run = async move {
        for m in middlewares {
            m(ctx.clone()).await?;
        }
        handler(ctx).await
    };
    Some(match run_guarded(run).await {
        Some(result) => result,
        None => Err(HandlerError::new("internal error")),
    })
}

/// Runs host code, turning a panic into `None` (logged) instead of a lost task.
async fn run_guarded<T>(fut: impl Future<Output = T>) -> Option<T> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::error!("a socket handler panicked; the socket stays connected");
            None
        }
    }
}

/// Answers the client's ack. An ack cannot wait for room in a full queue (socketioxide's
/// `AckSender` is spent by its first try): a lost one is counted and its socket is
/// disconnected once its queue has room, as [`delivery`](crate::delivery) does for
/// notifications.
fn send_ack(
    core: &Core,
    socket: &SocketRef,
    ack: AckSender<Adapter>,
    result: Result<Reply, HandlerError>,
) {
    let sent = match result {
        Ok(reply) => ack.send(&Args(&reply.0)),
        Err(e) => ack.send(&serde_json::json!({ "error": e.message })),
    };
    match sent {
        Ok(()) => {}
        Err(socketioxide::SendError::Socket(socketioxide::SocketError::InternalChannelFull)) => {
            core.metrics.ack_dropped();
            crate::delivery::fell_behind(socket);
        }
        Err(e) => tracing::debug!(error = %e, "ack could not be sent"),
    }
}
