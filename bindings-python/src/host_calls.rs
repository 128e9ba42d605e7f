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
use crate::users::UserSessions;

/// Who made an HTTP request, as the host's server gives it: its `User-Agent` header and
/// the client's address (core parses it), for the user's list of sessions.
pub struct RequestClient {
    pub user_agent: Option<String>,
    pub address: Option<String>,
}

impl RequestClient {
    /// Reports the client to the request's outcome (core's `HttpOutcome::set_client`);
    /// nothing when the host gave neither.
    fn report(&self, outcome: &sessionio::host::HttpOutcome) {
        if self.user_agent.is_some() || self.address.is_some() {
            outcome.set_client(self.user_agent.as_deref(), self.address.as_deref());
        }
    }
}

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

    /// Emits `event` with `data` to every socket of every session of the user; resolves to
    /// how many on this node.
    pub fn notify_user(
        &self,
        user_id: String,
        event: String,
        data: &Bound<'_, PyAny>,
    ) -> Result<impl Future<Output = Result<usize, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let data = convert::to_value(data)?;
        let io = self.io.clone();
        Ok(async move { Ok(io.notify_user(&user_id, &event, &data).await?) })
    }

    /// Destroys every session of the user but `except_session`; resolves to how many.
    pub fn destroy_user(
        &self,
        user_id: String,
        except_session: Option<&str>,
    ) -> Result<impl Future<Output = Result<usize, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let except = except_session.map(|id| self.resolve_id(id)).transpose()?;
        let io = self.io.clone();
        Ok(async move { Ok(io.destroy_user(&user_id, except).await?) })
    }

    /// The user's live sessions, each under its handle.
    pub fn user_sessions(
        &self,
        user_id: String,
    ) -> Result<impl Future<Output = Result<UserSessions, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move { Ok(UserSessions(io.user_sessions(&user_id).await?)) })
    }

    /// Destroys the user's session of `handle`; resolves to whether there was one.
    pub fn destroy_user_session(
        &self,
        user_id: String,
        handle: String,
    ) -> Result<impl Future<Output = Result<bool, Failure>> + Send + 'static, Failure> {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move { Ok(io.destroy_user_session(&user_id, &handle).await?) })
    }

    /// What the store's user index holds: `{"users", "sessions"}`.
    pub fn user_index_size(
        &self,
    ) -> Result<impl Future<Output = Result<impl ToPython, Failure>> + Send + 'static, Failure>
    {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move {
            let size = io.user_index_size().await?;
            Ok(Convert(move |py: Python<'_>| {
                let d = PyDict::new(py);
                d.set_item("users", size.users)?;
                d.set_item("sessions", size.sessions)?;
                Ok(d.into_any().unbind())
            }))
        })
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
        client: RequestClient,
    ) -> Result<impl Future<Output = Result<impl ToPython, Failure>> + Send + 'static, Failure>
    {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move {
            let outcome = sessionio::host::http_request(&io, cookie_header.as_deref()).await;
            client.report(&outcome);
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
    /// carries: core's `host::http_request`, with the request's client reported before
    /// any handler runs.
    pub fn http_request(
        &self,
        cookie_header: Option<String>,
        client: RequestClient,
    ) -> Result<impl Future<Output = Result<PyHttpOutcome, Failure>> + Send + 'static, Failure>
    {
        self.fork_guard.check()?;
        let io = self.io.clone();
        Ok(async move {
            let outcome = sessionio::host::http_request(&io, cookie_header.as_deref()).await;
            client.report(&outcome);
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
