//! `Session`: the live session handle, with every method as a coroutine and a `_sync` twin.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use sessionio::Session;

use crate::convert;
use crate::errors::{Convert, Failure, OrRaise, ToPython};
use crate::runtime::{block_on, into_awaitable};

/// A live handle on one session: every read goes to the store, every write is atomic
/// there, so there is nothing to reload or save.
#[pyclass(frozen, name = "Session", module = "sessionio._sessionio")]
pub struct PySession {
    pub(crate) session: Session,
}

impl ToPython for PySession {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.into_py_any(py)
    }
}

fn json_result(value: Option<serde_json::Value>, default: Py<PyAny>) -> impl ToPython {
    Convert(move |py: Python<'_>| match value {
        Some(v) => convert::json_to_py(py, &v),
        None => Ok(default),
    })
}

/// A unix-milliseconds instant as an aware UTC `datetime`.
pub fn datetime_from_ms(py: Python<'_>, ms: u64) -> PyResult<Py<PyAny>> {
    let datetime = py.import("datetime")?;
    let utc = datetime.getattr("timezone")?.getattr("utc")?;
    let seconds = Duration::from_millis(ms).as_secs_f64();
    Ok(datetime
        .getattr("datetime")?
        .call_method1("fromtimestamp", (seconds, utc))?
        .unbind())
}

impl PySession {
    pub fn new(session: Session) -> Self {
        PySession { session }
    }

    fn get_future(
        &self,
        key: String,
        default: Py<PyAny>,
    ) -> impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move {
            let value = session.get::<serde_json::Value>(&key).await?;
            Ok(json_result(value, default))
        }
    }

    fn set_future(
        &self,
        key: String,
        value: &Bound<'_, PyAny>,
    ) -> Result<impl std::future::Future<Output = Result<(), Failure>> + Send + 'static, Failure>
    {
        let value = convert::to_json(value)?;
        let session = self.session.clone();
        Ok(async move { Ok(session.set(&key, value).await?) })
    }

    fn remove_future(
        &self,
        key: String,
    ) -> impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move {
            let old = session.remove(&key).await?;
            Ok(Convert(move |py: Python<'_>| match old {
                Some(v) => convert::json_to_py(py, &v),
                None => Ok(py.None()),
            }))
        }
    }

    fn increment_future(
        &self,
        key: String,
        by: i64,
    ) -> impl std::future::Future<Output = Result<i64, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(session.increment(&key, by).await?) }
    }

    fn update_future(
        &self,
        func: Py<PyAny>,
    ) -> impl std::future::Future<Output = Result<Py<PyAny>, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move {
            // `update_async` holds no store lock while the function runs, so the GIL is
            // never awaited with a lock held. The function may run more than once.
            session
                .update_async(|data| {
                    let ran = crate::runtime::attach_unless_exiting(|py| -> Result<_, Failure> {
                        let dict = convert::json_map_to_py(py, &data)?;
                        let returned = func.bind(py).call1((&dict,))?;
                        if returned.hasattr("__await__")? {
                            let _ = returned.call_method0("close");
                            return Err(Failure::invalid_value(
                                "update() takes a plain function (it runs inside the transaction), not a coroutine function",
                            ));
                        }
                        Ok((convert::dict_to_json(&dict)?, returned.unbind()))
                    });
                    std::future::ready(ran.unwrap_or_else(|| Err(Failure::shutting_down())))
                })
                .await
        }
    }

    fn data_future(
        &self,
    ) -> impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move {
            let data = session.data().await?;
            Ok(Convert(move |py: Python<'_>| {
                Ok(convert::json_map_to_py(py, &data)?.into_any().unbind())
            }))
        }
    }

    fn expires_at_future(
        &self,
    ) -> impl std::future::Future<Output = Result<impl ToPython, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move {
            let ms = session.expires_at().await?;
            Ok(Convert(move |py: Python<'_>| datetime_from_ms(py, ms)))
        }
    }

    fn regenerate_future(
        &self,
    ) -> impl std::future::Future<Output = Result<PySession, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(PySession::new(session.regenerate().await?)) }
    }

    fn login_future(
        &self,
        user_id: String,
    ) -> impl std::future::Future<Output = Result<PySession, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(PySession::new(session.login(&user_id).await?)) }
    }

    fn logout_future(
        &self,
    ) -> impl std::future::Future<Output = Result<PySession, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(PySession::new(session.logout().await?)) }
    }

    fn user_id_future(
        &self,
    ) -> impl std::future::Future<Output = Result<Option<String>, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(session.user_id().await?) }
    }

    fn save_future(
        &self,
    ) -> impl std::future::Future<Output = Result<(), Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(session.save().await?) }
    }

    fn destroy_future(
        &self,
    ) -> impl std::future::Future<Output = Result<usize, Failure>> + Send + 'static {
        let session = self.session.clone();
        async move { Ok(session.destroy().await?) }
    }

    fn notify_future(
        &self,
        event: String,
        data: &Bound<'_, PyAny>,
    ) -> Result<impl std::future::Future<Output = Result<usize, Failure>> + Send + 'static, Failure>
    {
        let data = convert::to_value(data)?;
        let session = self.session.clone();
        Ok(async move { Ok(session.notify(&event, &data).await?) })
    }
}

#[pymethods]
impl PySession {
    /// The session id.
    #[getter]
    fn id(&self) -> String {
        self.session.host_id()
    }

