//! express-session compatible mode: sessionio validates express-session's own cookie and
//! reads express-session's own sessions, so a Node app keeps its session stack as it is.
//!
//! - [`ExpressSigner`] reads `connect.sid` (`s:<id>.<signature>`, cookie-signature's format)
//!   in Rust, before any store is asked.
//! - An [`ExpressBackend`] reaches express-session's store: the Node binding's calls the
//!   host's store (`get`, `set`, `touch`, `destroy`, so any store works, MemoryStore
//!   included); `ConnectRedis` reads connect-redis's keys directly, so handshakes never
//!   cross into JavaScript.
//! - [`ExpressStore`] puts a backend behind the engine's [`SessionStore`] seam. The engine
//!   keys sessions by a 128-bit [`SessionId`]; an express session id (any string) maps to
//!   one by SHA-256, and the store remembers the way back while the engine uses the id.
//!
//! Expiry follows the express session's `cookie.expires` (no expiry for a browser-session
//! cookie); socket activity moves it by `cookie.originalMaxAge`, as a request through
//! express-session's middleware does.

mod codec;
#[cfg(feature = "redis")]
mod connect_redis;

use std::collections::HashMap;
use std::num::NonZeroU8;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::format_description::well_known::iso8601::{
    Config as Iso8601Config, EncodedConfig, TimePrecision,
};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

pub use codec::{ExpressSigner, MAX_SID_LEN};
#[cfg(feature = "redis")]
pub use connect_redis::ConnectRedis;

use crate::identity::{CookieChoice, Identity};
use crate::store::{
    data_version, host_fields, now_ms, take_login, BoxFuture, Data, Mutation, Record, SessionStore,
    Sweep, Touch,
};
use crate::{Error, Result, SessionId};

/// express-session's default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "connect.sid";

/// How long an express id is remembered after its last use when no socket of it is
/// connected (a handshake or a host call takes far less).
const REMEMBER: Duration = Duration::from_secs(5 * 60);

/// A session without `cookie.expires` (a browser-session cookie) never expires on the
/// server; it is given an expiry this far ahead at every read.
const NO_EXPIRY_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// Reaches the host's express-session store. Sessions are express-session's JSON objects
/// (`{"cookie": {"originalMaxAge", "expires", …}, …data}`); errors become
/// [`Error::StoreUnavailable`].
pub trait ExpressBackend: Send + Sync + 'static {
    /// `store.get(sid)`: the session, or `None`.
    fn get(&self, sid: String) -> BoxFuture<'_, Result<Option<Value>>>;
    /// `store.set(sid, session)`.
    fn set(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>>;
    /// `store.touch(sid, session)`: the session's `cookie` was moved forward. Called only
    /// when [`has_touch`](Self::has_touch) says the store has it.
    fn touch(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>>;
    /// Whether the store has `touch` (optional in express-session's store API). Without
    /// it the engine moves a session's expiry with `set`, of the session it has just read
    /// under the session's lock.
    fn has_touch(&self) -> bool;
    /// `store.destroy(sid)`.
    fn destroy(&self, sid: String) -> BoxFuture<'_, Result<()>>;
}

/// The express-session mode's settings, given to
/// [`Builder::express_session`](crate::Builder::express_session).
///
#[derive(Clone)]
pub struct ExpressSession {
    pub(crate) secrets: Vec<Vec<u8>>,
    pub(crate) cookie_name: String,
    pub(crate) backend: Arc<dyn ExpressBackend>,
}

impl std::fmt::Debug for ExpressSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpressSession")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

impl ExpressSession {
    /// express-session's store behind `backend`, cookie `connect.sid`; give it the secret.
    pub fn new(backend: Arc<dyn ExpressBackend>) -> Self {
        ExpressSession {
            secrets: Vec::new(),
            cookie_name: DEFAULT_COOKIE_NAME.into(),
            backend,
        }
    }

    /// express-session's `secret` (one).
    pub fn secret(self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets([secret])
    }

    /// express-session's `secret` array: the first signs, all are accepted.
    pub fn secrets<I, S>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.secrets = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        self
    }

    /// express-session's `name` (default `connect.sid`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }
}

