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

use std::sync::{Arc, Mutex, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::{intern, IntoPyObjectExt};
use sessionio::Value;
use tokio::sync::oneshot;

use crate::convert;

/// A handler's outcome: its return value, or the message its ack error carries.
pub type Outcome = Result<Value, String>;

/// Where coroutines run: a `sessionio._runner.LoopRunner` (set by `start()`).
pub type Runner = Arc<RwLock<Option<Py<PyAny>>>>;

/// The message an exception becomes in an ack: `str(exc)`, or its class name if empty.
pub fn exception_message(py: Python<'_>, err: &PyErr) -> String {
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
    let err = |e: PyErr| exception_message(py, &e);
    if task
        .call_method0(intern!(py, "cancelled"))
        .and_then(|c| c.is_truthy())
        .map_err(err)?
    {
        return Err("handler was cancelled".into());
    }
    let exception = task.call_method0(intern!(py, "exception")).map_err(err)?;
    if !exception.is_none() {
        return Err(exception_object_message(&exception));
    }
    let result = task.call_method0(intern!(py, "result")).map_err(err)?;
    convert::to_value(&result).map_err(|f| exception_message(py, &f.into_pyerr(py)))
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
        let submitted = crate::runtime::attach_unless_exiting(|py| -> Result<(), String> {
            let runner = self
                .runner
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|r| r.clone_ref(py))
                .ok_or("sessionio is not started")?;
            let args = args(py).map_err(|e| exception_message(py, &e))?;
            let coroutine = self
                .func
                .bind(py)
                .call1(args)
                .map_err(|e| exception_message(py, &e))?;
            let sender = OutcomeSender {
                tx: Mutex::new(Some(tx)),
            }
            .into_py_any(py)
            .map_err(|e| exception_message(py, &e))?;
            if let Err(e) = runner.call_method1(py, intern!(py, "submit"), (&coroutine, sender)) {
                // The loop is closed: the coroutine will never run.
                let _ = coroutine.call_method0(intern!(py, "close"));
                return Err(format!("handler not run: {}", exception_message(py, &e)));
            }
            Ok(())
        });
        match submitted {
            None => Err("the Python interpreter is shutting down".into()),
            Some(Err(message)) => Err(message),
            Some(Ok(())) => rx
                .await
                .unwrap_or_else(|_| Err("handler did not finish: its event loop stopped".into())),
        }
    }

    async fn call_on_blocking_pool<A>(&self, args: A) -> Outcome
    where
        A: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>> + Send + 'static,
    {
        let func = self.func.clone();
        let run = tokio::task::spawn_blocking(move || {
            crate::runtime::attach_unless_exiting(|py| -> Outcome {
                let err = |e: PyErr| exception_message(py, &e);
                let args = args(py).map_err(err)?;
                let result = func.bind(py).call1(args).map_err(err)?;
                convert::to_value(&result).map_err(|f| exception_message(py, &f.into_pyerr(py)))
            })
        });
        match run.await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => Err("the Python interpreter is shutting down".into()),
            Err(e) => Err(format!("handler thread failed: {e}")),
        }
    }
}
