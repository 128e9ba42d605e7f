//! The session handle shared by HTTP handlers, socket handlers and the host, and the
//! cookie change an HTTP response must carry because of what was done through it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::engine::{Core, Extension, SessionIo};
use crate::error::{Error, Refusal, Result};
use crate::login::{new_login, valid_user_id, Client};
use crate::store::{now_ms, Data, Login, Record};
use crate::SessionId;

/// The cookie change an HTTP response must carry, decided while the request runs
/// (`regenerate` sets the new session's cookie, `destroy` a clearing one).
#[derive(Default)]
pub(crate) struct ResponseCookie {
    set_cookie: Mutex<Option<String>>,
    /// What the request's cookie resolved to: the id, and the birth state of a new
    /// session. Not the `Session`: a `Session` of the request holds this slot, so caching
    /// one here would make a cycle that leaks the slot, the session and the engine's core
    /// with every request (seen by the soak).
    pub(crate) resolved: tokio::sync::OnceCell<ResolvedSession>,
    /// The client of the request (its `User-Agent` and address), as the host reported it:
    /// what [`Session::login`] records for the user's list of sessions.
    pub(crate) client: std::sync::OnceLock<Client>,
    /// The session's record as the request's session check left it (when the store read
    /// it in that step): the first write compare-and-swaps from it instead of loading it
    /// again, one store round trip fewer. Taken once; later writes load.
    known: Mutex<Option<Record>>,
}

/// What [`ResponseCookie::resolved`] caches.
pub(crate) type ResolvedSession = std::result::Result<(SessionId, Option<Arc<Birth>>), Refusal>;

impl ResponseCookie {
    pub(crate) fn set(&self, header: String) {
        *self.set_cookie.lock().unwrap_or_else(|p| p.into_inner()) = Some(header);
    }

    pub(crate) fn take(&self) -> Option<String> {
        self.set_cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub(crate) fn remember(&self, record: Record) {
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(record);
    }

    /// The remembered record, if it is `id`'s (not after a `regenerate`).
    fn take_known(&self, id: SessionId) -> Option<Record> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.take().filter(|r| r.id == id)
    }

    pub(crate) fn peek(&self) -> Option<String> {
        self.set_cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Whether the session of a request that came without a cookie is stored yet: it is
/// stored (and its cookie set) by the first write or [`Session::save`], never by a read.
/// Shared by every handle on that session within the request.
#[derive(Debug, Default)]
pub(crate) struct Birth(AtomicU8);

const UNBORN: u8 = 0;
const STORED: u8 = 1;
/// Destroyed before it was ever stored: writes then find no session, as after any destroy.
const DESTROYED_UNBORN: u8 = 2;

impl Birth {
    fn is_unborn(&self) -> bool {
        self.0.load(Ordering::Acquire) == UNBORN
    }
}

impl SessionIo {
    /// Creates an empty session, stored at once (for the host's own use: its cookie is
    /// [`host::set_cookie`](crate::host::set_cookie)). Fails with
    /// [`Error::TooManySessions`] at [`max_sessions`](crate::Builder::max_sessions).
    pub async fn create_session(&self) -> Result<Session> {
        self.0.admit_new_session().await?;
        let id = self
            .0
            .insert_new_session(Default::default(), now_ms() + self.0.ttl_ms(), None)
            .await?;
        Ok(Session::new(id, self.0.clone(), true, None))
    }

    /// A handle on an existing, live session. Writes through it do not count as activity.
    pub async fn session(&self, id: SessionId) -> Result<Session> {
        self.0.live_record(id).await?;
        Ok(Session::new(id, self.0.clone(), false, None))
    }
}

/// A live handle on one session. It holds only the id: every read goes to the store and
/// every write is an atomic read-modify-write there, so there is nothing to `reload()`
/// and concurrent writers (HTTP requests, socket events, other processes) never lose each
/// other's updates.
///
/// **When a session is created.** An HTTP request without a session cookie gets a
/// handle on a session that is not stored yet: reads see empty data and store nothing. The
/// first write ([`set`](Self::set), [`increment`](Self::increment), [`remove`](Self::remove),
/// [`update`](Self::update), [`update_async`](Self::update_async),
/// [`regenerate`](Self::regenerate)) or [`save`](Self::save) stores it and makes the
/// response set its cookie. So static files, health checks and pages that only read cost
/// no record and send no cookie; a page that opens a socket calls `save()` (the socket's
/// handshake needs the cookie).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sessionio::Error> {
/// let io = sessionio::SessionIo::builder()
///     .secret("a secret of at least thirty-two bytes!!")
///     .build()?;
/// let session = io.create_session().await?;
/// assert_eq!(session.increment("count", 1).await?, 1);
/// session.set("user", "ada").await?;
/// assert_eq!(session.get::<String>("user").await?.as_deref(), Some("ada"));
/// session.update(|data| {
///     data.remove("user");
///     Ok(())
/// }).await?;
/// assert_eq!(session.get::<String>("user").await?, None);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    id: SessionId,
    core: Arc<Core>,
    /// How far writes through this handle extend the session (activity; for a
    /// token-admitted socket's handle, never past its token's expiry).
    extension: Extension,
    /// Set when the handle belongs to an HTTP request: regenerate/destroy then update
    /// the response's cookie.
    cookie: Option<Arc<ResponseCookie>>,
    /// Set when the request came without a cookie: whether the session is stored yet.
    birth: Option<Arc<Birth>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        id: SessionId,
        core: Arc<Core>,
        extends: bool,
        cookie: Option<Arc<ResponseCookie>>,
    ) -> Self {
        Session {
            id,
            core,
            extension: extends.into(),
            cookie,
            birth: None,
        }
    }