impl ExpressSession {
    /// The secrets of the engine's tokens (`issue_token`, `auth.token`) when the engine is
    /// given none of its own: one key per express-session secret, in the same order (the
    /// first signs, all verify), each HMAC-SHA256(secret, a label of this use) — never the
    /// cookie's key itself. Every process given express-session's secret verifies every
    /// other's tokens, and rotating that secret rotates them too.
    pub(crate) fn token_secrets(&self) -> Vec<Vec<u8>> {
        self.secrets
            .iter()
            .map(|secret| {
                crate::cookie::derived_key(secret, b"sessionio/express-session mode: token key")
            })
            .collect()
    }
}

/// The engine's id for an express session id.
pub fn session_id_for(sid: &str) -> SessionId {
    let digest = Sha256::new()
        .chain_update(b"sessionio/express-sid\0")
        .chain_update(sid.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    SessionId(i128::from_le_bytes(bytes))
}

struct Name {
    sid: Arc<str>,
    used: Instant,
    /// The session's expiry when last read: stores drop expired sessions (MemoryStore on
    /// read, Redis by TTL), and a session gone after its expiry has expired, not been
    /// destroyed (its sockets are told `session expired`).
    expires_at: Option<u64>,
}

/// An [`ExpressBackend`] behind the engine's [`SessionStore`] seam; see the module docs.
/// Writes by sessionio (socket handlers, `session(id).increment(…)`) are atomic within this
/// process: one lock per session around read-modify-write, and around the read-touch of
/// the expiry that every socket event makes (a touch must not write back a session read
/// before an update). express-session's own saves
/// stay last-writer-wins, as they are without sessionio.
pub(crate) struct ExpressStore {
    pub(crate) signer: ExpressSigner,
    backend: Arc<dyn ExpressBackend>,
    names: Mutex<HashMap<SessionId, Name>>,
    locks: Box<[tokio::sync::Mutex<()>]>,
}

impl std::fmt::Debug for ExpressStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpressStore").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// express-session's sessions through the [identity seam](crate::identity): its signed
/// `connect.sid`, its ids, its store; the engine creates no session and writes no cookie.
pub(crate) struct ExpressIdentity(Arc<ExpressStore>);

impl ExpressIdentity {
    pub(crate) fn new(store: ExpressStore) -> Self {
        ExpressIdentity(Arc::new(store))
    }
}

impl Identity for ExpressIdentity {
    fn verify_cookie(&self, value: &str) -> Option<SessionId> {
        let sid = self.0.signer.verify_cookie(value)?;
        self.0.resolve(&sid).ok()
    }

    fn sign_cookie(&self, _id: SessionId) -> Option<String> {
        None
    }

    /// express-session reads the first `connect.sid` only (the `cookie` package's `parse`
    /// keeps the first of a repeated name): a valid one after a forged one must not pass,
    /// or express-session would then mint a new session for the forged one.
    fn cookie_choice(&self) -> CookieChoice {
        CookieChoice::First
    }

    fn creates_sessions(&self) -> bool {
        false
    }

    fn resolve(&self, host_id: &str) -> Result<SessionId> {
        self.0.resolve(host_id)
    }

    fn host_id(&self, id: SessionId) -> String {
        self.0
            .sid_of(id)
            .map_or_else(|| id.to_string(), |sid| sid.to_string())
    }

    fn store(&self) -> Arc<dyn SessionStore> {
        self.0.clone()
    }

    fn sweep(&self, in_use: &dyn Fn(SessionId) -> bool) {
        self.0.forget_unused(in_use);
    }
}

impl ExpressStore {
    pub(crate) fn new(settings: &ExpressSession) -> Self {
        ExpressStore {
            signer: ExpressSigner::new(&settings.secrets),
            backend: settings.backend.clone(),
            names: Mutex::default(),
            locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// The engine's id for `sid`, remembered for the way back.
    pub(crate) fn resolve(&self, sid: &str) -> Result<SessionId> {
        if sid.is_empty() || sid.len() > MAX_SID_LEN {
            return Err(Error::InvalidSessionId);
        }
        let id = session_id_for(sid);
        let mut names = lock(&self.names);
        let now = Instant::now();
        names
            .entry(id)
            .and_modify(|n| n.used = now)
            .or_insert_with(|| Name {
                sid: sid.into(),
                used: now,
                expires_at: None,
            });
        Ok(id)
    }

    /// The express id of an engine id, if known.
    pub(crate) fn sid_of(&self, id: SessionId) -> Option<Arc<str>> {
        let mut names = lock(&self.names);
        let name = names.get_mut(&id)?;
        name.used = Instant::now();
        Some(name.sid.clone())
    }

    /// Forgets the ids not used for a while, except those `in_use` says the engine holds
    /// (sessions with sockets: their expiry timers and events read the store).
    pub(crate) fn forget_unused(&self, in_use: impl Fn(SessionId) -> bool) {
        let now = Instant::now();
        lock(&self.names).retain(|id, n| now.duration_since(n.used) < REMEMBER || in_use(*id));
    }

    fn lock_for(&self, id: SessionId) -> &tokio::sync::Mutex<()> {
        &self.locks[(id.0 as u128 % self.locks.len() as u128) as usize]
    }

    /// The session of `id` as express-session stored it, with its express id.
    async fn fetch(&self, id: SessionId) -> Result<Option<(Arc<str>, Value)>> {
        let Some(sid) = self.sid_of(id) else {
            return Ok(None);
        };
        match self.backend.get(sid.to_string()).await? {
            Some(session @ Value::Object(_)) => {
                if let Some(name) = lock(&self.names).get_mut(&id) {
                    name.expires_at = Some(expiry_of(&session).unwrap_or(u64::MAX));
                }
                Ok(Some((sid, session)))
            }
            Some(_) => Err(Error::StoreUnavailable(
                "the express-session store returned a session that is not an object".into(),
            )),
            None => Ok(None),
        }
    }

    /// For a session the store no longer has: its last known expiry, if that has passed.
    fn expired_at(&self, id: SessionId, now: u64) -> Option<u64> {
        lock(&self.names)
            .get(&id)
            .and_then(|n| n.expires_at)
            .filter(|at| *at <= now)
    }
}

/// The engine's record of an express session.
fn to_record(id: SessionId, session: &Value, now: u64) -> Record {
    let mut data = Data::new();
    if let Value::Object(map) = session {
        for (k, v) in map {
            if k != "cookie" {
                data.insert(k.clone(), v.clone());
            }
        }
    }
    let login = take_login(&mut data);
    let expires_at = expiry_of(session).unwrap_or(now.saturating_add(NO_EXPIRY_MS));
    let version = data_version(&data);
    Record {
        id,
        data,
        expires_at,
        version,
        login,
    }
}

/// `cookie.expires` in unix ms (an ISO 8601 string, as `JSON.stringify` writes a `Date`,
/// or a number); `None` if the cookie has no expiry.
pub(crate) fn expiry_of(session: &Value) -> Option<u64> {
    match session.get("cookie")?.get("expires")? {
        Value::String(s) => parse_iso8601_ms(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The latest time a JavaScript `Date` can hold: 8.64e15 ms after the epoch
/// (+275760-09-13T00:00:00.000Z).
const JS_MAX_DATE_MS: u64 = 8_640_000_000_000_000;

/// `Date.prototype.toISOString`'s layout for years 0000 to 9999:
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const JS_ISO: EncodedConfig = Iso8601Config::DEFAULT
    .set_year_is_six_digits(false)
    .set_time_precision(TimePrecision::Second {
        decimal_digits: NonZeroU8::new(3),
    })
    .encode();

/// `toISOString`'s expanded-year layout for the years past 9999: `+YYYYYY-MM-DDTHH:MM:SS.mmmZ`.
const JS_ISO_EXPANDED: EncodedConfig = Iso8601Config::DEFAULT
    .set_year_is_six_digits(true)
    .set_time_precision(TimePrecision::Second {
        decimal_digits: NonZeroU8::new(3),
    })
    .encode();

/// An ISO 8601 date as `JSON.stringify` writes a `Date` (`YYYY-MM-DDTHH:MM:SS.mmmZ`), or with
/// another UTC offset or precision as RFC 3339 allows → unix ms (sub-millisecond digits are
/// dropped, as JavaScript does). `None` for anything else, and for dates before 1970.
fn parse_iso8601_ms(s: &str) -> Option<u64> {
    let at = match OffsetDateTime::parse(s, &Rfc3339) {
        Ok(at) => at,
        // The expanded years `toISOString` writes past 9999 (`+010000-01-01T…`); only that
        // shape, not ISO 8601's other forms (basic, week or ordinal dates).
        Err(_) if s.starts_with('+') && s.get(7..8) == Some("-") && s.get(13..14) == Some("T") => {
            OffsetDateTime::parse(s, &Iso8601::<JS_ISO_EXPANDED>).ok()?
        }
        Err(_) => return None,
    };
    let ms = u64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok()?;
    (ms <= JS_MAX_DATE_MS).then_some(ms)
}

/// `Date.prototype.toJSON` of unix ms: the ISO 8601 form `toISOString` writes, or `null`
/// past the latest date JavaScript can hold (an invalid `Date`).
fn iso8601_json(ms: u64) -> Value {
    format_iso8601_ms(ms).map_or(Value::Null, Value::String)
}

/// `Date.prototype.toISOString` of unix ms; `None` past the latest date JavaScript can hold
/// (where `toISOString` throws).
fn format_iso8601_ms(ms: u64) -> Option<String> {
    if ms > JS_MAX_DATE_MS {
        return None;
    }
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    if at.year() <= 9999 {
        at.format(&Iso8601::<JS_ISO>).ok()
    } else {
        at.format(&Iso8601::<JS_ISO_EXPANDED>).ok()
    }
}

/// `session` with `record`'s data and login as its fields, keeping its `cookie`.
fn with_data(session: &Value, record: &Record) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(cookie) = session.get("cookie") {
        out.insert("cookie".into(), cookie.clone());
    }
    out.extend(host_fields(record).filter(|(k, _)| k != "cookie"));
    Value::Object(out)
}

impl SessionStore for ExpressStore {
    fn create(&self, _record: Record) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async {
            Err(Error::Config(
                "in express-session mode, sessions are created by express-session".into(),
            ))
        })
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        Box::pin(async move {
            let now = now_ms();
            Ok(match self.fetch(id).await? {
                Some((_, session)) => Some(to_record(id, &session, now)),
                // Dropped by the store at its expiry: an expired record, no data.
                None => self
                    .expired_at(id, now)
                    .map(|expires_at| Record::dropped_at_expiry(id, expires_at)),
            })
        })
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let _guard = self.lock_for(record.id).lock().await;
            let Some((sid, session)) = self.fetch(record.id).await? else {
                return Ok(false);
            };
            let current = to_record(record.id, &session, now_ms());
            if current.version != expected_version || current.user_id() != record.user_id() {
                return Ok(false);
            }
            let next = with_data(&session, &record);
            self.backend.set(sid.to_string(), next).await?;
            Ok(true)
        })
    }

    /// Under the session's lock, as `update`: a store's `touch` may write the whole session
    /// it is given (and `set` does, for a store without `touch`), so the session must be
    /// read after any update in flight, never before it.
    fn touch(&self, id: SessionId, _expires_at: u64, now: u64) -> BoxFuture<'_, Result<Touch>> {
        Box::pin(async move {
            let _guard = self.lock_for(id).lock().await;
            let Some((sid, mut session)) = self.fetch(id).await? else {
                return Ok(match self.expired_at(id, now) {
                    Some(_) => Touch::Expired,
                    None => Touch::Missing,
                });
            };
            if expiry_of(&session).is_some_and(|at| at <= now) {
                return Ok(Touch::Expired);
            }
            // As express-session's `req.session.touch()`: expires = now + originalMaxAge.
            let max_age = session
                .get("cookie")
                .and_then(|c| c.get("originalMaxAge"))
                .and_then(Value::as_u64);
            if let (Some(max_age), Some(cookie)) = (max_age, session.get_mut("cookie")) {
                cookie["expires"] = iso8601_json(now.saturating_add(max_age));
                if self.backend.has_touch() {
                    self.backend.touch(sid.to_string(), session).await?;
                } else {
                    self.backend.set(sid.to_string(), session).await?;
                }
            }
            Ok(Touch::Extended)
        })
    }

    /// `store.destroy(sid)`; `true` if the store still had the session (one `get` first:
    /// an express id the engine knows may name a session the store has dropped or another
    /// process destroyed).
    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let _guard = self.lock_for(id).lock().await;
            let Some(sid) = self.sid_of(id) else {
                return Ok(false);
            };
            let existed = self.backend.get(sid.to_string()).await?.is_some();
            self.backend.destroy(sid.to_string()).await?;
            Ok(existed)
        })
    }

    /// `None`: express-session's store expires its own sessions (its MemoryStore drops one
    /// when it is read past `cookie.expires`, connect-redis gives each key that TTL), and an
    /// [`ExpressBackend`] cannot list sessions anyway (`store.all` is optional in
    /// express-session), so the engine never sweeps here.
    fn sweeper(&self) -> Option<&dyn Sweep> {
        None
    }

    /// An error, as `create`: express-session creates the sessions (with no cap of the
    /// engine's), and an [`ExpressBackend`] cannot count them (`store.length` is optional).
    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async {
            Err(Error::Config(
                "in express-session mode, sessions are created by express-session".into(),
            ))
        })
    }

    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            let _guard = self.lock_for(id).lock().await;
            let Some((sid, session)) = self.fetch(id).await? else {
                return Ok(None);
            };
            let current = to_record(id, &session, now_ms());
            let mut next = current.clone();
            mutation(&mut next)?;
            crate::store::same_user(&current, &next)?;
            if next.data != current.data || next.login != current.login {
                self.backend
                    .set(sid.to_string(), with_data(&session, &next))
                    .await?;
                next.version = data_version(&next.data);
            }
            Ok(Some(next))
        })
    }
}