    fn __repr__(&self) -> String {
        format!("<sessionio.Session {}>", self.session.id())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PySession>()
            .is_ok_and(|o| o.get().session.id() == self.session.id())
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.session.id().to_string().hash(&mut h);
        h.finish()
    }

    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: String,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(
            py,
            self.get_future(key, default.unwrap_or_else(|| py.None())),
        )
    }

    #[pyo3(signature = (key, default=None))]
    fn get_sync(
        &self,
        py: Python<'_>,
        key: String,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let fut = self.get_future(key, default.unwrap_or_else(|| py.None()));
        block_on(py, fut).or_raise(py)?.or_raise(py)?.to_python(py)
    }

    fn set<'py>(
        &self,
        py: Python<'py>,
        key: String,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.set_future(key, value).or_raise(py)?)
    }

    fn set_sync(&self, py: Python<'_>, key: String, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let fut = self.set_future(key, value).or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }

    fn remove<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.remove_future(key))
    }

    fn remove_sync(&self, py: Python<'_>, key: String) -> PyResult<Py<PyAny>> {
        block_on(py, self.remove_future(key))
            .or_raise(py)?
            .or_raise(py)?
            .to_python(py)
    }

    #[pyo3(signature = (key, by=1))]
    fn increment<'py>(&self, py: Python<'py>, key: String, by: i64) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.increment_future(key, by))
    }

    #[pyo3(signature = (key, by=1))]
    fn increment_sync(&self, py: Python<'_>, key: String, by: i64) -> PyResult<i64> {
        block_on(py, self.increment_future(key, by))
            .or_raise(py)?
            .or_raise(py)
    }

    fn update<'py>(&self, py: Python<'py>, func: Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.update_future(func))
    }

    fn update_sync(&self, py: Python<'_>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        block_on(py, self.update_future(func))
            .or_raise(py)?
            .or_raise(py)
    }

    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.data_future())
    }

    fn data_sync(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        block_on(py, self.data_future())
            .or_raise(py)?
            .or_raise(py)?
            .to_python(py)
    }

    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.expires_at_future())
    }

    fn expires_at_sync(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        block_on(py, self.expires_at_future())
            .or_raise(py)?
            .or_raise(py)?
            .to_python(py)
    }

    fn regenerate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.regenerate_future())
    }

    fn regenerate_sync(&self, py: Python<'_>) -> PyResult<PySession> {
        block_on(py, self.regenerate_future())
            .or_raise(py)?
            .or_raise(py)
    }

    /// Binds the session to `user_id` and gives it a new id, as `regenerate()` does (the
    /// old id's sockets are disconnected; in a request the response sets the new cookie).
    fn login<'py>(&self, py: Python<'py>, user_id: String) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.login_future(user_id))
    }

    fn login_sync(&self, py: Python<'_>, user_id: String) -> PyResult<PySession> {
        block_on(py, self.login_future(user_id))
            .or_raise(py)?
            .or_raise(py)
    }

    /// Unbinds the session from its user and gives it a new id; the data stays.
    fn logout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.logout_future())
    }

    fn logout_sync(&self, py: Python<'_>) -> PyResult<PySession> {
        block_on(py, self.logout_future())
            .or_raise(py)?
            .or_raise(py)
    }

    /// The user the session is logged in as, `None` if none.
    fn user_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.user_id_future())
    }

    fn user_id_sync(&self, py: Python<'_>) -> PyResult<Option<String>> {
        block_on(py, self.user_id_future())
            .or_raise(py)?
            .or_raise(py)
    }

    /// Stores a session not stored yet and has the response set its cookie (nothing for
    /// a stored one): core's `Session::save`.
    fn save<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.save_future())
    }

    fn save_sync(&self, py: Python<'_>) -> PyResult<()> {
        block_on(py, self.save_future()).or_raise(py)?.or_raise(py)
    }

    fn destroy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        into_awaitable(py, self.destroy_future())
    }

    fn destroy_sync(&self, py: Python<'_>) -> PyResult<usize> {
        block_on(py, self.destroy_future())
            .or_raise(py)?
            .or_raise(py)
    }

    #[pyo3(signature = (event, data=None))]
    fn notify<'py>(
        &self,
        py: Python<'py>,
        event: String,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let none = py.None().into_bound(py);
        into_awaitable(
            py,
            self.notify_future(event, data.unwrap_or(&none))
                .or_raise(py)?,
        )
    }

    #[pyo3(signature = (event, data=None))]
    fn notify_sync(
        &self,
        py: Python<'_>,
        event: String,
        data: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let none = py.None().into_bound(py);
        let fut = self
            .notify_future(event, data.unwrap_or(&none))
            .or_raise(py)?;
        block_on(py, fut).or_raise(py)?.or_raise(py)
    }
}

/// What `SessionIo.http_session()` resolved a request's cookie to.
#[pyclass(frozen, get_all, name = "HttpSession", module = "sessionio._sessionio")]
pub struct PyHttpSession {
    /// The request's session.
    pub session: Py<PySession>,
    /// The `Set-Cookie` header value to send when the session was created for this request
    /// (`http_session()` stores a new session at once, so the value is final).
    pub set_cookie: Option<String>,
}

#[pymethods]
impl PyHttpSession {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<sessionio.HttpSession {} new={}>",
            self.session.bind(py).get().session.id(),
            self.set_cookie.is_some()
        )
    }
}
