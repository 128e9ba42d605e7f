//! `SessionIo`: the Python class of the engine. It holds a clone of `sessionio::SessionIo`
//! and lists the methods Python sees; each one hands over to the module of its concern:
//! `options` (the keywords), `server` (start, close, state), `attach` (Socket.IO on the
//! ASGI app's port), `host_calls` (notify, destroy, sessions, users, tokens, cookies) and
//! `handlers` (`_on`, `_use`, `_on_connection`).

use std::sync::{Arc, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use sessionio::SessionIo;

use crate::attach::{self, AttachedState};
use crate::callbacks::{PyCallback, Runner};
use crate::errors::{Failure, OrRaise, ToPython};
use crate::fork_guard::ForkGuard;
use crate::handlers;
use crate::host_calls::{HostCalls, RequestClient};
use crate::http_outcome::PyHttpOutcome;
use crate::options;
use crate::runtime::{block_on, into_awaitable};
use crate::server::Server;
use crate::session::PySession;

#[pyclass(subclass, frozen, name = "SessionIo", module = "sessionio._sessionio")]
pub struct Engine {
    io: SessionIo,
    server: Server,
    attached: Arc<AttachedState>,
    host_calls: HostCalls,
    runner: Runner,
}

impl Engine {
    fn callback(&self, func: Py<PyAny>, is_async: bool) -> PyCallback {
        PyCallback::new(func, is_async, self.runner.clone())
    }

    /// Closes the engine's own server and its serving through the ASGI app.
    fn close_all(&self) -> impl std::future::Future<Output = Result<(), Failure>> + Send + 'static {
        let server = self.server.close();
        let attached = self.attached.take();
        async move {
            server.await?;
            if let Some(attached) = attached {
                attached.close().await;
            }
            Ok(())
        }
    }
}

