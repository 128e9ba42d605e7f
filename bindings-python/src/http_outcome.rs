//! `HttpOutcome`: what core's `host::http_request` decided for a request's `Cookie`
//! header — the session or the refusal, and the `Set-Cookie` the response carries. The
//! ASGI and WSGI middlewares copy `set_cookie()` into the response when it starts; nothing
//! about cookies is decided here or there.

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use sessionio::host::HttpOutcome;

use crate::errors::{Failure, ToPython};
use crate::session::PySession;

#[pyclass(frozen, name = "HttpOutcome", module = "sessionio._sessionio")]
pub struct PyHttpOutcome {
    outcome: HttpOutcome,
}

impl PyHttpOutcome {
    pub fn new(outcome: HttpOutcome) -> Self {
        PyHttpOutcome { outcome }
    }
}

impl ToPython for PyHttpOutcome {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.into_py_any(py)
    }
}

#[pymethods]
impl PyHttpOutcome {
    /// The request's session (live and extended, or new), `None` when the cookie was
    /// refused.
    #[getter]
    fn session(&self) -> Option<PySession> {
        self.outcome.session().cloned().map(PySession::new)
    }

    /// Why the cookie was refused, as a `SessionRefused` (its `status` and `message` are
    /// the answer); `None` when there is a session.
    #[getter]
    fn refusal(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let refusal = self.outcome.refusal()?;
        let error = Failure::Refused {
            refusal,
            clear_cookie: refusal
                .clears_cookie()
                .then(|| self.outcome.set_cookie())
                .flatten(),
        }
        .into_pyerr(py);
        Some(error.value(py).clone().into_any().unbind())
    }

    /// The `Set-Cookie` value the response carries, `None` when the cookie does not
    /// change. Read it when the response starts: it follows `regenerate()` and `destroy()`
    /// made through the request's session during the request.
    fn set_cookie(&self) -> Option<String> {
        self.outcome.set_cookie()
    }

    fn __repr__(&self) -> String {
        match (self.outcome.session(), self.outcome.refusal()) {
            (Some(session), _) => format!("<sessionio.HttpOutcome session={}>", session.id()),
            (None, Some(refusal)) => format!(
                "<sessionio.HttpOutcome refused {} {:?}>",
                refusal.http_status(),
                refusal.message()
            ),
            (None, None) => "<sessionio.HttpOutcome>".into(),
        }
    }
}
