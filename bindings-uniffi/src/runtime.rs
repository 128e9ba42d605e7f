//! The tokio runtime the engine runs on. Every async export runs its work there and the
//! host only awaits the outcome, so the host's thread never drives the engine (for Ruby:
//! the generated code waits on a pipe with the GVL released).

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

use crate::error::SessionioError;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The process's runtime, built at first use.
pub fn runtime() -> Result<&'static Runtime, SessionioError> {
    RUNTIME
        .get_or_init(|| {
            init_logging();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("sessionio")
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| SessionioError::server(e.clone()))
}

/// Runs `work` on the runtime and waits for it.
pub async fn run<T, F>(work: F) -> Result<T, SessionioError>
where
    F: Future<Output = Result<T, SessionioError>> + Send + 'static,
    T: Send + 'static,
{
    runtime()?
        .spawn(work)
        .await
        .map_err(|e| SessionioError::server(format!("the engine's task failed: {e}")))?
}

/// Runs a synchronous engine call inside the runtime's context: socketioxide may spawn a
/// task or start a timer, and the caller is a host thread.
pub fn in_runtime<R>(op: impl FnOnce() -> R) -> Result<R, SessionioError> {
    let _entered = runtime()?.enter();
    Ok(op())
}

/// The engine's log lines go to stderr, filtered by `SESSIONIO_LOG` (default `warn`), as
/// in the Node and Python bindings.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESSIONIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
