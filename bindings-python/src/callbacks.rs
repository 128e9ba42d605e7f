//! Python functions the engine calls: socket event handlers, per-event middlewares and
//! connection callbacks.
//!
//! Threading model (no call from the engine can deadlock on the GIL):
//! - `async def` functions run on an asyncio loop: the one that awaited `start()`, or the
//!   `sessionio-loop` thread that `start_sync()` runs. A runtime thread takes the GIL only
//!   to create the coroutine and hand it to that loop (`call_soon_threadsafe`), then awaits
//!   the outcome without the GIL.
//! - plain functions run on the runtime's blocking pool (like Starlette's threadpool for
//!   `def` endpoints), so they may call the `_sync` methods.
//! - every entry into Python from a runtime thread goes through
//!   `runtime::attach_unless_exiting`: at exit the call is skipped instead of racing the
//!   interpreter's finalization.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::{intern, IntoPyObjectExt};
use sessionio::{HandlerError, Value};
use tokio::sync::oneshot;

use crate::convert;
use crate::errors::is_handler_error;

/// Why a Python function gave no value.
#[derive(Debug)]
pub enum Failed {
    /// It raised `sessionio.HandlerError`: a message chosen for the client.
    Answered(String),
    /// It raised another exception (the Python layer logged it with its traceback).
    Raised(String),
    /// It could not be called, or what it returned cannot be sent.
    Internal(String),
}

impl Failed {
    /// An exception the function raised.
    fn raised(exception: &Bound<'_, PyAny>) -> Self {
        let message = exception_object_message(exception);
        if is_handler_error(exception) {
            Failed::Answered(message)
        } else {
            Failed::Raised(message)
        }
    }

    /// The error the client's ack carries. Only a `HandlerError`'s message reaches the
    /// client; anything else is core's hidden failure ([`HandlerError::internal`]: the
    /// client is told `internal error`, the detail is logged with an error id), and a
    /// failure no Python code saw also goes to the `sessionio` logger. `what` names the
    /// function in the logs, e.g. `sessionio handler of 'incr'`.
    pub fn into_handler_error(self, what: &str) -> HandlerError {
        match self {
            Failed::Answered(message) => HandlerError::new(message),
            // The Python layer logged the exception with its traceback.
            Failed::Raised(detail) => {
                HandlerError::internal(format_args!("{what} raised: {detail}"))
            }
            Failed::Internal(detail) => {
                log_internal(what, &detail);
                HandlerError::internal(format_args!("{what} failed: {detail}"))
            }
        }
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failed::Answered(m) | Failed::Raised(m) | Failed::Internal(m) => f.write_str(m),
        }
    }
}

/// Logs a failure that no Python code saw at ERROR in the `sessionio` logger (while the
/// interpreter exits, core's own log line is the only one).
fn log_internal(what: &str, detail: &str) {
    let _ = crate::runtime::attach_unless_exiting(|py| -> PyResult<()> {
        py.import(intern!(py, "logging"))?
            .call_method1(intern!(py, "getLogger"), ("sessionio",))?
            .call_method1(intern!(py, "error"), ("%s failed: %s", what, detail))?;
        Ok(())
    });
}

/// A handler's outcome: its return value, or why there is none.
pub type Outcome = Result<Value, Failed>;

/// Where coroutines run: a `sessionio._runner.LoopRunner` (set by `start()`).
pub type Runner = Arc<RwLock<Option<Py<PyAny>>>>;

/// An exception's text for a log: `str(exc)`, or its class name if empty.
fn exception_message(py: Python<'_>, err: &PyErr) -> String {
    exception_object_message(err.value(py).as_any())
}

fn exception_object_message(exc: &Bound<'_, PyAny>) -> String {
    match exc.str() {
        Ok(s) if !s.to_string().is_empty() => s.to_string(),
        _ => exc
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "error".into()),
    }
}

/// A failure of the machinery around the call, with the exception's text.
fn internal(py: Python<'_>, err: &PyErr) -> Failed {
    Failed::Internal(exception_message(py, err))
}

/// A return value that cannot be sent.
fn unsendable(py: Python<'_>, failure: crate::errors::Failure) -> Failed {
    let message = exception_message(py, &failure.into_pyerr(py));
    Failed::Internal(format!("its return value cannot be sent: {message}"))
}

