//! Registration of the Python functions the engine calls: socket event handlers
//! (`_on`), per-event middlewares (`_use`) and connection callbacks (`_on_connection`).
//! Each gets the socket as a `sessionio.Socket` and the event's values as Python objects.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;
use sessionio::{EventContext, Reply, SessionIo, SocketHandle};

use crate::callbacks::PyCallback;
use crate::convert;
use crate::socket::PySocket;

fn socket_arg(py: Python<'_>, socket: SocketHandle) -> PyResult<Py<PyAny>> {
    PySocket::new(socket).into_py_any(py)
}

/// `handler(socket, *args)` for event `event`; what it returns answers the ack, a failure
/// answers `{"error": …}` (`Failed::into_handler_error` decides the message).
pub fn on_event(io: &SessionIo, event: String, handler: PyCallback) {
    let what: Arc<str> = format!("sessionio handler of '{event}'").into();
    io.on(event, move |ctx: EventContext| {
        let handler = handler.clone();
        let what = what.clone();
        async move {
            let socket = ctx.socket().clone();
            let args = ctx.args().to_vec();
            let value = handler
                .call(move |py| {
                    let mut items = Vec::with_capacity(args.len() + 1);
                    items.push(socket_arg(py, socket)?);
                    for a in &args {
                        items.push(convert::value_to_py(py, a)?);
                    }
                    PyTuple::new(py, items)
                })
                .await
                .map_err(|failed| failed.into_handler_error(&what))?;
            Ok(Reply::args(vec![value]))
        }
    });
}

/// `middleware(socket, event, args)` before the handler of every event; a failure stops
/// the event and answers its ack as a handler's does.
pub fn use_event(io: &SessionIo, middleware: PyCallback) {
    io.use_event(move |ctx: EventContext| {
        let middleware = middleware.clone();
        async move {
            let socket = ctx.socket().clone();
            let event = ctx.event().to_owned();
            let args = ctx.args().to_vec();
            middleware
                .call(move |py| {
                    let items = [
                        socket_arg(py, socket)?,
                        event.into_py_any(py)?,
                        convert::values_to_py(py, &args)?,
                    ];
                    PyTuple::new(py, items)
                })
                .await
                .map(|_| ())
                .map_err(|failed| failed.into_handler_error("sessionio middleware"))
        }
    });
}

/// `callback(socket)` for every accepted socket.
pub fn on_connection(io: &SessionIo, callback: PyCallback) {
    io.on_connection(move |socket: SocketHandle| {
        let callback = callback.clone();
        async move {
            let outcome = callback
                .call(move |py| PyTuple::new(py, [socket_arg(py, socket)?]))
                .await;
            if let Err(failed) = outcome {
                // The Python layer already logged an exception the callback raised.
                tracing::debug!(%failed, "on_connection callback failed");
            }
        }
    });
}
