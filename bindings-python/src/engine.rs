//! `SessionIo`: the engine handle. It owns a clone of `sessionio::SessionIo`, maps the
//! keyword options onto the core's builder, and serves Socket.IO on its own port.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use sessionio::http::Server;
use sessionio::{EventContext, HandlerError, Reply, SameSite, SessionIo, SocketHandle};

use crate::callbacks::{PyCallback, Runner};
use crate::convert;
use crate::errors::{Convert, Failure, OrRaise, ToPython};
use crate::runtime::{block_on, generation, into_awaitable, runtime};
use crate::session::{PyHttpSession, PySession};
use crate::socket::PySocket;

/// How long `close()` waits for the server to finish before it gives up on it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks `started_generation` when no server runs.
const NOT_STARTED: u64 = u64::MAX;

enum ServerState {
    Idle,
    Starting,
    Running {
        server: Arc<Server>,
        addr: SocketAddr,
    },
    Closed,
}

#[pyclass(subclass, frozen, name = "SessionIo", module = "sessionio._sessionio")]
pub struct Engine {
    io: SessionIo,
    host: String,
    port: u16,
    state: Arc<Mutex<ServerState>>,
    /// The fork generation the server was started in (`NOT_STARTED` if none).
    started_generation: Arc<AtomicU64>,
    runner: Runner,
}

fn secret_bytes(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, Failure> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    Err(Failure::config("a secret must be str or bytes"))
}