/// The store conformance suite's view of an [`ExpressStore`] over `backend`: sessions are
/// created by express-session (here: written to the backend as express-session writes
/// them, then resolved to engine ids), versions are digests of the data, the expiry is
/// the cookie's, and the backend drops expired sessions itself.
#[cfg(test)]
pub(crate) fn conformance_subject(
    backend: Arc<dyn ExpressBackend>,
) -> crate::store::conformance::Subject {
    use crate::store::conformance::{Expiry, ExpiryRule, Subject, Versions};
    let store = Arc::new(ExpressStore::new(
        &ExpressSession::new(backend.clone()).secret("conformance"),
    ));
    let inserter = store.clone();
    Subject::shared(store)
        .without_user_index()
        .created_elsewhere(move |data: Data, expires_at: u64| {
            let (store, backend) = (inserter.clone(), backend.clone());
            async move {
                let sid = format!("express-{}", SessionId::default());
                let max_age = expires_at.saturating_sub(now_ms());
                let mut session = serde_json::Map::new();
                session.insert(
                    "cookie".into(),
                    serde_json::json!({
                        "originalMaxAge": max_age,
                        "expires": format_iso8601_ms(expires_at),
                        "httpOnly": true,
                        "path": "/",
                    }),
                );
                session.extend(data);
                backend.set(sid.clone(), Value::Object(session)).await?;
                store.resolve(&sid)
            }
        })
        .versions(Versions::Digest)
        .expiry_rule(ExpiryRule::OwnRule)
        .expiry(Expiry::ByTheStore { after_ms: 0 })
}

