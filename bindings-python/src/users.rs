//! `UserSession`: one live session of a user, as `SessionIo.user_sessions()` lists it
//! (core's `sessionio::UserSession`: an opaque handle, never the session id).

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use sessionio::UserSession;

use crate::convert;
use crate::errors::{Failure, OrRaise, ToPython};
use crate::session::datetime_from_ms;

#[pyclass(frozen, name = "UserSession", module = "sessionio._sessionio")]
pub struct PyUserSession {
    entry: UserSession,
}

/// A user's list of sessions, converted once the GIL is held.
pub struct UserSessions(pub Vec<UserSession>);

impl ToPython for UserSessions {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.0
            .into_iter()
            .map(|entry| PyUserSession { entry })
            .collect::<Vec<_>>()
            .into_py_any(py)
    }
}

#[pymethods]
impl PyUserSession {
    /// Names this session for `destroy_user_session()`; never its id.
    #[getter]
    fn handle(&self) -> &str {
        &self.entry.handle
    }

    /// When the session logged in as the user, an aware UTC datetime.
    #[getter]
    fn created_at(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        datetime_from_ms(py, self.entry.created_at)
    }

    /// Its last activity, an aware UTC datetime.
    #[getter]
    fn last_seen(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        datetime_from_ms(py, self.entry.last_seen)
    }

    /// The `User-Agent` of its login request or latest socket, `None` if unknown.
    #[getter]
    fn user_agent(&self) -> Option<&str> {
        self.entry.user_agent.as_deref()
    }

    /// The client's IP address of its login request or latest socket, `None` if unknown.
    #[getter]
    fn address(&self) -> Option<&str> {
        self.entry.address.as_deref()
    }

    /// Sockets connected to it now.
    #[getter]
    fn sockets(&self) -> usize {
        self.entry.sockets
    }

    /// The entry as core's JSON writes it in every language: `{"handle", "createdAt",
    /// "lastSeen" (unix ms), "userAgent", "address", "sockets"}`.
    fn as_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = serde_json::to_value(&self.entry)
            .map_err(|e| Failure::server(format!("a user session as JSON: {e}")))
            .or_raise(py)?;
        convert::json_to_py(py, &json)
    }

    fn __repr__(&self) -> String {
        format!(
            "<sessionio.UserSession {} sockets={}>",
            self.entry.handle, self.entry.sockets
        )
    }
}
