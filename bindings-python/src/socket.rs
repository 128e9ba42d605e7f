//! `Socket`: one connected Socket.IO client, as handlers see it.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;
use sessionio::{SocketHandle, Value};

use crate::convert;
use crate::errors::{Convert, Failure, OrRaise, ToPython};
use crate::runtime::{block_on, into_awaitable, runtime};
use crate::session::{datetime_from_ms, PySession};

#[pyclass(frozen, name = "Socket", module = "sessionio._sessionio")]
pub struct PySocket {
    handle: SocketHandle,
}

/// What the client sent when it connected: core's one handshake shape
/// (`Handshake::to_json`), with `time` as a datetime and `address` as an `Address`.
#[pyclass(frozen, name = "Handshake", module = "sessionio._sessionio")]
pub struct PyHandshake {
    /// Core's JSON of the handshake, as `as_dict()` gives it.
    json: serde_json::Value,
}

/// The client's address: its IP and port.
#[pyclass(frozen, eq, get_all, name = "Address", module = "sessionio._sessionio")]
#[derive(PartialEq)]
pub struct PyAddress {
    /// The IP address, e.g. "127.0.0.1" or "::1".
    ip: String,
    /// The client's port.
    port: u16,
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
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> Result<
        impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static,
        Failure,
    > {
        let values = args_values(args)?;
        let timeout: Duration = match timeout.filter(|t| !t.is_none()) {
            Some(t) => convert::duration(t, "timeout").map_err(Failure::invalid_value)?,
            None => sessionio::DEFAULT_ACK_TIMEOUT,
        };
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
        self.handle.session_host_id()
    }

    /// The user the socket's session was logged in as when the socket connected, `None`
    /// if none.
    #[getter]
    fn user_id(&self) -> Option<String> {
        self.handle.user_id()
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

    /// What the client sent when it connected.
    #[getter]
    fn handshake(&self) -> PyHandshake {
        PyHandshake {
            json: self.handle.handshake().to_json(),
        }
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
        let fut = self
            .emit_with_ack_future(event, args, timeout)
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
        let fut = self
            .emit_with_ack_future(event, args, timeout)
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    /// Joins a room; a name under core's reserved prefix (`sessionio:`) raises
    /// `InvalidValueError`.
    fn join(&self, py: Python<'_>, room: String) -> PyResult<()> {
        self.in_runtime(py, |h| h.join(room))?.or_raise(py)
    }

    /// Leaves a room; a name under core's reserved prefix (`sessionio:`) raises
    /// `InvalidValueError`.
    fn leave(&self, py: Python<'_>, room: &str) -> PyResult<()> {
        self.in_runtime(py, |h| h.leave(room))?.or_raise(py)
    }

    /// The rooms the socket joined (the engine's own rooms are not listed).
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

impl PyHandshake {
    fn field(&self, name: &str) -> &serde_json::Value {
        self.json.get(name).unwrap_or(&serde_json::Value::Null)
    }
}

#[pymethods]
impl PyHandshake {
    /// Headers of the connection's first HTTP request, lower-case names; repeated headers
    /// joined with ", " (`cookie` with "; ").
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::json_to_py(py, self.field("headers"))
    }

    /// Query parameters of that request: a repeated key gives a list of its values.
    #[getter]
    fn query(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::json_to_py(py, self.field("query"))
    }

    /// The `auth` object of the client's connect packet (`None` if it sent none).
    #[getter]
    fn auth(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::json_to_py(py, self.field("auth"))
    }

    /// When the socket connected, an aware UTC datetime.
    #[getter]
    fn time(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        datetime_from_ms(py, self.field("time").as_u64().unwrap_or(0))
    }

    /// The client's address, `None` when the server does not know it.
    #[getter]
    fn address(&self) -> Option<PyAddress> {
        let address = self.field("address");
        Some(PyAddress {
            ip: address.get("ip")?.as_str()?.to_owned(),
            port: u16::try_from(address.get("port")?.as_u64()?).ok()?,
        })
    }

    /// The handshake as core shapes it in every language: `{"headers", "query", "auth",
    /// "time" (unix ms), "address" ({"ip", "port"} or None)}`.
    fn as_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        convert::json_to_py(py, &self.json)
    }

    fn __repr__(&self) -> String {
        let address = self.field("address");
        let headers = self.field("headers").as_object().map_or(0, |h| h.len());
        format!("<sessionio.Handshake address={address} headers={headers}>")
    }
}

#[pymethods]
impl PyAddress {
    fn __repr__(&self) -> String {
        format!("Address(ip={:?}, port={})", self.ip, self.port)
    }
}