#[cfg(test)]
mod tests {
    use super::test_support::FakeMemoryStore;
    use super::*;
    use crate::store::LOGIN_KEY;

    /// express-session's MemoryStore semantics behind `ExpressStore`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn express_store_over_a_memory_store_passes_the_conformance_suite() {
        use crate::store::conformance;
        let subject = conformance_subject(Arc::new(FakeMemoryStore::default()));
        let report = conformance::run(&subject).await;
        eprintln!("ExpressStore over express-session's MemoryStore:\n{report}");
        report.assert_passed();
        assert_eq!(report.outcomes.len(), conformance::CHECKS.len());
    }

    #[test]
    fn iso8601_is_written_as_javascript_writes_it() {
        // [ms, new Date(ms).toISOString()] from Node 20.
        let cases: &[(u64, &str)] = &[
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (999, "1970-01-01T00:00:00.999Z"),
            (1_795_000_000_123, "2026-11-18T11:06:40.123Z"),
            (951_825_600_500, "2000-02-29T12:00:00.500Z"),
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
            (4_070_953_845_678, "2099-01-01T12:30:45.678Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            // Past 9999, toISOString writes expanded years.
            (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
            (8_640_000_000_000_000, "+275760-09-13T00:00:00.000Z"),
        ];
        for &(ms, js) in cases {
            assert_eq!(format_iso8601_ms(ms).as_deref(), Some(js), "{ms}");
            assert_eq!(iso8601_json(ms), Value::String(js.into()));
            assert_eq!(parse_iso8601_ms(js), Some(ms), "{js}");
        }
        // Past the latest JavaScript date, toISOString throws and toJSON gives null.
        for ms in [8_640_000_000_000_001, u64::MAX] {
            assert_eq!(format_iso8601_ms(ms), None, "{ms}");
            assert_eq!(iso8601_json(ms), Value::Null);
        }
    }

    #[test]
    fn iso8601_reads_what_javascript_reads() {
        // [text, Date.parse(text)] from Node 20, for the ISO forms an express-session store
        // may hold: toISOString's, and RFC 3339's other precisions and offsets.
        let cases: &[(&str, u64)] = &[
            ("2026-11-18T11:06:40.123Z", 1_795_000_000_123),
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:00.000Z", 0),
            ("2000-02-29T12:00:00.5Z", 951_825_600_500),
            ("2000-02-29T12:00:00.50Z", 951_825_600_500),
            // Digits past the millisecond are dropped, not rounded.
            ("2026-11-18T11:06:40.123999999Z", 1_795_000_000_123),
            ("2026-11-18T13:06:40.123+02:00", 1_795_000_000_123),
            ("2026-11-18T06:36:40.123-04:30", 1_795_000_000_123),
            // RFC 3339 allows a space for the T; so does V8.
            ("2026-11-18 11:06:40.123Z", 1_795_000_000_123),
            ("+010000-01-01T00:00:00.000Z", 253_402_300_800_000),
            ("+275760-09-13T00:00:00.000Z", 8_640_000_000_000_000),
        ];
        for &(text, ms) in cases {
            assert_eq!(parse_iso8601_ms(text), Some(ms), "{text}");
        }
        // Round trips over the whole range, a few ms at a time.
        let mut ms = 0u64;
        while ms <= JS_MAX_DATE_MS {
            let text = format_iso8601_ms(ms).unwrap();
            assert_eq!(parse_iso8601_ms(&text), Some(ms), "{text}");
            ms = ms * 3 + 7_777;
        }
    }

    #[test]
    fn iso8601_refuses_what_is_not_a_date() {
        // Date.parse gives NaN for these in Node 20.
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-11-18T23:60:00Z",
            "2026-11-18T08:26:40.Z",
            "2026-11-18T08:26:40.123ZZ",
            "26-11-18T08:26:40.123Z",
            "20261118T082640Z",
            "+275760-09-13T00:00:00.001Z",
            "+0100000101T000000Z",
            "next tuesday",
            "x".repeat(30).as_str(),
        ] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
        }
        // Node reads these, but toISOString never writes them, and they are refused here:
        // a date without a time (UTC midnight), a time without an offset (the host's local
        // time zone), 24:00 (the next midnight), a date before 1970 (no unix ms), all as the
        // hand-written parser did; and a day past the month's end, which V8 (and that
        // parser) rolled over to 2026-03-02.
        for not_written in [
            "2026-11-18",
            "2026-11-18T11:06:40",
            "2026-11-18T08:26:40.123",
            "2026-11-18T24:00:00Z",
            "2026-02-30T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
        ] {
            assert_eq!(parse_iso8601_ms(not_written), None, "{not_written}");
        }
    }

    /// Finding 4 of issue 15: with a store without `touch` (the engine then writes the
    /// session with `set`) or one whose `touch` rewrites the session, a touch that read
    /// the session before an update and wrote it after undid that update. 200 sequential
    /// increments while another task touches all along: all 200 are kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finding_4_touch_never_writes_back_a_session_read_before_an_update() {
        use super::test_support::{AsyncStore, StoreTouch};
        use std::sync::atomic::{AtomicBool, Ordering};
        for kind in [StoreTouch::Absent, StoreTouch::RewritesTheSession] {
            let backend = Arc::new(AsyncStore::new(kind));
            lock(&backend.sessions).insert("sid".into(), test_support::session_json(60_000, 0));
            let store = Arc::new(ExpressStore::new(
                &ExpressSession::new(backend.clone()).secret("s"),
            ));
            let id = store.resolve("sid").unwrap();
            let done = Arc::new(AtomicBool::new(false));
            let toucher = tokio::spawn({
                let (store, done) = (store.clone(), done.clone());
                async move {
                    let mut touches = 0u32;
                    while !done.load(Ordering::Relaxed) {
                        assert_eq!(store.touch(id, 0, now_ms()).await.unwrap(), Touch::Extended);
                        touches += 1;
                    }
                    touches
                }
            });
            for _ in 0..200 {
                let mut increment = |record: &mut Record| {
                    let count = record.data.get("count").and_then(Value::as_u64).unwrap();
                    record.data.insert("count".into(), (count + 1).into());
                    Ok(())
                };
                store.update(id, &mut increment).await.unwrap().unwrap();
            }
            done.store(true, Ordering::Relaxed);
            let touches = toucher.await.unwrap();
            let count = lock(&backend.sessions)["sid"]["count"].as_u64().unwrap();
            assert!(touches > 10, "{kind:?}: only {touches} touches ran");
            assert_eq!(
                count,
                200,
                "{kind:?}: {} of 200 increments lost",
                200 - count
            );
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(session_id_for("abc"), session_id_for("abc"));
        assert_ne!(session_id_for("abc"), session_id_for("abd"));
    }

    #[test]
    fn records_keep_the_data_and_read_the_cookie_expiry() {
        let session = serde_json::json!({
            "cookie": {"originalMaxAge": 60000, "expires": "2026-11-18T11:06:40.123Z", "httpOnly": true, "path": "/"},
            "count": 3,
        });
        let r = to_record(session_id_for("s"), &session, 0);
        assert_eq!(r.expires_at, 1_795_000_000_123);
        assert_eq!(
            Value::Object(r.data.clone()),
            serde_json::json!({"count": 3})
        );
        let mut next = r.clone();
        next.data.insert("count".into(), 4.into());
        let next = with_data(&session, &next);
        assert_eq!(next["cookie"], session["cookie"]);
        assert_eq!(next["count"], 4);
        assert_eq!(next.get(LOGIN_KEY), None);

        // A login rides in the session under its key, out of the data.
        let logged_in = serde_json::json!({
            "cookie": {"originalMaxAge": 60000, "expires": "2026-11-18T11:06:40.123Z"},
            "count": 3,
            LOGIN_KEY: {"user_id": "ada", "at": 5},
        });
        let r = to_record(session_id_for("s"), &logged_in, 0);
        assert_eq!(r.user_id(), Some("ada"));
        assert_eq!(
            Value::Object(r.data.clone()),
            serde_json::json!({"count": 3})
        );
        assert_eq!(with_data(&logged_in, &r), logged_in);
        let browser_session =
            serde_json::json!({"cookie": {"originalMaxAge": null, "expires": null}});
        assert_eq!(
            to_record(session_id_for("s"), &browser_session, 5).expires_at,
            5 + NO_EXPIRY_MS
        );
    }
}

