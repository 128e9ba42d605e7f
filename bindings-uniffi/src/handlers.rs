//! The host functions the engine calls — socket event handlers, per-event middlewares,
//! connection callbacks — as foreign traits, and their registration with core. The host
//! function runs on the runtime's blocking pool: it may block (Ruby waits for its GVL, and
//! may call back into the engine).

use std::sync::Arc;

use sessionio::{EventContext, HandlerError, Reply, SessionIo, SocketHandle};

use crate::error::SessionioError;
use crate::socket::Socket;
use crate::value::{self, Value};

/// A socket event's handler: what it returns answers the client's ack.
#[uniffi::export(with_foreign)]
pub trait EventHandler: Send + Sync {
    fn handle(&self, socket: Arc<Socket>, args: Vec<Value>) -> Result<Value, SessionioError>;
}

/// Runs before the handler of every event; a failure stops the event (and answers its ack
/// as a handler's failure does).
#[uniffi::export(with_foreign)]
pub trait EventMiddleware: Send + Sync {
    fn handle(
        &self,
        socket: Arc<Socket>,
        event: String,
        args: Vec<Value>,
    ) -> Result<(), SessionioError>;
}

/// Runs for every accepted socket.
#[uniffi::export(with_foreign)]
pub trait ConnectionHandler: Send + Sync {
    fn connected(&self, socket: Arc<Socket>) -> Result<(), SessionioError>;
}

/// The error the client's ack carries: only a `Handler` error the host marked `answered`
/// (Ruby's `Sessionio::HandlerError`) shows its message; anything else is core's hidden
/// failure (`internal error`, the detail logged with an error id).
fn handler_error(failure: SessionioError, what: &str) -> HandlerError {
    match failure {
        SessionioError::Handler {
            message,
            answered: true,
        } => HandlerError::new(message),
        other => HandlerError::internal(format_args!("{what} failed: {other}")),
    }
}

async fn blocking<R: Send + 'static>(
    call: impl FnOnce() -> Result<R, SessionioError> + Send + 'static,
) -> Result<R, SessionioError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| SessionioError::server(format!("handler thread failed: {e}")))?
}

pub fn on_event(io: &SessionIo, event: String, handler: Arc<dyn EventHandler>) {
    let what: Arc<str> = format!("sessionio handler of '{event}'").into();
    io.on(event, move |ctx: EventContext| {
        let handler = handler.clone();
        let what = what.clone();
        async move {
            let socket = Socket::new(ctx.socket().clone());
            let args = ctx.args().iter().map(value::from_msgpack).collect();
            let value = blocking(move || handler.handle(socket, args))
                .await
                .map_err(|failure| handler_error(failure, &what))?;
            Ok(Reply::args(vec![value::to_msgpack(value)]))
        }
    });
}

pub fn use_event(io: &SessionIo, middleware: Arc<dyn EventMiddleware>) {
    io.use_event(move |ctx: EventContext| {
        let middleware = middleware.clone();
        async move {
            let socket = Socket::new(ctx.socket().clone());
            let event = ctx.event().to_owned();
            let args = ctx.args().iter().map(value::from_msgpack).collect();
            blocking(move || middleware.handle(socket, event, args))
                .await
                .map_err(|failure| handler_error(failure, "sessionio middleware"))
        }
    });
}

pub fn on_connection(io: &SessionIo, callback: Arc<dyn ConnectionHandler>) {
    io.on_connection(move |socket: SocketHandle| {
        let callback = callback.clone();
        async move {
            if let Err(failure) = blocking(move || callback.connected(Socket::new(socket))).await {
                // The host's layer already logged an exception its callback raised.
                tracing::debug!(%failure, "on_connection callback failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_answered_handler_error_reaches_the_client() {
        let answered = SessionioError::Handler {
            message: "session required".into(),
            answered: true,
        };
        assert_eq!(handler_error(answered, "h").message(), "session required");
        let raised = SessionioError::Handler {
            message: "RuntimeError: secret detail".into(),
            answered: false,
        };
        assert_eq!(handler_error(raised, "h").message(), "internal error");
        let core = SessionioError::from(sessionio::Error::SessionNotFound);
        assert_eq!(handler_error(core, "h").message(), "internal error");
    }
}
