//! The calls a host app makes on the engine, typically from its HTTP handlers: notify or
//! destroy a session, open or create one, resolve a request's cookie, issue a token, write
//! the cookie, read the live counters. The calls that reach the running engine are refused
//! in a forked child.

use std::future::Future;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;
use sessionio::{SessionId, SessionIo};

use crate::convert;
use crate::errors::{Convert, Failure, ToPython};
use crate::fork_guard::ForkGuard;
use crate::http_outcome::PyHttpOutcome;
use crate::session::{PyHttpSession, PySession};

/// The engine as the host app's code sees it.
pub struct HostCalls {
    io: SessionIo,
    fork_guard: ForkGuard,
}

impl HostCalls {
    pub fn new(io: SessionIo, fork_guard: ForkGuard) -> Self {
        HostCalls { io, fork_guard }
    }

    /// The engine's id for an id the host passes: core's `host::resolve_id`.
    fn resolve_id(&self, id: &str) -> Result<SessionId, Failure> {
        Ok(sessionio::host::resolve_id(&self.io, id)?)
    }

    /// Emits `event` with `data` to every socket of the session; resolves to how many.
    pub fn notify(
        &self,
        session_id: &str,
        event: String,
        data: &Bound<'_, PyAny>,
    ) -> Result<impl Future<Output = Result<usize, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let id = self.resolve_id(session_id)?;
        let data = convert::to_value(data)?;
        let io = self.io.clone();
        Ok(async move { Ok(io.notify_session(id, &event, &data).await?) })
    }

    /// Deletes the session and disconnects its sockets; resolves to how many.
    pub fn destroy(
        &self,
        session_id: &str,
    ) -> Result<impl Future<Output = Result<usize, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let id = self.resolve_id(session_id)?;
        let io = self.io.clone();
        Ok(async move { Ok(io.destroy_session(id).await?) })
    }

    pub fn create_session(
        &self,
    ) -> Result<impl Future<Output = Result<PySession, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move { Ok(PySession::new(io.create_session().await?)) })
    }

    /// A handle on an existing session.
    pub fn session(
        &self,
        session_id: &str,
    ) -> Result<impl Future<Output = Result<PySession, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let id = self.resolve_id(session_id)?;
        let io = self.io.clone();
        Ok(async move { Ok(PySession::new(io.session(id).await?)) })
    }

    /// What a request's `Cookie` header resolves to: an `HttpSession`, or `SessionRefused`
    /// (core's `host::http_request`, its outcome split; the cookies are core's). A request
    /// without a cookie gets its new session stored at once (`save()`): the caller sends
    /// the `Set-Cookie` read here, not at response start as the middlewares do.
    pub fn http_session(
        &self,
        cookie_header: Option<String>,
    ) -> Result<impl Future<Output = Result<impl ToPython, Failure>> + Send + 'static, Failure>
    {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move {
            let outcome = sessionio::host::http_request(&io, cookie_header.as_deref()).await;
            if let Some(session) = outcome.session() {
                session.save().await?;
            }
            let set_cookie = outcome.set_cookie();
            match (outcome.session().cloned(), outcome.refusal()) {
                (Some(session), _) => Ok(Convert(move |py: Python<'_>| {
                    PyHttpSession {
                        session: Py::new(py, PySession::new(session))?,
                        set_cookie,
                    }
                    .into_py_any(py)
                })),
                (None, Some(refusal)) => Err(Failure::Refused {
                    refusal,
                    clear_cookie: set_cookie,
                }),
                (None, None) => Err(Failure::server(
                    "an HTTP outcome without a session or a refusal",
                )),
            }
        })
    }

    /// What a request's `Cookie` header resolves to, with the `Set-Cookie` its response
    /// carries: core's `host::http_request`.
    pub fn http_request(
        &self,
        cookie_header: Option<String>,
    ) -> Result<impl Future<Output = Result<PyHttpOutcome, Failure>> + Send + 'static, Failure>
    {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move {
            let outcome = sessionio::host::http_request(&io, cookie_header.as_deref()).await;
            Ok(PyHttpOutcome::new(outcome))
        })
    }

    /// A signed token for clients without cookies (`auth: {token}`), valid for `ttl`.
    pub fn issue_token(&self, session_id: &str, ttl: &Bound<'_, PyAny>) -> Result<String, Failure> {
        let id = self.resolve_id(session_id)?;
        let ttl = convert::duration(ttl, "ttl").map_err(Failure::invalid_value)?;
        Ok(self.io.issue_token(id, ttl)?)
    }

    /// The `Set-Cookie` value that stores this session's cookie.
    pub fn set_cookie(&self, session_id: &str) -> Result<String, Failure> {
        Ok(sessionio::host::set_cookie(
            &self.io,
            self.resolve_id(session_id)?,
        ))
    }

    /// Core's cross-site request forgery check: the refusal, if any.
    pub fn check_request_site(
        &self,
        method: &str,
        origin: Option<&str>,
        fetch_site: Option<&str>,
        host: Option<&str>,
    ) -> Option<sessionio::Refusal> {
        sessionio::host::check_request_site(&self.io, method, origin, fetch_site, host)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        sessionio::host::clear_cookie(&self.io)
    }

    pub fn cookie_name(&self) -> String {
        self.io.config().cookie.name.clone()
    }

    /// Live counters: `sockets` connected, `sessions_with_sockets`.
    pub fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.io.stats();
        let d = PyDict::new(py);
        d.set_item("sockets", s.sockets)?;
        d.set_item("sessions_with_sockets", s.sessions_with_sockets)?;
        Ok(d)
    }
}