/// Test doubles shared by this module's tests and the engine-level tests of the
/// express-session mode (in `host`).
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// express-session's MemoryStore, as far as the engine sees it: JSON per id, dropped
    /// at read once `cookie.expires` has passed.
    #[derive(Default)]
    pub(crate) struct FakeMemoryStore {
        pub(crate) sessions: Mutex<HashMap<String, String>>,
        pub(crate) destroyed: Mutex<Vec<String>>,
    }

    impl ExpressBackend for FakeMemoryStore {
        fn get(&self, sid: String) -> BoxFuture<'_, Result<Option<Value>>> {
            let mut sessions = lock(&self.sessions);
            let found = sessions
                .get(&sid)
                .map(|j| serde_json::from_str::<Value>(j).unwrap());
            let found = match found {
                Some(s) if expiry_of(&s).is_some_and(|at| at <= now_ms()) => {
                    sessions.remove(&sid);
                    None
                }
                other => other,
            };
            Box::pin(async move { Ok(found) })
        }
        fn set(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>> {
            lock(&self.sessions).insert(sid, session.to_string());
            Box::pin(async { Ok(()) })
        }
        fn touch(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>> {
            let mut sessions = lock(&self.sessions);
            if let Some(j) = sessions.get_mut(&sid) {
                let mut current: Value = serde_json::from_str(j).unwrap();
                current["cookie"] = session["cookie"].clone();
                *j = current.to_string();
            }
            Box::pin(async { Ok(()) })
        }
        fn destroy(&self, sid: String) -> BoxFuture<'_, Result<()>> {
            lock(&self.sessions).remove(&sid);
            lock(&self.destroyed).push(sid);
            Box::pin(async { Ok(()) })
        }
        fn has_touch(&self) -> bool {
            true
        }
    }

    /// What [`AsyncStore`]'s `touch` is, of the kinds express-session stores have.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum StoreTouch {
        /// No `touch` method (express-session's store API makes it optional).
        Absent,
        /// `touch` saves the whole session it is given, as `set` does (many stores).
        RewritesTheSession,
    }

    /// A store whose every call takes a while, as a database's (or a JavaScript store's,
    /// reached across threads) does: a read answers what was there when it ends, a write
    /// lands when it ends, so calls in flight interleave.
    pub(crate) struct AsyncStore {
        pub(crate) sessions: Mutex<HashMap<String, Value>>,
        touch: StoreTouch,
    }

    impl AsyncStore {
        pub(crate) fn new(touch: StoreTouch) -> Self {
            AsyncStore {
                sessions: Mutex::default(),
                touch,
            }
        }

        async fn write(&self, sid: String, session: Value) -> Result<()> {
            tokio::time::sleep(Duration::from_micros(200)).await;
            lock(&self.sessions).insert(sid, session);
            Ok(())
        }
    }

    impl ExpressBackend for AsyncStore {
        fn get(&self, sid: String) -> BoxFuture<'_, Result<Option<Value>>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_micros(200)).await;
                Ok(lock(&self.sessions).get(&sid).cloned())
            })
        }
        fn set(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>> {
            Box::pin(self.write(sid, session))
        }
        fn touch(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>> {
            Box::pin(async move {
                match self.touch {
                    StoreTouch::Absent => Err(Error::StoreUnavailable(
                        "touch called on a store without touch".into(),
                    )),
                    StoreTouch::RewritesTheSession => self.write(sid, session).await,
                }
            })
        }
        fn destroy(&self, sid: String) -> BoxFuture<'_, Result<()>> {
            lock(&self.sessions).remove(&sid);
            Box::pin(async { Ok(()) })
        }
        fn has_touch(&self) -> bool {
            matches!(self.touch, StoreTouch::RewritesTheSession)
        }
    }

    pub(crate) fn session_json(max_age: u64, count: u64) -> Value {
        serde_json::json!({
            "cookie": {"originalMaxAge": max_age, "expires": iso8601_json(now_ms() + max_age), "httpOnly": true, "path": "/"},
            "count": count,
        })
    }

    pub(crate) fn cookie_header(secret: &str, sid: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let value = format!(
            "connect.sid={}",
            ExpressSigner::new(&[secret]).sign_cookie(sid)
        );
        h.insert("cookie", value.parse().unwrap());
        h
    }
}
