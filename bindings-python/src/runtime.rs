//! The tokio runtime the engine runs on, and the two bridges between it and Python:
//! a Rust future as an asyncio awaitable ([`into_awaitable`]) and as a blocking call that
//! releases the GIL ([`block_on`]).
//!
//! Threads do not survive `fork()`: the runtime is per process "generation". The package
//! registers `os.register_at_fork(after_in_child=...)`, which bumps the generation, so a
//! forked child lazily builds its own runtime. The parent's runtime is leaked in the child
//! on purpose: dropping it would wait forever for worker threads that do not exist there.

use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;
use pyo3::{intern, wrap_pyfunction};
use tokio::runtime::Runtime;

use crate::errors::{Failure, ToPython};

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

struct Slot {
    generation: u64,
    runtime: Runtime,
}

/// The current generation's runtime; never freed (see the module docs).
static CURRENT: AtomicPtr<Slot> = AtomicPtr::new(ptr::null_mut());

/// Which process "generation" this is: 0 in the process that imported the module, +1 after
/// every `fork()` in the child.
pub fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// Called in a forked child (from `os.register_at_fork`).
#[pyfunction]
pub fn _after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Set at exit (before the interpreter finalizes): runtime threads no longer enter Python.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Runtime threads inside Python right now.
static INSIDE_PYTHON: AtomicUsize = AtomicUsize::new(0);

/// Enters Python from a runtime thread, unless the interpreter is exiting (`None`).
///
/// `Python::try_attach` alone is not enough: a thread already inside Python that releases
/// the GIL (a socket write in `call_soon_threadsafe`, say) and takes it again while the
/// interpreter finalizes is ended by CPython with `pthread_exit`, which cannot unwind
/// through Rust frames and aborts the process. So [`_before_exit`] stops new entries and
/// waits for those in flight before finalization begins.
pub fn attach_unless_exiting<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    INSIDE_PYTHON.fetch_add(1, Ordering::SeqCst);
    let result = if EXITING.load(Ordering::SeqCst) {
        None
    } else {
        Python::try_attach(f)
    };
    INSIDE_PYTHON.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Registered with `atexit` (it runs after the engines are closed): runtime threads stop
/// entering Python, and those inside finish (at most 2 s) with the GIL released for them.
#[pyfunction]
pub fn _before_exit(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while INSIDE_PYTHON.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}

/// This process's runtime, built on first use.
pub fn runtime() -> Result<&'static Runtime, Failure> {
    let generation = generation();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: slots are created by `Box::into_raw` below and never freed.
        if let Some(slot) = unsafe { current.as_ref() } {
            if slot.generation == generation {
                return Ok(&slot.runtime);
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("sessionio")
            .build()
            .map_err(|e| Failure::server(format!("cannot start the tokio runtime: {e}")))?;
        let fresh = Box::into_raw(Box::new(Slot {
            generation,
            runtime,
        }));
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The slot replaced (if any) belonged to the parent process: leaked on purpose.
            // SAFETY: `fresh` was just published and is never freed.
            Ok(_) => return Ok(unsafe { &(*fresh).runtime }),
            Err(_) => {
                // Another thread won the race; ours never ran a task.
                // SAFETY: `fresh` was not published, so this is its only owner.
                let lost = unsafe { Box::from_raw(fresh) };
                lost.runtime.shutdown_background();
            }
        }
    }
}

/// Polls `fut` once, without a task: most engine calls on the memory store complete at
/// once, and then need no trip through a runtime thread.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    std::pin::Pin::new(fut).poll(&mut cx)
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
        .map_err(|_| {
            Failure::server(
                "no running asyncio event loop: await this from async code, or call its _sync twin",
            )
            .into_pyerr(py)
        })
}

/// Sets the outcome on an asyncio future unless it was cancelled meanwhile. Runs on the
/// future's loop.
#[pyfunction]
fn complete_future(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = future.py();
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    if ok {
        future.call_method1(intern!(py, "set_result"), (value,))?;
    } else {
        future.call_method1(intern!(py, "set_exception"), (value,))?;
    }
    Ok(())
}

fn complete_future_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyCFunction>> {
    static COMPLETE: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
    COMPLETE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(wrap_pyfunction!(complete_future, py)?.unbind())
        })
        .map(|f| f.bind(py))
}

fn outcome<T: ToPython>(py: Python<'_>, result: Result<T, Failure>) -> (bool, Py<PyAny>) {
    match result
        .map_err(|f| f.into_pyerr(py))
        .and_then(|v| v.to_python(py))
    {
        Ok(value) => (true, value),
        Err(err) => (false, err.into_value(py).into_any()),
    }
}

/// Runs `fut` on the runtime and returns an asyncio future of the running loop that gets
/// its outcome. The GIL is released while the engine works; the result is converted and
/// handed to the loop with `call_soon_threadsafe`.
pub fn into_awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: ToPython,
{
    let event_loop = running_loop(py)?;
    let runtime = runtime().map_err(|f| f.into_pyerr(py))?;
    let py_future = event_loop.call_method0(intern!(py, "create_future"))?;
    let mut fut = Box::pin(fut);
    let first = py.detach(|| {
        let _entered = runtime.enter();
        poll_once(&mut fut)
    });
    if let Poll::Ready(result) = first {
        let (ok, value) = outcome(py, result);
        complete_future(&py_future, ok, value.bind(py))?;
        return Ok(py_future);
    }
    let future_ref = py_future.clone().unbind();
    let loop_ref = event_loop.unbind();
    runtime.spawn(async move {
        let result = fut.await;
        // `None`: the interpreter is shutting down and nobody awaits the result any more.
        attach_unless_exiting(|py| {
            let (ok, value) = outcome(py, result);
            let delivered = complete_future_fn(py).and_then(|complete| {
                loop_ref.bind(py).call_method1(
                    intern!(py, "call_soon_threadsafe"),
                    (complete, future_ref.bind(py), ok, value),
                )
            });
            if let Err(e) = delivered {
                // The loop was closed: its futures have no reader left.
                tracing::debug!(error = %e, "result not delivered to a closed event loop");
            }
        });
    });
    Ok(py_future)
}

/// Runs `fut` to completion on the runtime while this thread waits with the GIL released.
pub fn block_on<F>(py: Python<'_>, fut: F) -> Result<F::Output, Failure>
where
    F: Future + Send,
    F::Output: Send,
{
    match tokio::runtime::Handle::try_current() {
        // On one of the runtime's own threads (a sync handler on the blocking pool, or
        // Python code run by the engine): wait without stalling a worker.
        Ok(handle) => Ok(py.detach(|| tokio::task::block_in_place(|| handle.block_on(fut)))),
        Err(_) => {
            let runtime = runtime()?;
            Ok(py.detach(|| runtime.block_on(fut)))
        }
    }
}