    /// This handle, with writes that extend the session only when the extension ends by
    /// `limit` (unix ms, a token's expiry); `None` leaves it as it is.
    pub(crate) fn extending_until(mut self, limit: Option<u64>) -> Self {
        self.extension = self.extension.until(limit);
        self
    }

    /// The handle of a request that came without a cookie: a fresh id, stored (and its
    /// cookie put in `cookie`) by the first write or [`save`](Self::save). Handles made
    /// with the same `birth` share whether it is stored.
    pub(crate) fn unborn(
        id: SessionId,
        core: Arc<Core>,
        cookie: Arc<ResponseCookie>,
        birth: Arc<Birth>,
    ) -> Self {
        Session {
            id,
            core,
            extension: Extension::Ttl,
            cookie: Some(cookie),
            birth: Some(birth),
        }
    }

    /// The birth state of this handle's session, for another handle of the same request.
    pub(crate) fn birth(&self) -> Option<Arc<Birth>> {
        self.birth.clone()
    }

    fn is_unborn(&self) -> bool {
        self.birth.as_ref().is_some_and(|b| b.is_unborn())
    }

    /// Stores the session now if it is not stored yet, and has the response set its
    /// cookie; does nothing for a stored one. Writes do this by themselves: call it for a
    /// session that must exist before anything is written, e.g. in the handler of a page
    /// that opens a socket (the handshake needs the cookie) or before
    /// [`issue_token`](crate::SessionIo::issue_token) for it. Fails with
    /// [`Error::TooManySessions`] at [`max_sessions`](crate::Builder::max_sessions).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use sessionio::host;
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build()?;
    /// let request = host::http_request(&io, None).await;
    /// let session = request.session().unwrap();
    /// assert_eq!(session.get::<i64>("count").await?, None); // a read stores nothing
    /// assert_eq!(request.set_cookie(), None);
    /// session.save().await?;
    /// assert_eq!(request.set_cookie(), Some(host::set_cookie(&io, session.id())));
    /// # Ok(()) }
    /// ```
    pub async fn save(&self) -> Result<()> {
        if self.is_unborn() {
            let record = self.unborn_record();
            self.store_unborn(record).await?;
        }
        Ok(())
    }

    /// An empty record for this unborn session, expiring a TTL from now.
    fn unborn_record(&self) -> Record {
        Record::new(
            self.id,
            Data::new(),
            now_ms().saturating_add(self.core.ttl_ms()),
        )
    }

    /// Stores the first record of an unborn session (within the cap) and sets its
    /// cookie. `false` when another handle of the request stored it first: the caller
    /// then writes to the stored one.
    async fn store_unborn(&self, record: Record) -> Result<bool> {
        self.core.admit_new_session().await?;
        let created = self.core.store.create(record).await?;
        if let Some(birth) = &self.birth {
            let _ = birth
                .0
                .compare_exchange(UNBORN, STORED, Ordering::AcqRel, Ordering::Acquire);
        }
        if let (Some(slot), Some(cookie)) = (&self.cookie, self.core.set_cookie(self.id)) {
            slot.set(cookie);
        }
        Ok(created)
    }

    /// The session id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The id as the host knows it: [`host::host_id`](crate::host::host_id)
    /// (express-session's id in express-session mode).
    pub fn host_id(&self) -> String {
        self.core.host_id(self.id)
    }

    /// The stored record; for an unborn session the empty one it would start with.
    async fn live_record(&self) -> Result<Record> {
        if self.is_unborn() {
            return Ok(self.unborn_record());
        }
        Ok(self.core.live_record(self.id).await?)
    }

    /// All data of the session (empty for a session not stored yet).
    pub async fn data(&self) -> Result<Data> {
        Ok(self.live_record().await?.data)
    }