fn config_duration(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> Result<Option<Duration>, Failure> {
    obj.map(|o| convert::duration(o, what).map_err(Failure::config))
        .transpose()
}

fn parse_id(id: &str) -> Result<sessionio::SessionId, Failure> {
    Ok(SessionIo::parse_session_id(id)?)
}

fn lock(state: &Mutex<ServerState>) -> std::sync::MutexGuard<'_, ServerState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Refuses to use a server from a forked child: its threads, sockets and timers stayed
    /// in the parent.
    fn check_process(&self) -> Result<(), Failure> {
        let started = self.started_generation.load(Ordering::Acquire);
        if started != NOT_STARTED && started != generation() {
            return Err(Failure::server(
                "this SessionIo was started before fork(): its server, sockets and timers \
                 stayed in the parent process. Create and start a SessionIo in each worker \
                 after the fork (gunicorn: no --preload, or start it in post_fork)",
            ));
        }
        Ok(())
    }

    fn bind_addr(&self) -> Result<SocketAddr, Failure> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| Failure::server(format!("cannot resolve host {:?}: {e}", self.host)))?
            .next()
            .ok_or_else(|| Failure::server(format!("host {:?} has no address", self.host)))
    }

    /// Moves Idle → Starting; the server future then moves Starting → Running (or back).
    fn begin_start(
        &self,
    ) -> Result<impl std::future::Future<Output = Result<u16, Failure>> + Send + 'static, Failure>
    {
        self.check_process()?;
        let addr = self.bind_addr()?;
        {
            let mut state = lock(&self.state);
            match *state {
                ServerState::Idle => *state = ServerState::Starting,
                ServerState::Starting | ServerState::Running { .. } => {
                    return Err(Failure::server("sessionio is already started"))
                }
                ServerState::Closed => {
                    return Err(Failure::server(
                        "this SessionIo was closed; create a new one to serve again",
                    ))
                }
            }
        }
        let io = self.io.clone();
        let state = self.state.clone();
        let started_generation = self.started_generation.clone();
        Ok(async move {
            match io.serve(addr).await {
                Ok(server) => {
                    let addr = server.local_addr();
                    {
                        let mut state = lock(&state);
                        if matches!(*state, ServerState::Starting) {
                            started_generation.store(generation(), Ordering::Release);
                            *state = ServerState::Running {
                                server: Arc::new(server),
                                addr,
                            };
                            return Ok(addr.port());
                        }
                    }
                    // close() was called while binding: it wins.
                    server.close().await;
                    Err(Failure::server(
                        "sessionio was closed while it was starting",
                    ))
                }
                Err(e) => {
                    let mut state = lock(&state);
                    if matches!(*state, ServerState::Starting) {
                        *state = ServerState::Idle;
                    }
                    Err(e.into())
                }
            }
        })
    }

    fn close_future(
        &self,
    ) -> impl std::future::Future<Output = Result<(), Failure>> + Send + 'static {
        let running = {
            let mut state = lock(&self.state);
            // From Starting too: the start sees Closed when it has bound, and stops.
            match std::mem::replace(&mut *state, ServerState::Closed) {
                ServerState::Running { server, .. } => Some(server),
                _ => None,
            }
        };
        async move {
            if let Some(server) = running {
                if tokio::time::timeout(CLOSE_TIMEOUT, server.close())
                    .await
                    .is_err()
                {
                    tracing::warn!("sessionio server did not stop within {CLOSE_TIMEOUT:?}");
                }
            }
            Ok(())
        }
    }

    fn running_addr(&self) -> Result<SocketAddr, Failure> {
        match *lock(&self.state) {
            ServerState::Running { addr, .. } => Ok(addr),
            _ => Err(Failure::server(
                "sessionio is not started: call start() first",
            )),
        }
    }

    fn notify_future(
        &self,
        session_id: &str,
        event: String,
        data: &Bound<'_, PyAny>,
    ) -> Result<impl std::future::Future<Output = Result<usize, Failure>> + Send + 'static, Failure>
    {
        self.check_process()?;
        let id = parse_id(session_id)?;
        let data = convert::to_value(data)?;
        let io = self.io.clone();
        Ok(async move { Ok(io.notify_session(id, &event, &data).await?) })
    }

    fn destroy_future(
        &self,
        session_id: &str,
    ) -> Result<impl std::future::Future<Output = Result<usize, Failure>> + Send + 'static, Failure>
    {
        self.check_process()?;
        let id = parse_id(session_id)?;
        let io = self.io.clone();
        Ok(async move { Ok(io.destroy_session(id).await?) })
    }

    fn create_session_future(
        &self,
    ) -> Result<
        impl std::future::Future<Output = Result<PySession, Failure>> + Send + 'static,
        Failure,
    > {
        self.check_process()?;
        let io = self.io.clone();
        Ok(async move { Ok(PySession::new(io.create_session().await?)) })
    }

    fn session_future(
        &self,
        session_id: &str,
    ) -> Result<
        impl std::future::Future<Output = Result<PySession, Failure>> + Send + 'static,
        Failure,
    > {
        self.check_process()?;
        let id = parse_id(session_id)?;
        let io = self.io.clone();
        Ok(async move { Ok(PySession::new(io.session(id).await?)) })
    }

    fn http_session_future(
        &self,
        cookie_header: Option<String>,
    ) -> Result<
        impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static,
        Failure,
    > {
        self.check_process()?;
        let io = self.io.clone();
        Ok(async move {
            match io.http_session(cookie_header.as_deref()).await {
                Ok(found) => Ok(Convert(move |py: Python<'_>| {
                    PyHttpSession {
                        session: Py::new(py, PySession::new(found.session))?,
                        set_cookie: found.set_cookie,
                    }
                    .into_py_any(py)
                })),
                Err(refusal) => Err(Failure::Refused {
                    refusal,
                    clear_cookie: refusal.clears_cookie().then(|| io.clear_cookie()),
                }),
            }
        })
    }

    fn callback(&self, func: Py<PyAny>, is_async: bool) -> PyCallback {
        PyCallback::new(func, is_async, self.runner.clone())
    }
}

