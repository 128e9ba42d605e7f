//! The tokio runtime the engine runs on, and how an async export's work runs: polled by
//! the host's thread inside the runtime's context. Work that is ready at once (the memory
//! store, a notify) then completes inside the first poll, and the host gets its result
//! without a thread hop; work that waits (a Redis round trip, a host callback) is woken
//! by the runtime, and the host waits for it without blocking its other threads (for
//! Ruby: the generated code waits on a pipe with the GVL released).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::runtime::Runtime;

use crate::error::SessionioError;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The process's runtime, built at first use.
pub fn runtime() -> Result<&'static Runtime, SessionioError> {
    RUNTIME
        .get_or_init(|| {
            sessionio::host::init_logging();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("sessionio")
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| SessionioError::server(e.clone()))
}

/// Runs `work` inside the runtime's context (tasks it spawns, its timers and sockets are
/// the runtime's), polled by whoever awaits it.
pub async fn run<T, F>(work: F) -> Result<T, SessionioError>
where
    F: Future<Output = Result<T, SessionioError>> + Send,
{
    InRuntime {
        handle: runtime()?.handle(),
        work: Box::pin(work),
    }
    .await
}

struct InRuntime<'a, F> {
    handle: &'a tokio::runtime::Handle,
    work: Pin<Box<F>>,
}

impl<F: Future> Future for InRuntime<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.handle.enter();
        self.work.as_mut().poll(cx)
    }
}

/// Runs a synchronous engine call inside the runtime's context: socketioxide may spawn a
/// task or start a timer, and the caller is a host thread.
pub fn in_runtime<R>(op: impl FnOnce() -> R) -> Result<R, SessionioError> {
    let _entered = runtime()?.enter();
    Ok(op())
}