    /// The session's expiry instant, unix milliseconds (a TTL from now for a session not
    /// stored yet).
    pub async fn expires_at(&self) -> Result<u64> {
        Ok(self.live_record().await?.expires_at)
    }

    /// The value under `key`, deserialized; `None` if absent.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.live_record().await?.data.remove(key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| Error::InvalidValue(format!("`{key}`: {e}"))),
        }
    }

    /// Stores `value` under `key`.
    pub async fn set(&self, key: &str, value: impl Serialize) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|e| Error::InvalidValue(e.to_string()))?;
        self.update(move |data| {
            data.insert(key.to_owned(), value.clone());
            Ok(())
        })
        .await
    }

    /// Removes `key`; returns its former value.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>> {
        self.update(|data| Ok(data.remove(key))).await
    }

    /// Atomically adds `by` to the integer under `key` (absent counts as 0) and returns
    /// the new value. A non-integer value or an overflow is an [`Error::InvalidValue`]
    /// and changes nothing.
    pub async fn increment(&self, key: &str, by: i64) -> Result<i64> {
        self.update(|data| {
            let current = match data.get(key) {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| Error::InvalidValue(format!("`{key}` is not an integer")))?,
            };
            let next = current
                .checked_add(by)
                .ok_or_else(|| Error::InvalidValue(format!("`{key}` would overflow")))?;
            data.insert(key.to_owned(), next.into());
            Ok(next)
        })
        .await
    }

    /// Runs `f` on the session's data as one atomic transaction and returns its result.
    /// `f` may run more than once (when another writer got there first) and always sees
    /// the latest data; if it returns `Err`, nothing is written.
    pub async fn update<R, F>(&self, mut f: F) -> Result<R>
    where
        F: FnMut(&mut Data) -> Result<R> + Send,
        R: Send,
    {
        let mut out = None;
        let ttl = self.core.ttl_ms();
        let extension = self.extension;
        let mut mutation = |rec: &mut Record| {
            let now = now_ms();
            if rec.is_expired(now) {
                return Err(Error::SessionExpired);
            }
            out = Some(f(&mut rec.data)?);
            if let Some(target) = extension.target(now, ttl) {
                rec.expires_at = rec.expires_at.max(target);
            }
            Ok(())
        };
        if self.is_unborn() {
            // The first write creates the record with its result; a failed one stores
            // nothing.
            let mut first = self.unborn_record();
            mutation(&mut first)?;
            if self.store_unborn(first).await? {
                return Ok(out.expect("the mutation ran"));
            }
        }
        if let Some(known) = self.cookie.as_ref().and_then(|c| c.take_known(self.id)) {
            // From the record the request's check read. Anything but a stored swap (a lost
            // race, or `f` refusing data that may be older than the store's) goes on to
            // the store's own update, which starts from a fresh load.
            let swapped = crate::store::swap_once(&*self.core.store, &known, &mut mutation).await;
            if let Ok(Some(_)) = swapped {
                return Ok(out.expect("a successful swap ran the mutation"));
            }
        }
        match self.core.store.update(self.id, &mut mutation).await? {
            None => Err(Error::SessionNotFound),
            Some(_) => Ok(out.expect("a successful update ran the mutation")),
        }
    }

    /// Like [`update`](Self::update), for a transaction that must await (e.g. one that runs
    /// in another language's event loop): `f` gets a copy of the latest data and answers
    /// the data to store with its result. It runs without holding any store lock, as a
    /// compare-and-swap loop: when another writer got there first, `f` runs again on the
    /// newer data (at most [`MAX_UPDATE_ATTEMPTS`](crate::store::MAX_UPDATE_ATTEMPTS)
    /// times, then [`Error::Conflict`]). If `f` fails, nothing is written and its error is
    /// returned.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionio::Error> {
    /// # let io = sessionio::SessionIo::builder().secret([7u8; 32]).build()?;
    /// let session = io.create_session().await?;
    /// let seen = session
    ///     .update_async(|mut data| async move {
    ///         data.insert("user".into(), "ada".into());
    ///         Ok::<_, sessionio::Error>((data, "written"))
    ///     })
    ///     .await?;
    /// assert_eq!(seen, "written");
    /// assert_eq!(session.get::<String>("user").await?.as_deref(), Some("ada"));
    /// # Ok(()) }
    /// ```
    pub async fn update_async<R, E, F, Fut>(&self, mut f: F) -> std::result::Result<R, E>
    where
        F: FnMut(Data) -> Fut + Send,
        Fut: std::future::Future<Output = std::result::Result<(Data, R), E>> + Send,
        E: From<Error>,
        R: Send,
    {
        let ttl = self.core.ttl_ms();
        if self.is_unborn() {
            let mut first = self.unborn_record();
            let (data, out) = f(first.data.clone()).await?;
            first.data = data;
            if self.store_unborn(first).await? {
                return Ok(out);
            }
        }
        for attempt in 0..crate::store::MAX_UPDATE_ATTEMPTS {
            let current = self.live_record().await?;
            let (data, out) = f(current.data.clone()).await?;
            let now = now_ms();
            if current.is_expired(now) {
                return Err(Error::SessionExpired.into());
            }
            let mut next = current.clone();
            next.data = data;
            if let Some(target) = self.extension.target(now, ttl) {
                next.expires_at = next.expires_at.max(target);
            }
            if self.core.store.replace(next, current.version).await? {
                return Ok(out);
            }
            crate::store::after_lost_race(attempt).await;
        }
        Err(Error::Conflict(crate::store::MAX_UPDATE_ATTEMPTS).into())
    }

    /// Gives the session a new id (call it on login, against session fixation) and
    /// returns the new handle. The data is kept; the old id stops working at once. Sockets
    /// of the old id are **disconnected** (server-side): they authenticated before the
    /// privilege change, and a fixation attacker's socket must not follow the victim into
    /// the new session. Clients reconnect with the new cookie. In an HTTP handler the
    /// response carries the new cookie.
    pub async fn regenerate(&self) -> Result<Session> {
        self.rotate(|login| login).await
    }

    /// Logs the session in as `user_id` (1 to 256 bytes, chosen by the app) and gives it a
    /// new id, as [`regenerate`](Self::regenerate) does (against fixation: the old id and
    /// its sockets are gone, the response carries the new cookie); returns the new handle.
    /// The session then appears in [`SessionIo::user_sessions`], its sockets are reached
    /// by [`SessionIo::notify_user`], and it is destroyed by
    /// [`SessionIo::destroy_user`]. The user agent and address of the request are
    /// recorded for the user's list of sessions. Logging in as another user is the same
    /// call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionio::Error> {
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build()?;
    /// let session = io.create_session().await?;
    /// let session = session.login("ada").await?;
    /// assert_eq!(session.user_id().await?.as_deref(), Some("ada"));
    /// assert_eq!(io.user_sessions("ada").await?.len(), 1);
    /// let session = session.logout().await?;
    /// assert_eq!(session.user_id().await?, None);
    /// assert!(io.user_sessions("ada").await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn login(&self, user_id: &str) -> Result<Session> {
        let user_id = valid_user_id(user_id)?.to_owned();
        let client = (self.cookie.as_ref())
            .and_then(|c| c.client.get().cloned())
            .unwrap_or_default();
        self.rotate(move |_| Some(new_login(&user_id, client)))
            .await
    }

    /// Unbinds the session from its user and gives it a new id, as
    /// [`regenerate`](Self::regenerate) does; the data is kept. Returns the new handle.
    pub async fn logout(&self) -> Result<Session> {
        self.rotate(|_| None).await
    }

    /// The user the session is logged in as (see [`login`](Self::login)).
    pub async fn user_id(&self) -> Result<Option<String>> {
        Ok(self.live_record().await?.login.map(|l| l.user_id))
    }

    /// The new id of [`regenerate`](Self::regenerate), [`login`](Self::login) and
    /// [`logout`](Self::logout), with the login `login` makes of the old one.
    async fn rotate(&self, login: impl FnOnce(Option<Login>) -> Option<Login>) -> Result<Session> {
        self.save().await?;
        let old = self.live_record().await?;
        let new = self
            .core
            .insert_new_session(
                old.data,
                old.expires_at.max(now_ms() + self.core.ttl_ms()),
                login(old.login),
            )
            .await?;
        self.core.destroy_session(self.id).await?;
        if let (Some(slot), Some(cookie)) = (&self.cookie, self.core.set_cookie(new)) {
            slot.set(cookie);
        }
        Ok(Session {
            id: new,
            core: self.core.clone(),
            extension: self.extension,
            cookie: self.cookie.clone(),
            birth: None,
        })
    }

    /// Deletes the session and disconnects all its sockets; returns how many. In an HTTP
    /// handler the response also clears the cookie. A session not stored yet is only
    /// marked destroyed (later writes find no session), with no cookie to clear.
    pub async fn destroy(&self) -> Result<usize> {
        if let Some(birth) = &self.birth {
            let marked = birth.0.compare_exchange(
                UNBORN,
                DESTROYED_UNBORN,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if marked.is_ok() {
                return Ok(0);
            }
        }
        let n = self.core.destroy_session(self.id).await?;
        if let Some(slot) = &self.cookie {
            slot.set(self.core.clear_cookie());
        }
        Ok(n)
    }

    /// Emits `event` with `data` to every socket of this session; returns how many.
    pub async fn notify(&self, event: &str, data: impl Serialize) -> Result<usize> {
        self.core.notify_session(self.id, event, &data).await
    }
}
