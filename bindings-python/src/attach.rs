//! Socket.IO on the ASGI app's own port (core's `Attached`): `sessionio.asgi`'s
//! `SocketIOMiddleware` forwards polling requests and relays websocket messages through a
//! core [`Bridge`]. Which requests are the engine's, the body limit, every answer and
//! every refusal come from core; Python only passes bytes and messages.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use pyo3::IntoPyObjectExt;
use sessionio::http::{Attached, Bridge, BridgeMessage, Forwarded};
use sessionio::SessionIo;

use crate::errors::{Convert, Failure, ToPython};

/// The engine's [`Attached`], once the middleware attached it.
#[derive(Default)]
pub struct AttachedState(Mutex<State>);

#[derive(Default)]
struct State {
    attached: Option<Arc<Attached>>,
    closed: bool,
}

impl AttachedState {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self) -> Result<Arc<Attached>, Failure> {
        self.state().attached.clone().ok_or_else(|| {
            Failure::server("sessionio is not attached to an ASGI app (use SocketIOMiddleware)")
        })
    }

    /// Makes the engine servable through the ASGI app (once); a future for the caller to
    /// await (it waits for the engine's store and adapter first).
    pub fn attach(
        self: &Arc<Self>,
        io: &SessionIo,
    ) -> impl std::future::Future<Output = Result<(), Failure>> + Send + 'static {
        let this = self.clone();
        let io = io.clone();
        async move {
            io.ready().await?;
            let mut state = this.state();
            if state.closed {
                return Err(Failure::server("this SessionIo was closed"));
            }
            if state.attached.is_none() {
                state.attached = Some(Arc::new(io.attach()?));
            }
            Ok(())
        }
    }

    pub fn serves(&self, target: &str) -> bool {
        self.state()
            .attached
            .as_ref()
            .is_some_and(|attached| attached.serves(target))
    }

    /// For `close`: the attached engine, after which nothing attaches again.
    pub fn take(&self) -> Option<Arc<Attached>> {
        let mut state = self.state();
        state.closed = true;
        state.attached.take()
    }

    pub fn forward(
        &self,
        request_id: u64,
        method: String,
        target: String,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        client: Option<(String, u16)>,
    ) -> Result<impl std::future::Future<Output = Result<Answer, Failure>> + Send + 'static, Failure>
    {
        let attached = self.get()?;
        Ok(async move {
            let forwarded = attached
                .forward(
                    request_id,
                    &method,
                    &target,
                    headers,
                    body.into(),
                    peer(client),
                )
                .await;
            Ok(Answer(forwarded))
        })
    }

    pub fn cancel_forward(&self, request_id: u64) {
        if let Some(attached) = &self.state().attached {
            attached.give_up(request_id);
        }
    }
}

/// The client's address as the ASGI scope gives it (`None` over a Unix socket).
fn peer(client: Option<(String, u16)>) -> SocketAddr {
    let (ip, port) = client
        .and_then(|(host, port)| Some((host.parse::<IpAddr>().ok()?.to_canonical(), port)))
        .unwrap_or((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    SocketAddr::new(ip, port)
}

/// The engine's answer, for Python as `(status, [(name, value)], body)` with bytes, as ASGI
/// sends them.
pub struct Answer(Forwarded);

impl ToPython for Answer {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        response_to_py(py, self.0)
    }
}

/// A bridged websocket, or the engine's refusal of it.
pub enum Opened {
    Bridge(Bridge),
    Refused(Forwarded),
}

impl ToPython for Opened {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Opened::Bridge(bridge) => PyBridge(Arc::new(bridge)).into_py_any(py),
            Opened::Refused(refused) => response_to_py(py, refused),
        }
    }
}

fn response_to_py(py: Python<'_>, forwarded: Forwarded) -> PyResult<Py<PyAny>> {
    let headers: Vec<(Py<PyBytes>, Py<PyBytes>)> = forwarded
        .headers
        .iter()
        .map(|(n, v)| {
            (
                PyBytes::new(py, n.as_bytes()).unbind(),
                PyBytes::new(py, v.as_bytes()).unbind(),
            )
        })
        .collect();
    let body = PyBytes::new(py, &forwarded.body).unbind();
    (forwarded.status, headers, body).into_py_any(py)
}

/// Opens a bridged websocket: a [`PyBridge`], or the engine's refusal.
pub async fn bridge(
    attached: Arc<Attached>,
    target: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    client: Option<(String, u16)>,
) -> Result<Opened, Failure> {
    Ok(
        match attached.bridge(&target, headers, peer(client)).await {
            Ok(bridge) => Opened::Bridge(bridge),
            Err(refused) => Opened::Refused(refused),
        },
    )
}

/// A websocket relayed between the ASGI server's connection and the engine.
#[pyclass(frozen, name = "Bridge", module = "sessionio._sessionio")]
pub struct PyBridge(Arc<Bridge>);

#[pymethods]
impl PyBridge {
    /// Passes a client message (`str` for text, `bytes` for binary) to the engine.
    fn send<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let message = if let Ok(text) = message.cast::<PyString>() {
            BridgeMessage::Text(text.to_str()?.to_owned())
        } else if let Ok(data) = message.cast::<PyBytes>() {
            BridgeMessage::Binary(data.as_bytes().to_vec().into())
        } else {
            return Err(Failure::invalid_value(
                "invalid value: a websocket message is str or bytes",
            )
            .into_pyerr(py));
        };
        let bridge = self.0.clone();
        crate::runtime::into_awaitable(py, async move { Ok(bridge.send(message).await?) })
    }

    /// The engine's next message (`str` or `bytes`); `None` once it closed the websocket.
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let bridge = self.0.clone();
        crate::runtime::into_awaitable(py, async move {
            let message = bridge.recv().await;
            Ok(Convert(move |py: Python<'_>| match message {
                Some(BridgeMessage::Text(text)) => text.into_py_any(py),
                Some(BridgeMessage::Binary(data)) => PyBytes::new(py, &data).into_py_any(py),
                None => Ok(py.None()),
            }))
        })
    }

    /// Closes the websocket from the client's side.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let bridge = self.0.clone();
        crate::runtime::into_awaitable(py, async move {
            bridge.close().await;
            Ok(())
        })
    }
}
