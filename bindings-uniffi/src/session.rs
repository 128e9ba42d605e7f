//! `Session`: a live handle on one session (every read goes to the store, every write is
//! atomic there), and `HttpOutcome`: what an HTTP request's cookie resolved to.

use std::sync::Arc;
use std::time::Duration;

use crate::error::SessionioError;
use crate::runtime::run;
use crate::value::{self, Value};

/// A live handle on one session.
#[derive(uniffi::Object)]
pub struct Session {
    pub(crate) session: sessionio::Session,
}

/// What an update function gives back: the session's new data, and the value `update`
/// returns.
#[derive(Debug, uniffi::Record)]
pub struct Updated {
    pub data: Value,
    pub returned: Value,
}

/// The host's function that `update` runs inside the session's transaction (it may run
/// more than once, when another writer got there first).
#[uniffi::export(with_foreign)]
pub trait SessionUpdater: Send + Sync {
    fn apply(&self, data: Value) -> Result<Updated, SessionioError>;
}

impl Session {
    pub fn new(session: sessionio::Session) -> Arc<Self> {
        Arc::new(Session { session })
    }

    fn handle(&self) -> sessionio::Session {
        self.session.clone()
    }
}

#[uniffi::export]
impl Session {
    /// The session id as the host knows it.
    pub fn id(&self) -> String {
        self.session.host_id()
    }
}

#[uniffi::export]
impl Session {
    /// The value stored under `key`, `None` when there is none.
    pub async fn get(&self, key: String) -> Result<Option<Value>, SessionioError> {
        let session = self.handle();
        run(async move {
            let stored = session.get::<serde_json::Value>(&key).await?;
            Ok(stored.as_ref().map(value::from_json))
        })
        .await
    }

    pub async fn set(&self, key: String, value: Value) -> Result<(), SessionioError> {
        let value = value::to_json(value)?;
        let session = self.handle();
        run(async move { Ok(session.set(&key, value).await?) }).await
    }

    /// Removes `key`; the value it held, if any.
    pub async fn remove(&self, key: String) -> Result<Option<Value>, SessionioError> {
        let session = self.handle();
        run(async move {
            let old = session.remove(&key).await?;
            Ok(old.as_ref().map(value::from_json))
        })
        .await
    }

    /// Adds `by` to the integer under `key` (0 when missing), atomically; the new value.
    pub async fn increment(&self, key: String, by: i64) -> Result<i64, SessionioError> {
        let session = self.handle();
        run(async move { Ok(session.increment(&key, by).await?) }).await
    }

    /// Runs `updater` on the session's data inside one atomic update; what it returned.
    pub async fn update(&self, updater: Arc<dyn SessionUpdater>) -> Result<Value, SessionioError> {
        let session = self.handle();
        run(async move {
            session
                .update_async(|data| {
                    let updater = updater.clone();
                    async move {
                        // The host's function may block (Ruby waits for its GVL): off the
                        // runtime's workers.
                        let updated = tokio::task::spawn_blocking(move || {
                            updater.apply(value::from_json_map(&data))
                        })
                        .await
                        .map_err(|e| {
                            SessionioError::server(format!("update function failed: {e}"))
                        })??;
                        Ok((value::to_json_map(updated.data)?, updated.returned))
                    }
                })
                .await
        })
        .await
    }

    /// The whole data, a map.
    pub async fn data(&self) -> Result<Value, SessionioError> {
        let session = self.handle();
        run(async move { Ok(value::from_json_map(&session.data().await?)) }).await
    }

    /// When the session expires unless it is used, in Unix milliseconds.
    pub async fn expires_at(&self) -> Result<u64, SessionioError> {
        let session = self.handle();
        run(async move { Ok(session.expires_at().await?) }).await
    }

    /// Stores a new session now (and makes its request's response set the cookie).
    pub async fn save(&self) -> Result<(), SessionioError> {
        let session = self.handle();
        run(async move { Ok(session.save().await?) }).await
    }

    /// The same data under a new id (the old one is refused from now on): after a login.
    pub async fn regenerate(&self) -> Result<Arc<Session>, SessionioError> {
        let session = self.handle();
        run(async move { Ok(Session::new(session.regenerate().await?)) }).await
    }

    /// Logs the session in as `user_id` under a new id, as `regenerate` does; the new
    /// session.
    pub async fn login(&self, user_id: String) -> Result<Arc<Session>, SessionioError> {
        let session = self.handle();
        run(async move { Ok(Session::new(session.login(&user_id).await?)) }).await
    }

    /// Unbinds the session from its user under a new id, as `regenerate` does (the data
    /// is kept); the new session.
    pub async fn logout(&self) -> Result<Arc<Session>, SessionioError> {
        let session = self.handle();
        run(async move { Ok(Session::new(session.logout().await?)) }).await
    }

    /// The user the session is logged in as, `None` when it is not.
    pub async fn user_id(&self) -> Result<Option<String>, SessionioError> {
        let session = self.handle();
        run(async move { Ok(session.user_id().await?) }).await
    }

    /// Deletes the session and disconnects its sockets; how many.
    pub async fn destroy(&self) -> Result<u64, SessionioError> {
        let session = self.handle();
        run(async move { Ok(session.destroy().await? as u64) }).await
    }

    /// Emits `event` with `data` to every socket of the session; how many.
    pub async fn notify(&self, event: String, data: Value) -> Result<u64, SessionioError> {
        let data = value::to_msgpack(data);
        let session = self.handle();
        run(async move { Ok(session.notify(&event, data).await? as u64) }).await
    }
}

/// Why an HTTP request's cookie was refused.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Refusal {
    /// `ERR_SESSION_REFUSED`.
    pub code: String,
    /// The engine's text: `invalid session`, `session expired`, `store unavailable`, …
    pub message: String,
    /// The HTTP status to answer.
    pub status: u16,
}

impl From<sessionio::Refusal> for Refusal {
    fn from(r: sessionio::Refusal) -> Self {
        Refusal {
            code: crate::error::REFUSED_CODE.to_owned(),
            message: r.message().to_owned(),
            status: r.http_status(),
        }
    }
}

/// What an HTTP request's `Cookie` header resolved to: core's `host::HttpOutcome`.
#[derive(uniffi::Object)]
pub struct HttpOutcome {
    outcome: sessionio::host::HttpOutcome,
}

impl HttpOutcome {
    pub fn new(outcome: sessionio::host::HttpOutcome) -> Arc<Self> {
        Arc::new(HttpOutcome { outcome })
    }
}

#[uniffi::export]
impl HttpOutcome {
    /// The request's session, `None` when its cookie was refused.
    pub fn session(&self) -> Option<Arc<Session>> {
        self.outcome.session().cloned().map(Session::new)
    }

    /// Why the cookie was refused.
    pub fn refusal(&self) -> Option<Refusal> {
        self.outcome.refusal().map(Refusal::from)
    }

    /// The `Set-Cookie` value the response carries; read it when the response starts
    /// (it follows `save`, `regenerate` and `destroy` made during the request).
    pub fn set_cookie(&self) -> Option<String> {
        self.outcome.set_cookie()
    }
}

/// A duration the host gives in seconds.
pub fn seconds(value: f64, what: &str) -> Result<Duration, SessionioError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        SessionioError::invalid_value(format!(
            "{what} must be a non-negative, finite number of seconds, not {value}"
        ))
    })
}