#[pymethods]
impl Engine {
    /// Keyword options only; see `options` and the class's docstring.
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options::Configured { io, addr } = options::configure(options).or_raise(py)?;
        let fork_guard = ForkGuard::new();
        Ok(Engine {
            server: Server::new(io.clone(), addr, fork_guard.clone()),
            attached: Arc::default(),
            host_calls: HostCalls::new(io.clone(), fork_guard),
            io,
            runner: Arc::new(RwLock::new(None)),
        })
    }

    /// Binds and serves Socket.IO (await it); resolves to the bound port.
    fn _serve<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.server.start().or_raise(py)?)
    }

    /// Binds and serves Socket.IO; returns the bound port.
    fn _serve_sync(&self, py: Python<'_>) -> PyResult<u16> {
        let fut = self.server.start().or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// Disconnects every socket, stops the server and the serving through the ASGI app.
    fn _close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.server.check_process().or_raise(py)?;
        into_awaitable(py, self.close_all())
    }

    fn _close_sync(&self, py: Python<'_>) -> PyResult<()> {
        self.server.check_process().or_raise(py)?;
        block_on(py, self.close_all()).or_raise(py)?.or_raise(py)
    }

    /// Serves Socket.IO through the ASGI app (await it once; `SocketIOMiddleware` does).
    fn _attach<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.server.check_process().or_raise(py)?;
        into_awaitable(py, self.attached.attach(&self.io))
    }

    /// Whether a request target (raw path and query) is the engine's.
    fn _serves(&self, target: &str) -> bool {
        self.attached.serves(target)
    }

    /// The most body bytes the middleware reads of a forwarded request (one more at most).
    #[getter]
    fn _max_body_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.attached.get().or_raise(py)?.max_body_bytes())
    }

    /// Answers a request under the engine path: `(status, headers, body)`, bytes as ASGI
    /// sends them. `request_id` names it for `_cancel_forward`.
    #[allow(clippy::too_many_arguments)]
    fn _forward<'py>(
        &self,
        py: Python<'py>,
        request_id: u64,
        method: String,
        target: String,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        client: Option<(String, u16)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.server.check_process().or_raise(py)?;
        let fut = self
            .attached
            .forward(request_id, method, target, headers, body, client)
            .or_raise(py)?;
        into_awaitable(py, fut)
    }

    /// Gives up a forwarded request whose client went away.
    fn _cancel_forward(&self, request_id: u64) {
        self.attached.cancel_forward(request_id);
    }

    /// Opens a websocket to the engine for an ASGI websocket: a `Bridge`, or the refusal
    /// as `(status, headers, body)`.
    fn _bridge<'py>(
        &self,
        py: Python<'py>,
        target: String,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        client: Option<(String, u16)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.server.check_process().or_raise(py)?;
        let attached = self.attached.get().or_raise(py)?;
        into_awaitable(py, attach::bridge(attached, target, headers, client))
    }

    /// Sets where `async def` callbacks run (a `LoopRunner`).
    fn _set_runner(&self, runner: Py<PyAny>) {
        *self.runner.write().unwrap_or_else(|p| p.into_inner()) = Some(runner);
    }

    /// Whether the server runs.
    #[getter]
    fn started(&self) -> bool {
        self.server.is_running()
    }

    /// The bound port (after start).
    #[getter]
    fn port(&self, py: Python<'_>) -> PyResult<u16> {
        Ok(self.server.running_addr().or_raise(py)?.port())
    }

    /// The Socket.IO server's URL, e.g. `http://127.0.0.1:3001` (after start).
    #[getter]
    fn url(&self, py: Python<'_>) -> PyResult<String> {
        self.server.url().or_raise(py)
    }

    /// The session cookie's name.
    #[getter]
    fn cookie_name(&self) -> String {
        self.host_calls.cookie_name()
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
            .host_calls
            .notify(session_id, event, data.unwrap_or(&none))
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
            .host_calls
            .notify(session_id, event, data.unwrap_or(&none))
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    fn destroy_session<'py>(
        &self,
        py: Python<'py>,
        session_id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.host_calls.destroy(session_id).or_raise(py)?)
    }

    fn destroy_session_sync(&self, py: Python<'_>, session_id: &str) -> PyResult<usize> {
        let fut = self.host_calls.destroy(session_id).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// Emits `event` with `data` to every socket of every session logged in as `user_id`;
    /// resolves to how many sockets it reached on this node.
    #[pyo3(signature = (user_id, event, data=None))]
    fn notify_user<'py>(
        &self,
        py: Python<'py>,
        user_id: String,
        event: String,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let none = py.None().into_bound(py);
        let fut = self
            .host_calls
            .notify_user(user_id, event, data.unwrap_or(&none))
            .or_raise(py)?;
        into_awaitable(py, fut)
    }

    #[pyo3(signature = (user_id, event, data=None))]
    fn notify_user_sync(
        &self,
        py: Python<'_>,
        user_id: String,
        event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let none = py.None().into_bound(py);
        let fut = self
            .host_calls
            .notify_user(user_id, event, data.unwrap_or(&none))
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// Destroys every session logged in as `user_id` but `except_session` (a session id);
    /// resolves to how many live sessions it destroyed.
    #[pyo3(signature = (user_id, except_session=None))]
    fn destroy_user<'py>(
        &self,
        py: Python<'py>,
        user_id: String,
        except_session: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self
            .host_calls
            .destroy_user(user_id, except_session)
            .or_raise(py)?;
        into_awaitable(py, fut)
    }

    #[pyo3(signature = (user_id, except_session=None))]
    fn destroy_user_sync(
        &self,
        py: Python<'_>,
        user_id: String,
        except_session: Option<&str>,
    ) -> PyResult<usize> {
        let fut = self
            .host_calls
            .destroy_user(user_id, except_session)
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// The live sessions logged in as `user_id` (`UserSession`s), oldest login first.
    fn user_sessions<'py>(&self, py: Python<'py>, user_id: String) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.host_calls.user_sessions(user_id).or_raise(py)?)
    }

    fn user_sessions_sync(&self, py: Python<'_>, user_id: String) -> PyResult<Py<PyAny>> {
        let fut = self.host_calls.user_sessions(user_id).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    /// Destroys the session of `user_id` that `handle` names; resolves to whether the user
    /// had one.
    fn destroy_user_session<'py>(
        &self,
        py: Python<'py>,
        user_id: String,
        handle: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self
            .host_calls
            .destroy_user_session(user_id, handle)
            .or_raise(py)?;
        into_awaitable(py, fut)
    }

    fn destroy_user_session_sync(
        &self,
        py: Python<'_>,
        user_id: String,
        handle: String,
    ) -> PyResult<bool> {
        let fut = self
            .host_calls
            .destroy_user_session(user_id, handle)
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// What the store's user index holds: `{"users": n, "sessions": m}`.
    fn user_index_size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.host_calls.user_index_size().or_raise(py)?)
    }

    fn user_index_size_sync(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let fut = self.host_calls.user_index_size().or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    /// A signed token for clients without cookies (`auth: {token}`), valid for `ttl`.
    fn issue_token(
        &self,
        py: Python<'_>,
        session_id: &str,
        ttl: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        self.host_calls.issue_token(session_id, ttl).or_raise(py)
    }

    fn create_session<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.host_calls.create_session().or_raise(py)?)
    }

    fn create_session_sync(&self, py: Python<'_>) -> PyResult<PySession> {
        let fut = self.host_calls.create_session().or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    fn session<'py>(&self, py: Python<'py>, session_id: &str) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.host_calls.session(session_id).or_raise(py)?)
    }

    fn session_sync(&self, py: Python<'_>, session_id: &str) -> PyResult<PySession> {
        let fut = self.host_calls.session(session_id).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    /// What a request's `Cookie` header resolves to: an `HttpOutcome` (session or
    /// refusal, and the response's `Set-Cookie`). `user_agent` and `address` report who
    /// made the request (its `User-Agent` header and the client address as the server
    /// gives it), which `Session.login()` records for the user's list of sessions.
    #[pyo3(signature = (cookie_header=None, *, user_agent=None, address=None))]
    fn http_request<'py>(
        &self,
        py: Python<'py>,
        cookie_header: Option<String>,
        user_agent: Option<String>,
        address: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = RequestClient {
            user_agent,
            address,
        };
        into_awaitable(
            py,
            self.host_calls
                .http_request(cookie_header, client)
                .or_raise(py)?,
        )
    }

    #[pyo3(signature = (cookie_header=None, *, user_agent=None, address=None))]
    fn http_request_sync(
        &self,
        py: Python<'_>,
        cookie_header: Option<String>,
        user_agent: Option<String>,
        address: Option<String>,
    ) -> PyResult<PyHttpOutcome> {
        let client = RequestClient {
            user_agent,
            address,
        };
        let fut = self
            .host_calls
            .http_request(cookie_header, client)
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    #[pyo3(signature = (cookie_header=None, *, user_agent=None, address=None))]
    fn http_session<'py>(
        &self,
        py: Python<'py>,
        cookie_header: Option<String>,
        user_agent: Option<String>,
        address: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = RequestClient {
            user_agent,
            address,
        };
        into_awaitable(
            py,
            self.host_calls
                .http_session(cookie_header, client)
                .or_raise(py)?,
        )
    }

    #[pyo3(signature = (cookie_header=None, *, user_agent=None, address=None))]
    fn http_session_sync(
        &self,
        py: Python<'_>,
        cookie_header: Option<String>,
        user_agent: Option<String>,
        address: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let client = RequestClient {
            user_agent,
            address,
        };
        let fut = self
            .host_calls
            .http_session(cookie_header, client)
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    /// The `Set-Cookie` value that stores this session's cookie.
    fn set_cookie(&self, py: Python<'_>, session_id: &str) -> PyResult<String> {
        self.host_calls.set_cookie(session_id).or_raise(py)
    }

    /// The cross-site request forgery check the HTTP middlewares run first: `None`, or
    /// the `SessionRefused` to answer (403 `origin not allowed`, no cookie change).
    #[pyo3(signature = (method, origin=None, fetch_site=None, host=None))]
    fn check_request_site(
        &self,
        py: Python<'_>,
        method: &str,
        origin: Option<&str>,
        fetch_site: Option<&str>,
        host: Option<&str>,
    ) -> Option<Py<PyAny>> {
        let refusal = self
            .host_calls
            .check_request_site(method, origin, fetch_site, host)?;
        let error = Failure::Refused {
            refusal,
            clear_cookie: None,
        }
        .into_pyerr(py);
        Some(error.value(py).clone().into_any().unbind())
    }

    /// The `Set-Cookie` value that removes the session cookie.
    fn clear_cookie(&self) -> String {
        self.host_calls.clear_cookie()
    }

    /// Live counters: `sockets` connected, `sessions_with_sockets`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.host_calls.stats(py)
    }

    /// Every counter in the Prometheus text format, for a `/metrics` route.
    fn metrics_text(&self) -> String {
        self.io.metrics_text()
    }

    fn _on(&self, event: String, handler: Py<PyAny>, is_async: bool) {
        handlers::on_event(&self.io, event, self.callback(handler, is_async));
    }

    fn _use(&self, middleware: Py<PyAny>, is_async: bool) {
        handlers::use_event(&self.io, self.callback(middleware, is_async));
    }

    fn _on_connection(&self, callback: Py<PyAny>, is_async: bool) {
        handlers::on_connection(&self.io, self.callback(callback, is_async));
    }

    fn __repr__(&self) -> String {
        format!("<sessionio.SessionIo {}>", self.server.describe())
    }
}
