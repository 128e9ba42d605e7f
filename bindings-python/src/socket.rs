//! `Socket`: one connected Socket.IO client, as handlers see it.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use sessionio::{SocketHandle, Value};

use crate::convert;
use crate::errors::{Convert, Failure, OrRaise, ToPython};
use crate::runtime::{block_on, into_awaitable, runtime};
use crate::session::{datetime_from_system_time, PySession};

#[pyclass(frozen, name = "Socket", module = "sessionio._sessionio")]
pub struct PySocket {
    handle: SocketHandle,
}

/// What the client sent when it connected.
#[pyclass(frozen, get_all, name = "Handshake", module = "sessionio._sessionio")]
pub struct PyHandshake {
    /// Headers of the connection's first HTTP request, lower-case names; repeated headers
    /// joined with ", " (`cookie` with "; ").
    headers: Py<PyDict>,
    /// Query parameters of that request (the last value of a repeated name).
    query: Py<PyDict>,
    /// The `auth` object of the client's connect packet (`None` if it sent none).
    auth: Py<PyAny>,
    /// When the socket connected, an aware UTC datetime.
    time: Py<PyAny>,
    /// The client's `(host, port)`.
    address: Option<(String, u16)>,
}

fn args_values(args: &Bound<'_, PyTuple>) -> Result<Vec<Value>, Failure> {
    args.iter().map(|a| convert::to_value(&a)).collect()
}

impl PySocket {
    pub fn new(handle: SocketHandle) -> Self {
        PySocket { handle }
    }

    /// Runs a synchronous socket operation inside the runtime's context: socketioxide may
    /// spawn tasks or start timers, and the caller may be any Python thread.
    fn in_runtime<R>(&self, py: Python<'_>, op: impl FnOnce(&SocketHandle) -> R) -> PyResult<R> {
        let runtime = runtime().or_raise(py)?;
        let _entered = runtime.enter();
        Ok(op(&self.handle))
    }

    fn emit_with_ack_future(
        &self,
        event: String,
        args: &Bound<'_, PyTuple>,
        timeout: &Bound<'_, PyAny>,
    ) -> Result<
        impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static,
        Failure,
    > {
        let values = args_values(args)?;
        let timeout: Duration =
            convert::duration(timeout, "timeout").map_err(Failure::invalid_value)?;
        let handle = self.handle.clone();
        Ok(async move {
            let reply = handle.emit_with_ack(&event, &values, timeout).await?;
            Ok(Convert(move |py: Python<'_>| {
                convert::values_to_py(py, &reply)
            }))
        })
    }
}

#[pymethods]
impl PySocket {
    /// The socket id.
    #[getter]
    fn id(&self) -> String {
        self.handle.id()
    }

    /// The namespace path, e.g. "/".
    #[getter]
    fn namespace(&self) -> String {
        self.handle.namespace().to_owned()
    }

    /// The session id, `None` for an anonymous socket.
    #[getter]
    fn session_id(&self) -> Option<String> {
        self.handle.session_id().map(|id| id.to_string())
    }

    /// A live handle on the socket's session, `None` for an anonymous socket.
    #[getter]
    fn session(&self) -> Option<PySession> {
        self.handle.session().map(PySession::new)
    }

    /// Whether the socket is still connected.
    #[getter]
    fn connected(&self) -> bool {
        self.handle.connected()
    }

    #[getter]
    fn handshake(&self, py: Python<'_>) -> PyResult<PyHandshake> {
        let h = self.handle.handshake();
        let headers = PyDict::new(py);
        for name in h.headers.keys() {
            let separator = if name.as_str() == "cookie" {
                "; "
            } else {
                ", "
            };
            let joined = h
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(separator);
            headers.set_item(name.as_str(), joined)?;
        }
        let query = PyDict::new(py);
        for (k, v) in &h.query {
            query.set_item(k, v)?;
        }
        Ok(PyHandshake {
            headers: headers.unbind(),
            query: query.unbind(),
            auth: convert::json_to_py(py, &h.auth)?,
            time: datetime_from_system_time(py, h.time)?,
            address: h.address.map(|a| (a.ip().to_string(), a.port())),
        })
    }

    /// Emits `event` with the arguments to this socket. Binary data (`bytes`) is sent as
    /// attachments.
    #[pyo3(signature = (event, *args))]
    fn emit(&self, py: Python<'_>, event: &str, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let values = args_values(args).or_raise(py)?;
        self.in_runtime(py, |h| h.emit_args(event, &values))?
            .or_raise(py)
    }

    /// Emits `event` and waits for the client's acknowledgement; returns its arguments.
    #[pyo3(signature = (event, *args, timeout=None))]
    fn emit_with_ack<'py>(
        &self,
        py: Python<'py>,
        event: String,
        args: &Bound<'py, PyTuple>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let default = 5.0f64.into_pyobject(py)?.into_any();
        let fut = self
            .emit_with_ack_future(event, args, timeout.unwrap_or(&default))
            .or_raise(py)?;
        into_awaitable(py, fut)
    }

    #[pyo3(signature = (event, *args, timeout=None))]
    fn emit_with_ack_sync(
        &self,
        py: Python<'_>,
        event: String,
        args: &Bound<'_, PyTuple>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let default = 5.0f64.into_pyobject(py)?.into_any();
        let fut = self
            .emit_with_ack_future(event, args, timeout.unwrap_or(&default))
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    /// Joins a room.
    fn join(&self, py: Python<'_>, room: String) -> PyResult<()> {
        self.in_runtime(py, |h| h.join(room))
    }

    /// Leaves a room (the session's own room cannot be left).
    fn leave(&self, py: Python<'_>, room: &str) -> PyResult<()> {
        self.in_runtime(py, |h| h.leave(room))
    }

    /// The rooms the socket is in.
    fn rooms(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.in_runtime(py, |h| h.rooms())
    }

    /// Disconnects the socket from the server side (the client does not reconnect).
    fn disconnect(&self, py: Python<'_>) -> PyResult<()> {
        self.in_runtime(py, |h| h.disconnect())
    }

    fn __repr__(&self) -> String {
        format!("<sessionio.Socket {}>", self.handle.id())
    }
}

impl ToPython for PySocket {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.into_py_any(py)
    }
}

#[pymethods]
impl PyHandshake {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<sessionio.Handshake address={:?} headers={}>",
            self.address,
            self.headers.bind(py).len()
        )
    }
}
