//! Socket event handlers: registering them ([`SessionIo::on`], [`SessionIo::use_event`],
//! [`SessionIo::on_connection`]), the context they get ([`EventContext`]), and the
//! dispatch of one event (session check, middlewares, handler, ack).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use socketioxide::extract::{AckSender, Event, TryData};

use crate::ack::{send_ack, AllArgs, HandlerError, IntoReply, Reply};
use crate::adapter::{Adapter, SocketRef};
use crate::engine::{read, write, ConnectionFn, Core, EventFn, Extension, RawEvent, SessionIo};
use crate::error::Refusal;
use crate::session::Session;
use crate::socket::{session_id_of, token_expires_at_of, SocketHandle};
use crate::store::now_ms;
use crate::Value;

/// One incoming event: its name, arguments, socket and session.
#[derive(Clone)]
pub struct EventContext {
    socket: SocketHandle,
    event: Arc<str>,
    args: Arc<[Value]>,
}

impl From<RawEvent> for EventContext {
    fn from(raw: RawEvent) -> Self {
        EventContext {
            socket: SocketHandle {
                socket: raw.socket,
                core: raw.core,
            },
            event: raw.event,
            args: raw.args,
        }
    }
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
    /// (if it asked for one); its `Err` answers `{"error": message}` (see [`HandlerError`]:
    /// only a message the handler chose, or a documented refusal, reaches the client). A
    /// panicking handler answers `{"error": "internal error"}` and the server keeps
    /// running. Register handlers before clients connect.
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
        let handler: EventFn<Reply> = Arc::new(move |raw| {
            let fut = handler(raw.into());
            Box::pin(async move { fut.await?.into_reply() })
        });
        write(&self.0.callbacks)
            .events
            .insert(event.into(), handler);
    }

    /// Adds a per-event middleware: it runs, in the order added, before the handler of
    /// every event; an `Err` stops the event (the ack gets `{"error": message}`).
    pub fn use_event<F, Fut>(&self, middleware: F)
    where
        F: Fn(EventContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let f: EventFn<()> = Arc::new(move |raw| Box::pin(middleware(raw.into())));
        write(&self.0.callbacks).middlewares.push(f);
    }

    /// Runs `callback` for every accepted socket, after it joined its session's room.
    pub fn on_connection<F, Fut>(&self, callback: F)
    where
        F: Fn(SocketHandle) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: ConnectionFn =
            Arc::new(move |core, socket| Box::pin(callback(SocketHandle { socket, core })));
        write(&self.0.callbacks).on_connection.push(f);
    }
}

/// Gives an accepted socket its event dispatch (socketioxide's fallback handler: every
/// event goes through [`dispatch`]).
pub(crate) fn attach_dispatch(core: &Arc<Core>, socket: &SocketRef) {
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
                        let refused = HandlerError::new(format!("malformed arguments: {e}"));
                        send_ack(&core.metrics, &socket, ack, Err(refused));
                        return;
                    }
                };
                let raw = RawEvent {
                    core: core.clone(),
                    socket: socket.clone(),
                    event: event.into(),
                    args: args.into(),
                };
                if let Some(result) = dispatch(&core, raw).await {
                    send_ack(&core.metrics, &socket, ack, result);
                }
            }
        },
    );
}

/// Runs the on-connection callbacks of an accepted socket.
pub(crate) async fn run_on_connection(core: &Arc<Core>, socket: &SocketRef) {
    let callbacks = read(&core.callbacks).on_connection.clone();
    for callback in callbacks {
        run_guarded(callback(core.clone(), socket.clone())).await;
    }
}

/// Runs middlewares and the handler of one event; `None` if no handler exists.
async fn dispatch(core: &Arc<Core>, raw: RawEvent) -> Option<Result<Reply, HandlerError>> {
    let (handler, middlewares) = {
        let c = read(&core.callbacks);
        (c.events.get(&*raw.event).cloned(), c.middlewares.clone())
    };
    let handler = handler?;
    if let Some(id) = session_id_of(&raw.socket) {
        // A token-admitted socket whose token expired runs nothing (its timer is about to
        // disconnect it), and its activity never extends the session past the token.
        let token_expires_at = token_expires_at_of(&raw.socket);
        if token_expires_at.is_some_and(|at| at <= now_ms()) {
            return Some(Err(HandlerError::new(Refusal::SessionExpired.message())));
        }
        // Every event is checked against the session's current state: a session that
        // just expired or was destroyed elsewhere runs no handler.
        let extension =
            Extension::from(core.config.extend_on_socket_activity).until(token_expires_at);
        if let Err(not_live) = core.check_live(id, extension).await {
            return Some(Err(HandlerError::new(Refusal::from(not_live).message())));
        }
    }
    let run = async move {
        for m in middlewares {
            m(raw.clone()).await?;
        }
        handler(raw).await
    };
    Some(match run_guarded(run).await {
        Some(result) => result,
        None => Err(HandlerError::new(crate::ack::INTERNAL_ERROR)),
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
