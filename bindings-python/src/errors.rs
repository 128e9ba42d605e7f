//! Errors: the engine's errors and refusals as the exception classes of
//! `sessionio.errors`, and the conversion of results into Python objects.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use pyo3::IntoPyObjectExt;
use sessionio::{Error, Refusal};

/// Why a call failed, kept without the GIL until it is raised.
#[derive(Debug)]
pub enum Failure {
    /// An engine error: raised as the `sessionio.errors` class of its code.
    Core(Error),
    /// An HTTP request's cookie was refused: `sessionio.errors.SessionRefused`.
    Refused {
        refusal: Refusal,
        clear_cookie: Option<String>,
    },
    /// A Python exception (from a user function), raised as it is.
    Py(PyErr),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

impl Failure {
    pub fn server(message: impl Into<String>) -> Self {
        Failure::Core(Error::Server(message.into()))
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Failure::Core(Error::InvalidValue(message.into()))
    }

    pub fn config(message: impl Into<String>) -> Self {
        Failure::Core(Error::Config(message.into()))
    }

    pub fn shutting_down() -> Self {
        Failure::server("the Python interpreter is shutting down")
    }

    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let raised = match self {
            Failure::Py(e) => return e,
            // Also a `SessionRefused`, which the middlewares answer with its status.
            Failure::Core(e @ Error::TooManySessions) => error_class(py, class_name(&e))
                .and_then(|cls| cls.call1((e.to_string(), e.http_status(), py.None()))),
            Failure::Core(e) => {
                error_class(py, class_name(&e)).and_then(|cls| cls.call1((e.to_string(),)))
            }
            Failure::Refused {
                refusal,
                clear_cookie,
            } => error_class(py, "SessionRefused").and_then(|cls| {
                cls.call1((refusal.message(), refusal.http_status(), clear_cookie))
            }),
        };
        match raised {
            Ok(exception) => PyErr::from_value(exception),
            Err(e) => e,
        }
    }
}

/// The `sessionio.errors` class of an engine error, one per code.
fn class_name(e: &Error) -> &'static str {
    match e.code() {
        "ERR_INVALID_CONFIG" => "InvalidConfigError",
        "ERR_SESSION_NOT_FOUND" => "SessionNotFoundError",
        "ERR_SESSION_EXPIRED" => "SessionExpiredError",
        "ERR_INVALID_SESSION_ID" => "InvalidSessionIdError",
        "ERR_STORE_UNAVAILABLE" => "StoreUnavailableError",
        "ERR_CONFLICT" => "ConflictError",
        "ERR_INVALID_VALUE" => "InvalidValueError",
        "ERR_TOO_MANY_SESSIONS" => "TooManySessionsError",
        _ => "ServerError",
    }
}

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = ERRORS.get_or_try_init(py, || {
        py.import("sessionio.errors")
            .map(Bound::unbind)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot import sessionio.errors: {e}")))
    })?;
    module.bind(py).getattr(name)
}

/// Whether `exception` is a `sessionio.HandlerError`: a message its handler chose for the
/// client.
pub fn is_handler_error(exception: &Bound<'_, PyAny>) -> bool {
    error_class(exception.py(), "HandlerError")
        .and_then(|cls| exception.is_instance(&cls))
        .unwrap_or(false)
}

/// Shorthand for the synchronous API: raise a failure.
pub trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Failure>> OrRaise<T> for Result<T, E> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into().into_pyerr(py))
    }
}

/// A result that crosses from the runtime to Python: converted once the GIL is held.
pub trait ToPython: Send + 'static {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl ToPython for () {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(py.None())
    }
}

macro_rules! to_python_via_into_pyobject {
    ($($t:ty),*) => {$(
        impl ToPython for $t {
            fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.into_py_any(py)
            }
        }
    )*};
}

to_python_via_into_pyobject!(usize, i64, u16, bool, String, Option<String>);

impl ToPython for Py<PyAny> {
    fn to_python(self, _py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self)
    }
}

/// A conversion decided by the caller, for results that need more than one value.
pub struct Convert<F>(pub F);

impl<F> ToPython for Convert<F>
where
    F: FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send + 'static,
{
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        (self.0)(py)
    }
}

/// Raises the engine error of `code` through the same mapping as every call: for the
/// tests of the codes that the memory store can never produce (`ERR_STORE_UNAVAILABLE`).
#[pyfunction]
pub fn _raise_engine_error(py: Python<'_>, code: &str, detail: String) -> PyResult<()> {
    let Some(error) = Error::from_code(code, detail) else {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown code {code:?}"
        )));
    };
    Err(Failure::Core(error).into_pyerr(py))
}