fn socket_arg(py: Python<'_>, socket: SocketHandle) -> PyResult<Py<PyAny>> {
    PySocket::new(socket).into_py_any(py)
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (
        *,
        secret = None,
        secrets = None,
        port = 0,
        host = "127.0.0.1".to_owned(),
        ttl = None,
        allowed_origins = None,
        allow_any_origin = false,
        allow_anonymous = false,
        token_auth = true,
        extend_on_socket_activity = true,
        max_connections_per_session = None,
        cookie_name = None,
        cookie_secure = true,
        same_site = None,
        cookie_path = None,
        cookie_domain = None,
        store = None,
        adapter = None,
        path = None,
        namespaces = None,
        ping_interval = None,
        ping_timeout = None,
        connect_timeout = None,
        max_payload = None,
        max_buffer_size = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        secret: Option<&Bound<'_, PyAny>>,
        secrets: Option<&Bound<'_, PyAny>>,
        port: u16,
        host: String,
        ttl: Option<&Bound<'_, PyAny>>,
        allowed_origins: Option<Vec<String>>,
        allow_any_origin: bool,
        allow_anonymous: bool,
        token_auth: bool,
        extend_on_socket_activity: bool,
        max_connections_per_session: Option<usize>,
        cookie_name: Option<String>,
        cookie_secure: bool,
        same_site: Option<String>,
        cookie_path: Option<String>,
        cookie_domain: Option<String>,
        store: Option<String>,
        adapter: Option<String>,
        path: Option<String>,
        namespaces: Option<Vec<String>>,
        ping_interval: Option<&Bound<'_, PyAny>>,
        ping_timeout: Option<&Bound<'_, PyAny>>,
        connect_timeout: Option<&Bound<'_, PyAny>>,
        max_payload: Option<u64>,
        max_buffer_size: Option<usize>,
    ) -> PyResult<Self> {
        let build = || -> Result<SessionIo, Failure> {
            let mut b = SessionIo::builder();
            match (secret, secrets) {
                (Some(_), Some(_)) => {
                    return Err(Failure::config("pass secret or secrets, not both"))
                }
                (Some(s), None) => b = b.secret(secret_bytes(s)?),
                (None, Some(list)) => {
                    if list.is_instance_of::<PyString>() || list.is_instance_of::<PyBytes>() {
                        return Err(Failure::config(
                            "secrets must be a list of secrets; use secret= for one",
                        ));
                    }
                    let mut all = Vec::new();
                    for s in list.try_iter()? {
                        all.push(secret_bytes(&s?)?);
                    }
                    b = b.secrets(all);
                }
                (None, None) => {}
            }
            if let Some(ttl) = config_duration(ttl, "ttl")? {
                b = b.ttl(ttl);
            }
            if let Some(origins) = allowed_origins {
                b = b.allowed_origins(origins);
            }
            if allow_any_origin {
                b = b.allow_any_origin();
            }
            b = b
                .allow_anonymous(allow_anonymous)
                .token_auth(token_auth)
                .extend_on_socket_activity(extend_on_socket_activity)
                .cookie_secure(cookie_secure);
            if let Some(n) = max_connections_per_session {
                b = b.max_connections_per_session(n);
            }
            if let Some(name) = cookie_name {
                b = b.cookie_name(name);
            }
            if let Some(s) = same_site {
                b = b.cookie_same_site(match s.to_ascii_lowercase().as_str() {
                    "lax" => SameSite::Lax,
                    "strict" => SameSite::Strict,
                    "none" => SameSite::None,
                    _ => {
                        return Err(Failure::config(format!(
                            "same_site must be \"lax\", \"strict\" or \"none\", not {s:?}"
                        )))
                    }
                });
            }
            if let Some(p) = cookie_path {
                b = b.cookie_path(p);
            }
            if let Some(d) = cookie_domain {
                b = b.cookie_domain(d);
            }
            if let Some(url) = store {
                b = b.store_url(url);
            }
            if let Some(url) = adapter {
                b = b.adapter_url(url);
            }
            if let Some(p) = path {
                b = b.path(p);
            }
            if let Some(ns) = namespaces {
                b = b.namespaces(ns);
            }
            if let Some(d) = config_duration(ping_interval, "ping_interval")? {
                b = b.ping_interval(d);
            }
            if let Some(d) = config_duration(ping_timeout, "ping_timeout")? {
                b = b.ping_timeout(d);
            }
            if let Some(d) = config_duration(connect_timeout, "connect_timeout")? {
                b = b.connect_timeout(d);
            }
            if let Some(n) = max_payload {
                b = b.max_payload(n);
            }
            if let Some(n) = max_buffer_size {
                b = b.max_buffer_size(n);
            }
            Ok(b.build()?)
        };
        let io = build().or_raise(py)?;
        Ok(Engine {
            io,
            host,
            port,
            state: Arc::new(Mutex::new(ServerState::Idle)),
            started_generation: Arc::new(AtomicU64::new(NOT_STARTED)),
            runner: Arc::new(RwLock::new(None)),
        })
    }

    /// Binds and serves Socket.IO (await it); resolves to the bound port.
    fn _serve<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.begin_start().or_raise(py)?)
    }

    /// Binds and serves Socket.IO; returns the bound port.
    fn _serve_sync(&self, py: Python<'_>) -> PyResult<u16> {
        let fut = self.begin_start().or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// Disconnects every socket and stops the server.
    fn _close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.check_process().or_raise(py)?;
        into_awaitable(py, self.close_future())
    }

    fn _close_sync(&self, py: Python<'_>) -> PyResult<()> {
        self.check_process().or_raise(py)?;
        block_on(py, self.close_future()).or_raise(py)?.or_raise(py)
    }

    /// Sets where `async def` callbacks run (a `LoopRunner`).
    fn _set_runner(&self, runner: Py<PyAny>) {
        *self.runner.write().unwrap_or_else(|p| p.into_inner()) = Some(runner);
    }

    /// Whether the server runs.
    #[getter]
    fn started(&self) -> bool {
        matches!(*lock(&self.state), ServerState::Running { .. })
    }

    /// The bound port (after start).
    #[getter]
    fn port(&self, py: Python<'_>) -> PyResult<u16> {
        Ok(self.running_addr().or_raise(py)?.port())
    }

    /// The Socket.IO server's URL, e.g. `http://127.0.0.1:3001` (after start).
    #[getter]
    fn url(&self, py: Python<'_>) -> PyResult<String> {
        let addr = self.running_addr().or_raise(py)?;
        let ip = match addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        Ok(format!("http://{ip}:{}", addr.port()))
    }

    /// The session cookie's name.
    #[getter]
    fn cookie_name(&self) -> String {
        self.io.config().cookie.name.clone()
    }

    #[pyo3(signature = (session_id, event, data=None))]
    fn notify_session<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
        event: String,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let none = py.None().into_bound(py);
        let fut = self
            .notify_future(session_id, event, data.unwrap_or(&none))
            .or_raise(py)?;
        into_awaitable(py, fut)
    }

    #[pyo3(signature = (session_id, event, data=None))]
    fn notify_session_sync(
        &self,
        py: Python<'_>,
        session_id: &str,
        event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let none = py.None().into_bound(py);
        let fut = self
            .notify_future(session_id, event, data.unwrap_or(&none))
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    fn destroy_session<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.destroy_future(session_id).or_raise(py)?)
    }

    fn destroy_session_sync(&self, py: Python<'_>, session_id: &str) -> PyResult<usize> {
        let fut = self.destroy_future(session_id).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// A signed token for clients without cookies (`auth: {token}`), valid for `ttl`.
    fn issue_token(
        &self,
        py: Python<'_>,
        session_id: &str,
        ttl: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let id = parse_id(session_id).or_raise(py)?;
        let ttl = convert::duration(ttl, "ttl")
            .map_err(Failure::invalid_value)
            .or_raise(py)?;
        self.io.issue_token(id, ttl).or_raise(py)
    }

    fn create_session<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.create_session_future().or_raise(py)?)
    }

    fn create_session_sync(&self, py: Python<'_>) -> PyResult<PySession> {
        let fut = self.create_session_future().or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    fn session<'py>(&self, py: Python<'py>, session_id: &str) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.session_future(session_id).or_raise(py)?)
    }

    fn session_sync(&self, py: Python<'_>, session_id: &str) -> PyResult<PySession> {
        let fut = self.session_future(session_id).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    #[pyo3(signature = (cookie_header=None))]
    fn http_session<'py>(
        &self,
        py: Python<'py>,
        cookie_header: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.http_session_future(cookie_header).or_raise(py)?)
    }

    #[pyo3(signature = (cookie_header=None))]
    fn http_session_sync(
        &self,
        py: Python<'_>,
        cookie_header: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let fut = self.http_session_future(cookie_header).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    /// The `Set-Cookie` value that stores this session's cookie.
    fn set_cookie(&self, py: Python<'_>, session_id: &str) -> PyResult<String> {
        Ok(self.io.set_cookie(parse_id(session_id).or_raise(py)?))
    }

    /// The `Set-Cookie` value that removes the session cookie.
    fn clear_cookie(&self) -> String {
        self.io.clear_cookie()
    }

    /// Live counters: `sockets` connected, `sessions_with_sockets`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.io.stats();
        let d = PyDict::new(py);
        d.set_item("sockets", s.sockets)?;
        d.set_item("sessions_with_sockets", s.sessions_with_sockets)?;
        Ok(d)
    }

    fn _on(&self, event: String, handler: Py<PyAny>, is_async: bool) {
        let callback = self.callback(handler, is_async);
        self.io.on(event, move |ctx: EventContext| {
            let callback = callback.clone();
            async move {
                let socket = ctx.socket().clone();
                let args = ctx.args().to_vec();
                let value = callback
                    .call(move |py| {
                        let mut items = Vec::with_capacity(args.len() + 1);
                        items.push(socket_arg(py, socket)?);
                        for a in &args {
                            items.push(convert::value_to_py(py, a)?);
                        }
                        PyTuple::new(py, items)
                    })
                    .await
                    .map_err(HandlerError::new)?;
                Ok(Reply::args(vec![value]))
            }
        });
    }

    fn _use(&self, middleware: Py<PyAny>, is_async: bool) {
        let callback = self.callback(middleware, is_async);
        self.io.use_event(move |ctx: EventContext| {
            let callback = callback.clone();
            async move {
                let socket = ctx.socket().clone();
                let event = ctx.event().to_owned();
                let args = ctx.args().to_vec();
                callback
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
                    .map_err(HandlerError::new)
            }
        });
    }

    fn _on_connection(&self, callback: Py<PyAny>, is_async: bool) {
        let callback = self.callback(callback, is_async);
        self.io.on_connection(move |socket: SocketHandle| {
            let callback = callback.clone();
            async move {
                let outcome = callback
                    .call(move |py| PyTuple::new(py, [socket_arg(py, socket)?]))
                    .await;
                if let Err(message) = outcome {
                    // The Python layer already logged an exception the callback raised.
                    tracing::debug!(%message, "on_connection callback failed");
                }
            }
        });
    }

    fn __repr__(&self) -> String {
        match *lock(&self.state) {
            ServerState::Running { addr, .. } => format!("<sessionio.SessionIo serving {addr}>"),
            ServerState::Closed => "<sessionio.SessionIo closed>".into(),
            _ => "<sessionio.SessionIo not started>".into(),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let state = std::mem::replace(&mut *lock(&self.state), ServerState::Closed);
        let ServerState::Running { server, .. } = state else {
            return;
        };
        if self.started_generation.load(Ordering::Acquire) != generation() {
            // A forked child: the server's threads are not here; never touch it.
            std::mem::forget(server);
            return;
        }
        // Dropped without close(): stop the server in the background.
        if let Ok(rt) = runtime() {
            rt.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, server.close()).await;
            });
        }
    }
}