/// The done-callback of a handler's asyncio task: sends its outcome to the waiting engine.
#[pyclass(frozen, module = "sessionio._sessionio")]
pub struct OutcomeSender {
    tx: Mutex<Option<oneshot::Sender<Outcome>>>,
}

#[pymethods]
impl OutcomeSender {
    fn __call__(&self, task: &Bound<'_, PyAny>) {
        let outcome = task_outcome(task);
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(outcome);
        }
    }
}

fn task_outcome(task: &Bound<'_, PyAny>) -> Outcome {
    let py = task.py();
    let err = |e: PyErr| internal(py, &e);
    if task
        .call_method0(intern!(py, "cancelled"))
        .and_then(|c| c.is_truthy())
        .map_err(err)?
    {
        return Err(Failed::Internal("handler was cancelled".into()));
    }
    let exception = task.call_method0(intern!(py, "exception")).map_err(err)?;
    if !exception.is_none() {
        return Err(Failed::raised(&exception));
    }
    let result = task.call_method0(intern!(py, "result")).map_err(err)?;
    convert::to_value(&result).map_err(|f| unsendable(py, f))
}

/// One registered Python function.
#[derive(Clone)]
pub struct PyCallback {
    func: Arc<Py<PyAny>>,
    is_async: bool,
    runner: Runner,
}

impl PyCallback {
    pub fn new(func: Py<PyAny>, is_async: bool, runner: Runner) -> Self {
        PyCallback {
            func: Arc::new(func),
            is_async,
            runner,
        }
    }

    /// Calls the function with the arguments `args` builds (under the GIL) and converts
    /// what it returns.
    pub async fn call<A>(&self, args: A) -> Outcome
    where
        A: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>> + Send + 'static,
    {
        if self.is_async {
            self.call_on_loop(args).await
        } else {
            self.call_on_blocking_pool(args).await
        }
    }

    async fn call_on_loop<A>(&self, args: A) -> Outcome
    where
        A: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let submitted = crate::runtime::attach_unless_exiting(|py| -> Result<(), Failed> {
            let runner = self
                .runner
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|r| r.clone_ref(py))
                .ok_or_else(|| Failed::Internal("sessionio is not started".into()))?;
            let args = args(py).map_err(|e| internal(py, &e))?;
            let coroutine = self
                .func
                .bind(py)
                .call1(args)
                .map_err(|e| Failed::raised(e.value(py).as_any()))?;
            let sender = OutcomeSender {
                tx: Mutex::new(Some(tx)),
            }
            .into_py_any(py)
            .map_err(|e| internal(py, &e))?;
            if let Err(e) = runner.call_method1(py, intern!(py, "submit"), (&coroutine, sender)) {
                // The loop is closed: the coroutine will never run.
                let _ = coroutine.call_method0(intern!(py, "close"));
                return Err(Failed::Internal(format!(
                    "handler not run: {}",
                    exception_message(py, &e)
                )));
            }
            Ok(())
        });
        match submitted {
            None => Err(Failed::Internal(
                "the Python interpreter is shutting down".into(),
            )),
            Some(Err(failed)) => Err(failed),
            Some(Ok(())) => rx.await.unwrap_or_else(|_| {
                Err(Failed::Internal(
                    "handler did not finish: its event loop stopped".into(),
                ))
            }),
        }
    }

    async fn call_on_blocking_pool<A>(&self, args: A) -> Outcome
    where
        A: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>> + Send + 'static,
    {
        let func = self.func.clone();
        let run = tokio::task::spawn_blocking(move || {
            crate::runtime::attach_unless_exiting(|py| -> Outcome {
                let args = args(py).map_err(|e| internal(py, &e))?;
                let result = func
                    .bind(py)
                    .call1(args)
                    .map_err(|e| Failed::raised(e.value(py).as_any()))?;
                convert::to_value(&result).map_err(|f| unsendable(py, f))
            })
        });
        match run.await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => Err(Failed::Internal(
                "the Python interpreter is shutting down".into(),
            )),
            Err(e) => Err(Failed::Internal(format!("handler thread failed: {e}"))),
        }
    }
}
