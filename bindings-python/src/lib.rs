//! `sessionio._sessionio`: the native half of the `sessionio` Python package. It wraps
//! `sessionio::SessionIo` (the Rust engine) and maps options, values and errors; the
//! Python half (`sessionio/*.py`) adds decorators, the loop runner and the ASGI/WSGI
//! middlewares. Nothing about sessions, cookies, rooms or timers is decided here.

mod attach;
mod callbacks;
mod convert;
mod engine;
mod errors;
mod fork_guard;
mod handlers;
mod host_calls;
mod http_outcome;
mod options;
mod runtime;
mod server;
mod session;
mod socket;
mod users;

use pyo3::prelude::*;

#[pymodule(name = "_sessionio")]
mod python_module {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::attach::PyBridge;
    #[pymodule_export]
    use crate::callbacks::OutcomeSender;
    #[pymodule_export]
    use crate::engine::Engine;
    #[pymodule_export]
    use crate::errors::_raise_engine_error;
    #[pymodule_export]
    use crate::http_outcome::PyHttpOutcome;
    #[pymodule_export]
    use crate::runtime::{_after_fork_in_child, _before_exit};
    #[pymodule_export]
    use crate::session::{PyHttpSession, PySession};
    #[pymodule_export]
    use crate::socket::{PyAddress, PyHandshake, PySocket};
    #[pymodule_export]
    use crate::users::PyUserSession;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // Core's log lines to stderr, filtered by SESSIONIO_LOG.
        sessionio::host::init_logging();
        Ok(())
    }
}
