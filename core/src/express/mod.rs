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
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use codec::{ExpressSigner, MAX_SID_LEN};
#[cfg(feature = "redis")]
pub use connect_redis::ConnectRedis;

use crate::store::{now_ms, BoxFuture, Data, Mutation, Record, SessionStore, Sweep, Touch};
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
    /// `store.touch(sid, session)`: the session's `cookie` was moved forward.
    fn touch(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>>;
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
/// process: one lock per session around read-modify-write. express-session's own saves
/// stay last-writer-wins, as they are without sessionio.
pub struct ExpressStore {
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
    let expires_at = expiry_of(session).unwrap_or(now.saturating_add(NO_EXPIRY_MS));
    let version = version_of(&data);
    Record {
        id,
        data,
        expires_at,
        version,
    }
}

/// `cookie.expires` in unix ms (an ISO 8601 string, as `JSON.stringify` writes a `Date`,
/// or a number); `None` if the cookie has no expiry.
fn expiry_of(session: &Value) -> Option<u64> {
    match session.get("cookie")?.get("expires")? {
        Value::String(s) => parse_iso8601_ms(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// A stable digest of the data: the version compare-and-swap compares.
fn version_of(data: &Data) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    serde_json::to_string(data).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what `Date.prototype.toISOString` gives) → unix ms.
fn parse_iso8601_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = match &s[19..s.len() - 1] {
        "" => 0,
        frac => {
            let digits = frac.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let padded = format!("{digits:0<3}");
            padded[..3].parse::<u64>().ok()?
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Days since 1970-01-01 (proleptic Gregorian, Howard Hinnant's civil-from-days inverse).
    let (y, m) = if month <= 2 {
        (year as i64 - 1, month as i64 + 9)
    } else {
        (year as i64, month as i64 - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + (hour * 3600 + min * 60 + sec) as i64;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(millis)
}

/// The ISO 8601 form of unix ms, as `Date.prototype.toISOString` writes it.
fn format_iso8601_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// `session` with `data` as its fields, keeping its `cookie`.
fn with_data(session: &Value, data: &Data) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(cookie) = session.get("cookie") {
        out.insert("cookie".into(), cookie.clone());
    }
    for (k, v) in data {
        if k != "cookie" {
            out.insert(k.clone(), v.clone());
        }
    }
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
                None => self.expired_at(id, now).map(|expires_at| Record {
                    id,
                    data: Data::new(),
                    expires_at,
                    version: 0,
                }),
            })
        })
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let _guard = self.lock_for(record.id).lock().await;
            let Some((sid, session)) = self.fetch(record.id).await? else {
                return Ok(false);
            };
            if to_record(record.id, &session, now_ms()).version != expected_version {
                return Ok(false);
            }
            let next = with_data(&session, &record.data);
            self.backend.set(sid.to_string(), next).await?;
            Ok(true)
        })
    }

    fn touch(&self, id: SessionId, _expires_at: u64, now: u64) -> BoxFuture<'_, Result<Touch>> {
        Box::pin(async move {
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
                cookie["expires"] = Value::String(format_iso8601_ms(now.saturating_add(max_age)));
                self.backend.touch(sid.to_string(), session).await?;
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
            if next.data != current.data {
                self.backend
                    .set(sid.to_string(), with_data(&session, &next.data))
                    .await?;
                next.version = version_of(&next.data);
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
    use super::*;

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
    fn iso8601_round_trips_as_javascript_writes_it() {
        // new Date(1795000000123).toISOString()
        assert_eq!(
            format_iso8601_ms(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(
            parse_iso8601_ms("2026-11-18T11:06:40.123Z"),
            Some(1_795_000_000_123)
        );
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_iso8601_ms("2000-02-29T12:00:00.5Z"),
            Some(951_825_600_500)
        );
        for ms in [0, 951_825_600_500, 4_102_444_800_000, 1_795_000_000_123] {
            assert_eq!(parse_iso8601_ms(&format_iso8601_ms(ms)), Some(ms));
        }
        for bad in [
            "",
            "2026-11-18",
            "2026-13-01T00:00:00Z",
            "2026-11-18T08:26:40.Z",
            "x".repeat(30).as_str(),
        ] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
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
        let mut data = r.data.clone();
        data.insert("count".into(), 4.into());
        let next = with_data(&session, &data);
        assert_eq!(next["cookie"], session["cookie"]);
        assert_eq!(next["count"], 4);
        let browser_session =
            serde_json::json!({"cookie": {"originalMaxAge": null, "expires": null}});
        assert_eq!(
            to_record(session_id_for("s"), &browser_session, 5).expires_at,
            5 + NO_EXPIRY_MS
        );
    }

    /// express-session's MemoryStore, as far as the engine sees it: JSON per id, dropped
    /// at read once `cookie.expires` has passed.
    #[derive(Default)]
    struct FakeMemoryStore {
        sessions: Mutex<HashMap<String, String>>,
        destroyed: Mutex<Vec<String>>,
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
    }

    fn engine(backend: Arc<FakeMemoryStore>, secrets: &[&str]) -> crate::SessionIo {
        crate::SessionIo::builder()
            .express_session(ExpressSession::new(backend).secrets(secrets))
            .build()
            .unwrap()
    }

    fn session_json(max_age: u64, count: u64) -> Value {
        serde_json::json!({
            "cookie": {"originalMaxAge": max_age, "expires": format_iso8601_ms(now_ms() + max_age), "httpOnly": true, "path": "/"},
            "count": count,
        })
    }

    fn cookie_header(secret: &str, sid: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let value = format!(
            "connect.sid={}",
            ExpressSigner::new(&[secret]).sign_cookie(sid)
        );
        h.insert("cookie", value.parse().unwrap());
        h
    }

    #[tokio::test]
    async fn handshakes_accept_rotated_secrets_and_refuse_tampered_or_unknown_cookies() {
        let store = Arc::new(FakeMemoryStore::default());
        store
            .set("live-sid".into(), session_json(60_000, 1))
            .await
            .unwrap();
        let io = engine(store.clone(), &["new secret", "old secret"]);
        let by_old = io
            .check_handshake(&cookie_header("old secret", "live-sid"), None)
            .await;
        let id = by_old.unwrap().unwrap();
        assert_eq!(io.host_id(id), "live-sid");
        assert!(io
            .check_handshake(&cookie_header("new secret", "live-sid"), None)
            .await
            .is_ok());
        let refused =
            |r: std::result::Result<Option<SessionId>, crate::Refusal>| r.unwrap_err().message();
        assert_eq!(
            refused(
                io.check_handshake(&cookie_header("other", "live-sid"), None)
                    .await
            ),
            "invalid session"
        );
        let mut tampered = http::HeaderMap::new();
        let good = ExpressSigner::new(&["old secret"]).sign_cookie("live-sid");
        tampered.insert(
            "cookie",
            format!("connect.sid={}", good.replace("live", "lave"))
                .parse()
                .unwrap(),
        );
        assert_eq!(
            refused(io.check_handshake(&tampered, None).await),
            "invalid session"
        );
        assert_eq!(
            refused(
                io.check_handshake(&cookie_header("new secret", "gone-sid"), None)
                    .await
            ),
            "invalid session"
        );
        // The guard's answer for HTTP requests, and the session a host call names.
        assert_eq!(io.check_cookie(None).await, Ok(None));
        assert_eq!(
            io.check_cookie(Some("connect.sid=s%3Ax.y")).await,
            Err(crate::Refusal::InvalidSession)
        );
        let session = io
            .session(io.resolve_id("live-sid").unwrap())
            .await
            .unwrap();
        assert_eq!(session.host_id(), "live-sid");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn increments_are_atomic_and_keep_the_cookie() {
        let store = Arc::new(FakeMemoryStore::default());
        let before = session_json(60_000, 0);
        store.set("sid".into(), before.clone()).await.unwrap();
        let io = engine(store.clone(), &["s"]);
        let id = io.resolve_id("sid").unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let io = io.clone();
                tokio::spawn(async move {
                    io.session(id)
                        .await
                        .unwrap()
                        .increment("count", 1)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut counts = Vec::new();
        for t in tasks {
            counts.push(t.await.unwrap());
        }
        counts.sort();
        assert_eq!(counts, (1..=50).collect::<Vec<i64>>());
        let stored = store.get("sid".into()).await.unwrap().unwrap();
        assert_eq!(stored["count"], 50);
        assert_eq!(stored["cookie"], before["cookie"]);
    }

    #[tokio::test]
    async fn expiry_follows_the_cookie_and_destroy_reaches_the_store() {
        let store = Arc::new(FakeMemoryStore::default());
        store
            .set("short".into(), session_json(50, 0))
            .await
            .unwrap();
        store
            .set("doomed".into(), session_json(60_000, 0))
            .await
            .unwrap();
        let io = engine(store.clone(), &["s"]);
        let short = io.resolve_id("short").unwrap();
        assert!(!io
            .0
            .store
            .load(short)
            .await
            .unwrap()
            .unwrap()
            .is_expired(now_ms()));
        tokio::time::sleep(Duration::from_millis(80)).await;
        // The store dropped it at its expiry: expired, not unknown.
        assert!(io
            .0
            .store
            .load(short)
            .await
            .unwrap()
            .unwrap()
            .is_expired(now_ms()));
        assert_eq!(
            io.0.store.touch(short, 0, now_ms()).await.unwrap(),
            Touch::Expired
        );
        let doomed = io.resolve_id("doomed").unwrap();
        io.destroy_session(doomed).await.unwrap();
        assert_eq!(*lock(&store.destroyed), vec!["doomed".to_owned()]);
        assert!(matches!(
            io.session(doomed).await,
            Err(Error::SessionNotFound)
        ));
    }

    #[tokio::test]
    async fn socket_activity_moves_the_expiry_by_the_original_max_age() {
        let store = Arc::new(FakeMemoryStore::default());
        store
            .set("sid".into(), session_json(60_000, 0))
            .await
            .unwrap();
        let io = engine(store.clone(), &["s"]);
        let id = io.resolve_id("sid").unwrap();
        let now = now_ms() + 5_000;
        assert_eq!(io.0.store.touch(id, 0, now).await.unwrap(), Touch::Extended);
        let stored = store.get("sid".into()).await.unwrap().unwrap();
        assert_eq!(expiry_of(&stored), Some(now + 60_000));
    }
}
