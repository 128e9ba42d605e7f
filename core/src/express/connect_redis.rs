//! express-session's sessions where the npm package `connect-redis` (v7, v8, v9) keeps
//! them, read and written from Rust with the `redis` crate.
//!
//! connect-redis's layout, which this backend follows:
//!
//! - the key is `<prefix><sid>` (prefix `sess:` by default);
//! - the value is a string, `JSON.stringify(session)`;
//! - `set` stores it with `SET key value EX ttl`, where `ttl` is
//!   `ceil((cookie.expires - now) / 1000)` seconds, or the store's `ttl` option (86400 by
//!   default) when the cookie has no expiry; a `ttl <= 0` deletes the key instead;
//! - `touch` is `EXPIRE key ttl` with the same `ttl`: it moves the key's expiry only and
//!   leaves the stored value (and so its `cookie.expires`) as it was saved;
//! - `destroy` is `DEL key`; `get` is `GET key` and `JSON.parse`.
//!
//! Values are written byte for byte as `JSON.stringify` writes them (numbers included:
//! `1e+21`, `0.000001`, `3` for a float 3.0), so either side may write a session.
//!
//! Because `touch` leaves the stored `cookie.expires` behind, [`get`](ExpressBackend::get)
//! reports the key's real expiry: `cookie.expires` is replaced by the key's expiry
//! (`now + PTTL`). Without that, a session kept alive by express-session's (or sessionio's)
//! touches would look expired once its last full save is older than its `maxAge`.
//!
//! sessionio's own `set` stores that expiry to the millisecond (`SET … PX`), where
//! connect-redis rounds up to the second (`EX`): a write read-modify-writes the session it
//! got from `get`, so with rounding each write would move the expiry up to a second later,
//! and a socket writing every few hundred milliseconds would keep the session alive for
//! ever. A write never moves the expiry; only `touch` does.
//!
//! **Faults.** Nothing is connected until the first call. Every call is bounded by
//! [`CALL_TIMEOUT`](crate::store::redis_link::CALL_TIMEOUT) (2 s): a stopped or unreachable Redis yields `store unavailable` within it,
//! never a hang; once Redis answers again the connection is remade and calls succeed.
//! A value that is not JSON is `store unavailable` too. Error messages never contain a
//! session id (it is the secret the cookie carries).
//!
//! Not supported: connect-redis's `serializer` option (values must be JSON) and a `ttl`
//! given as a function.

use std::io;

use serde_json::Value;

use super::{iso8601_json, parse_iso8601_ms, ExpressBackend};
use crate::store::redis_link::RedisLink;
use crate::store::{now_ms, BoxFuture};
use crate::{Error, Result};

/// connect-redis's default `ttl` (seconds), used for a cookie without `expires`.
const DEFAULT_TTL_SECS: u64 = 86_400;

/// express-session's sessions in a Redis shared with a Node app that uses
/// `connect-redis` as its express-session store.
///
/// Give it the same Redis and the same `prefix` as the Node app's `RedisStore` (and the
/// same [`ttl`](ConnectRedis::ttl), [`disable_touch`](ConnectRedis::disable_touch) and
/// [`disable_ttl`](ConnectRedis::disable_ttl) if the app sets those options).
///
/// ```no_run
/// use std::sync::Arc;
/// use sessionio::express::{ConnectRedis, ExpressSession};
///
/// # fn main() -> sessionio::Result<()> {
/// // Node: app.use(session({ store: new RedisStore({ client, prefix: "sess:" }),
/// //                         secret: "keyboard cat" }))
/// let store = ConnectRedis::new("redis://127.0.0.1:6379", "sess:")?;
/// let express = ExpressSession::new(Arc::new(store)).secret("keyboard cat");
/// // … SessionIo::builder().express_session(express) …
/// # let _ = express;
/// # Ok(())
/// # }
/// ```
pub struct ConnectRedis {
    link: RedisLink,
    prefix: String,
    ttl: u64,
    disable_touch: bool,
    disable_ttl: bool,
}

impl std::fmt::Debug for ConnectRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("ConnectRedis")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("disable_touch", &self.disable_touch)
            .field("disable_ttl", &self.disable_ttl)
            .finish_non_exhaustive()
    }
}

impl ConnectRedis {
    /// connect-redis's sessions in the Redis named by `url`
    /// (`redis://[user:password@]host[:port][/db]`, or `redis+unix:///path`), under keys
    /// `<prefix><sid>` (connect-redis's default prefix is `sess:`).
    ///
    /// Nothing is connected here, so this needs no runtime. A malformed URL is
    /// [`Error::Config`]; so is `rediss://`, as TLS is not built in. An unreachable server
    /// is an error at each call (`store unavailable`) until it answers.
    pub fn new(url: &str, prefix: impl Into<String>) -> Result<Self> {
        let link = RedisLink::open(url, "connect-redis", |e| {
            Error::Config(format!("connect-redis URL: {e}"))
        })?;
        Ok(ConnectRedis {
            link,
            prefix: prefix.into(),
            ttl: DEFAULT_TTL_SECS,
            disable_touch: false,
            disable_ttl: false,
        })
    }

    /// connect-redis's `ttl` option (a number of seconds): the expiry of a session whose
    /// cookie has no `expires`. 0 means the default, 86400, as in
    /// connect-redis (`opts.ttl || 86400`).
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = if seconds == 0 {
            DEFAULT_TTL_SECS
        } else {
            seconds
        };
        self
    }

    /// connect-redis's `disableTouch` option: `touch` does nothing.
    pub fn disable_touch(mut self, disable: bool) -> Self {
        self.disable_touch = disable;
        self
    }

    /// connect-redis's `disableTTL` option: `set` stores without an expiry and `touch`
    /// does nothing (a session already expired is still deleted by `set`).
    pub fn disable_ttl(mut self, disable: bool) -> Self {
        self.disable_ttl = disable;
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, sid: &str) -> String {
        format!("{}{sid}", self.prefix)
    }

    /// connect-redis's `getTTL(sess)`: seconds until `cookie.expires` (rounded up), or the
    /// `ttl` option when the cookie has none. May be zero or negative (already expired).
    fn ttl_of(&self, session: &Value, now: u64) -> Result<i64> {
        let Some(expires) = cookie_expiry(session)? else {
            return Ok(i64::try_from(self.ttl).unwrap_or(i64::MAX));
        };
        // Math.ceil((Number(new Date(expires)) - Date.now()) / 1000)
        let ms = expires - now as f64;
        Ok((ms / 1000.0).ceil() as i64)
    }
}

/// `sess.cookie.expires` in unix ms, `None` when it is absent or falsy in JavaScript's
/// sense (`null`, `""`, `0`, `false`), as connect-redis's `sess?.cookie?.expires` test.
/// An expiry that is not a date (JavaScript would get `NaN`) is an error rather than a
/// deletion.
fn cookie_expiry(session: &Value) -> Result<Option<f64>> {
    let not_a_date = || {
        Err(Error::StoreUnavailable(
            "connect-redis: the session's cookie.expires is not a date".into(),
        ))
    };
    let Some(expires) = session.get("cookie").and_then(|c| c.get("expires")) else {
        return Ok(None);
    };
    match expires {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => match parse_iso8601_ms(s) {
            Some(ms) => Ok(Some(ms as f64)),
            None => not_a_date(),
        },
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Ok(None), // -0 too
            Some(ms) => Ok(Some(ms.trunc())),
            None => not_a_date(),
        },
        _ => not_a_date(),
    }
}

/// `session` as `JSON.stringify` writes it.
fn stringify(session: &Value) -> Result<String> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
    let failed = |e: &dyn std::fmt::Display| {
        Error::StoreUnavailable(format!("connect-redis: cannot serialize a session: {e}"))
    };
    serde::Serialize::serialize(session, &mut ser).map_err(|e| failed(&e))?;
    String::from_utf8(out).map_err(|e| failed(&e))
}

/// serde_json's compact output, which escapes strings as `JSON.stringify` does, with
/// floats written as JavaScript writes numbers (ECMAScript's `Number::toString`, by
/// `ryu-js`): the shortest digits that round trip, in plain notation for 1e-7 <= |x| < 1e21
/// and as `d.ddde±n` otherwise, `-0` as `0`, and `null` for a non-finite number.
///
/// Integers (JSON numbers without a fraction or exponent, which serde_json keeps as `u64`
/// or `i64`) are written with all their digits, also past 2^53 where JavaScript would
/// round them: JavaScript reads them as the same number either way.
struct JsFormatter;

impl serde_json::ser::Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        if !value.is_finite() {
            return writer.write_all(b"null");
        }
        writer.write_all(ryu_js::Buffer::new().format_finite(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// The session as stored, with `cookie.expires` set to the key's expiry. connect-redis's
/// `touch` is an `EXPIRE`, so the saved value goes stale while the key lives on: the key's
/// TTL is what ends the session (at most a second after the cookie, as connect-redis
/// rounds TTLs up), so it is the expiry the engine keeps.
fn with_key_expiry(mut session: Value, pttl_ms: i64, now: u64) -> Value {
    let Ok(pttl) = u64::try_from(pttl_ms) else {
        return session; // -1: no expiry (disableTTL); -2: gone since the GET.
    };
    let Some(cookie) = session.get_mut("cookie") else {
        return session;
    };
    // A browser-session cookie keeps no expiry; the key's default TTL is connect-redis's.
    if matches!(cookie.get("expires"), Some(Value::String(_))) {
        cookie["expires"] = iso8601_json(now.saturating_add(pttl));
    }
    session
}

/// How long a key written by [`ConnectRedis::set`] lives.
#[derive(Clone, Copy)]
enum Expiry {
    /// Until the cookie's `expires`, to the millisecond.
    Ms(i64),
    /// connect-redis's `ttl` option, for a cookie without `expires`.
    Seconds(i64),
}

impl ExpressBackend for ConnectRedis {
    /// `GET <prefix><sid>` and `JSON.parse`; `None` for a missing (or empty) value.
    fn get(&self, sid: String) -> BoxFuture<'_, Result<Option<Value>>> {
        Box::pin(async move {
            let key = self.key(&sid);
            let (data, pttl): (Option<Vec<u8>>, i64) = self
                .link
                .call(|mut conn| {
                    let mut pipe = redis::pipe();
                    pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
                    async move { pipe.query_async(&mut conn).await }
                })
                .await?;
            // `if (!data) return null`: an empty string is no session either.
            let Some(data) = data.filter(|d| !d.is_empty()) else {
                return Ok(None);
            };
            let session: Value = serde_json::from_slice(&data).map_err(|e| {
                Error::StoreUnavailable(format!("connect-redis: a session is not JSON: {e}"))
            })?;
            Ok(Some(with_key_expiry(session, pttl, now_ms())))
        })
    }

    /// `SET <prefix><sid> JSON.stringify(session) PX ms` with `ms` the time to
    /// `cookie.expires` (connect-redis's `EX ttl`, to the millisecond: see the module
    /// docs), `EX ttl` for a cookie without expiry, or `DEL` when the session has expired.
    fn set(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let key = self.key(&sid);
            let now = now_ms();
            let expiry = match cookie_expiry(&session)? {
                Some(expires) => Expiry::Ms((expires - now as f64).ceil() as i64),
                None => Expiry::Seconds(self.ttl_of(&session, now)?),
            };
            if matches!(expiry, Expiry::Ms(ms) | Expiry::Seconds(ms) if ms <= 0) {
                return self.destroy(sid).await;
            }
            let value = stringify(&session)?;
            let disable_ttl = self.disable_ttl;
            self.link
                .call(|mut conn| {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&key).arg(&value);
                    match expiry {
                        _ if disable_ttl => {}
                        Expiry::Ms(ms) => {
                            cmd.arg("PX").arg(ms);
                        }
                        Expiry::Seconds(s) => {
                            cmd.arg("EX").arg(s);
                        }
                    }
                    async move { cmd.query_async::<()>(&mut conn).await }
                })
                .await
        })
    }

    /// connect-redis always has `touch` (a no-op with `disableTouch`, as there).
    fn has_touch(&self) -> bool {
        true
    }

    /// `EXPIRE <prefix><sid> ttl` (Redis deletes the key for a `ttl <= 0`); the stored
    /// value is left as it is. Nothing with `disable_touch` or `disable_ttl`.
    fn touch(&self, sid: String, session: Value) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.disable_touch || self.disable_ttl {
                return Ok(());
            }
            let key = self.key(&sid);
            let ttl = self.ttl_of(&session, now_ms())?;
            self.link
                .call(|mut conn| {
                    let mut cmd = redis::cmd("EXPIRE");
                    cmd.arg(&key).arg(ttl);
                    async move { cmd.query_async::<()>(&mut conn).await }
                })
                .await
        })
    }

    /// `DEL <prefix><sid>`.
    fn destroy(&self, sid: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let key = self.key(&sid);
            self.link
                .call(|mut conn| {
                    let mut cmd = redis::cmd("DEL");
                    cmd.arg(&key);
                    async move { cmd.query_async::<()>(&mut conn).await }
                })
                .await
        })
    }
}

// Declared here, not inside `tests`: there `#[path]` would be relative to
// `src/express/connect_redis/tests/`, which does not exist. (`store` includes the same file
// for its own tests, privately; hence the allow.)
#[cfg(test)]
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

#[cfg(test)]
mod tests {
    use super::redis_server::RedisServer;
    use super::*;
    use redis::Client;
    use serde_json::ser::Formatter;
    use std::time::{Duration, Instant};

    /// A plain connection for checking what connect-redis would see.
    async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
        Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    fn session(expires: Option<u64>) -> Value {
        serde_json::json!({
            "cookie": {
                "originalMaxAge": expires.map(|_| 3_600_000),
                "expires": expires.map(iso8601_json),
                "httpOnly": true,
                "path": "/",
            },
            "user": {"id": 42, "name": "Zoë"},
            "views": 3,
        })
    }

    /// `ExpressStore` over connect-redis's keys; connect-redis rounds TTLs up to the
    /// second, so a loaded expiry may be up to a second late.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn express_store_over_connect_redis_passes_the_conformance_suite() {
        use crate::store::conformance;
        let server = RedisServer::start();
        let backend = ConnectRedis::new(&server.url(), "sess:").unwrap();
        let subject = crate::express::conformance_subject(std::sync::Arc::new(backend))
            .expiry_rounding(Duration::from_secs(1));
        let report = conformance::run(&subject).await;
        eprintln!("ExpressStore over connect-redis:\n{report}");
        report.assert_passed();
        assert_eq!(report.outcomes.len(), conformance::CHECKS.len());
    }

    #[tokio::test]
    async fn set_then_get_round_trips() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        let s = session(Some(now_ms() + 3_600_000));
        store.set("abc".into(), s.clone()).await.unwrap();
        assert_same_but_rounded_expiry(store.get("abc".into()).await.unwrap().unwrap(), &s);
        // The key is connect-redis's: `<prefix><sid>`, a JSON string.
        let mut conn = raw(&server).await;
        let stored: String = redis::cmd("GET")
            .arg("sess:abc")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), s);

        let custom = ConnectRedis::new(&server.url(), "myapp:").unwrap();
        custom.set("abc".into(), s.clone()).await.unwrap();
        let exists: i64 = redis::cmd("EXISTS")
            .arg("myapp:abc")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(exists, 1);
    }

    async fn pttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
        redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
    }

    #[tokio::test]
    async fn ttl_follows_cookie_expires() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        let mut conn = raw(&server).await;

        store
            .set("a".into(), session(Some(now_ms() + 600_000)))
            .await
            .unwrap();
        let ms = pttl(&mut conn, "sess:a").await;
        // expires - now, to the millisecond: 600 s, less the time taken.
        assert!((595_000..=600_000).contains(&ms), "PTTL {ms}");

        // Writes read-modify-write the session `get` gave: they never move its expiry
        // (rounded up to the second, each one moved it up to a second later).
        store
            .set("w".into(), session(Some(now_ms() + 3_000)))
            .await
            .unwrap();
        let started = now_ms();
        for _ in 0..5 {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            let read = store.get("w".into()).await.unwrap().unwrap();
            store.set("w".into(), read).await.unwrap();
        }
        let left = pttl(&mut conn, "sess:w").await;
        let elapsed = (now_ms() - started) as i64;
        assert!(
            left <= 3_000 - elapsed + 5,
            "5 writes in {elapsed} ms left {left} ms: they moved the expiry"
        );

        // No expires: connect-redis's ttl option (86400 s by default).
        store.set("b".into(), session(None)).await.unwrap();
        let ms = pttl(&mut conn, "sess:b").await;
        assert!((86_395_000..=86_400_000).contains(&ms), "PTTL {ms}");
        let short = ConnectRedis::new(&server.url(), "sess:").unwrap().ttl(30);
        short.set("c".into(), session(None)).await.unwrap();
        let ms = pttl(&mut conn, "sess:c").await;
        assert!((25_000..=30_000).contains(&ms), "PTTL {ms}");

        // disableTTL: no expiry at all.
        let no_ttl = ConnectRedis::new(&server.url(), "sess:")
            .unwrap()
            .disable_ttl(true);
        no_ttl
            .set("d".into(), session(Some(now_ms() + 600_000)))
            .await
            .unwrap();
        assert_eq!(pttl(&mut conn, "sess:d").await, -1);
    }

    #[tokio::test]
    async fn set_with_past_expiry_deletes() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        store
            .set("a".into(), session(Some(now_ms() + 600_000)))
            .await
            .unwrap();
        assert!(store.get("a".into()).await.unwrap().is_some());
        store
            .set("a".into(), session(Some(now_ms() - 5_000)))
            .await
            .unwrap();
        assert_eq!(store.get("a".into()).await.unwrap(), None);
        let mut conn = raw(&server).await;
        assert_eq!(pttl(&mut conn, "sess:a").await, -2, "the key is gone");
    }

    #[tokio::test]
    async fn touch_moves_the_ttl_only() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        let mut conn = raw(&server).await;
        let saved = session(Some(now_ms() + 60_000));
        store.set("a".into(), saved.clone()).await.unwrap();
        let before: String = redis::cmd("GET")
            .arg("sess:a")
            .query_async(&mut conn)
            .await
            .unwrap();
        let ms = pttl(&mut conn, "sess:a").await;
        assert!((55_000..=60_000).contains(&ms), "PTTL {ms}");

        let later = now_ms() + 7_200_000;
        store.touch("a".into(), session(Some(later))).await.unwrap();
        let ms = pttl(&mut conn, "sess:a").await;
        assert!((7_195_000..=7_200_000).contains(&ms), "PTTL {ms}");
        // As connect-redis: EXPIRE only, the stored value is unchanged.
        let after: String = redis::cmd("GET")
            .arg("sess:a")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(after, before);
        // get reports the key's real expiry (to the second connect-redis rounds to).
        let read = store.get("a".into()).await.unwrap().unwrap();
        let expires = parse_iso8601_ms(read["cookie"]["expires"].as_str().unwrap()).unwrap();
        assert!(
            expires >= later && expires <= later + 1_000,
            "{expires} vs {later}"
        );
        assert_eq!(read["views"], saved["views"]);

        // disableTouch: nothing happens.
        let untouched = ConnectRedis::new(&server.url(), "sess:")
            .unwrap()
            .disable_touch(true);
        untouched
            .touch("a".into(), session(Some(now_ms() + 60_000)))
            .await
            .unwrap();
        assert!(pttl(&mut conn, "sess:a").await > 7_000_000);

        // A touch past the expiry: Redis's EXPIRE with a ttl <= 0 deletes the key.
        store
            .touch("a".into(), session(Some(now_ms() - 5_000)))
            .await
            .unwrap();
        assert_eq!(store.get("a".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn destroy_deletes_and_missing_is_none() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        assert_eq!(store.get("nobody".into()).await.unwrap(), None);
        store
            .set("a".into(), session(Some(now_ms() + 600_000)))
            .await
            .unwrap();
        store.destroy("a".into()).await.unwrap();
        assert_eq!(store.get("a".into()).await.unwrap(), None);
        // Destroying a missing session is fine, as DEL is.
        store.destroy("a".into()).await.unwrap();
    }

    #[tokio::test]
    async fn a_value_that_is_not_json_is_store_unavailable() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        let mut conn = raw(&server).await;
        redis::cmd("SET")
            .arg("sess:bad")
            .arg("{not json")
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        match store.get("bad".into()).await {
            Err(Error::StoreUnavailable(msg)) => {
                assert!(msg.contains("not JSON"), "{msg}");
                assert!(!msg.contains("bad"), "no session id in errors: {msg}");
            }
            other => panic!("{other:?}"),
        }
        // An expiry that is not a date is refused rather than taken for a deletion.
        let mut odd = session(None);
        odd["cookie"]["expires"] = "next tuesday".into();
        assert!(matches!(
            store.set("a".into(), odd).await,
            Err(Error::StoreUnavailable(_))
        ));
    }

    #[tokio::test]
    async fn a_stopped_redis_is_store_unavailable_quickly() {
        let mut server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        store
            .set("a".into(), session(Some(now_ms() + 600_000)))
            .await
            .unwrap();
        server.stop();
        let started = Instant::now();
        let result = store.get("a".into()).await;
        assert!(
            matches!(result, Err(Error::StoreUnavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        let started = Instant::now();
        let result = store.set("a".into(), session(None)).await;
        assert!(
            matches!(result, Err(Error::StoreUnavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));

        // Back again: the next calls succeed without a new store.
        server.restart();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match store.get("a".into()).await {
                Ok(found) => {
                    assert_eq!(found, None, "no persistence: the restarted Redis is empty");
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "still failing: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_silent_redis_is_store_unavailable_within_the_timeout() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                sockets.push(s);
            }
        });
        let store = ConnectRedis::new(&format!("redis://127.0.0.1:{port}"), "sess:").unwrap();
        let started = Instant::now();
        let result = store.get("a".into()).await;
        assert!(
            matches!(result, Err(Error::StoreUnavailable(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        held.abort();
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "",
            "not a url",
            "http://127.0.0.1:6379",
            "rediss://127.0.0.1:6379",
        ] {
            match ConnectRedis::new(url, "sess:") {
                Err(Error::Config(_)) => {}
                other => panic!("{url:?}: {other:?}"),
            }
        }
        let ok = ConnectRedis::new("redis://user:secret@127.0.0.1:6379/2", "sess:").unwrap();
        assert_eq!(ok.prefix(), "sess:");
        assert!(!format!("{ok:?}").contains("secret"));
    }

    /// What `JSON.stringify` gave (Node 20) for an express-session 1.19 session
    /// (`cookie` a real `Cookie`, expires `new Date(Date.UTC(2099, 0, 1, 12, 30, 45, 678))`).
    const NODE_JSON: &str = concat!(
        r#"{"cookie":{"originalMaxAge":3600000,"expires":"2099-01-01T12:30:45.678Z","#,
        r#""httpOnly":true,"path":"/","sameSite":"lax"},"#,
        r#""user":{"id":42,"name":"Zoë \"Z\" \\ </script> "#,
        "\u{2028}",
        r#" \u0007\n\t"},"views":3,"ratio":0.1,"big":1e+21,"neg":-2.5e-7,"#,
        r#""tags":["a","ß","😀"],"nothing":null,"ok":true}"#
    );

    #[tokio::test]
    async fn values_are_byte_for_byte_what_connect_redis_writes() {
        let server = RedisServer::start();
        let store = ConnectRedis::new(&server.url(), "sess:").unwrap();
        let session: Value = serde_json::from_str(NODE_JSON).unwrap();
        assert_eq!(stringify(&session).unwrap(), NODE_JSON);
        store.set("abc".into(), session.clone()).await.unwrap();
        let mut conn = raw(&server).await;
        let stored: String = redis::cmd("GET")
            .arg("sess:abc")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(stored, NODE_JSON);
        // And what connect-redis wrote reads back as the same object.
        assert_same_but_rounded_expiry(store.get("abc".into()).await.unwrap().unwrap(), &session);
    }

    /// `read` is `written`, except that `cookie.expires` is the key's expiry: the written
    /// one rounded up to the second by the TTL (at most 1 s later, never earlier).
    fn assert_same_but_rounded_expiry(mut read: Value, written: &Value) {
        let at = |v: &Value| parse_iso8601_ms(v["cookie"]["expires"].as_str().unwrap()).unwrap();
        let (read_at, written_at) = (at(&read), at(written));
        assert!(
            (written_at..=written_at + 1_000).contains(&read_at),
            "read {read_at}, written {written_at}"
        );
        read["cookie"]["expires"] = written["cookie"]["expires"].clone();
        assert_eq!(&read, written);
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        // [x, JSON.stringify(x)] from Node 20.
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (3.0, "3"),
            (-0.0, "0"),
            (1.5, "1.5"),
            (100.0, "100"),
            (123.456, "123.456"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (999_999_999_999_999_999_999.0, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e100, "1e+100"),
            (0.000001, "0.000001"),
            (0.000001234, "0.000001234"),
            (1e-7, "1e-7"),
            (1.2345e-7, "1.2345e-7"),
            (-2.5e-7, "-2.5e-7"),
            (123e-20, "1.23e-18"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (100.0 / 3.0, "33.333333333333336"),
            (4.35, "4.35"),
            // Integers around and past 2^53: the double's shortest digits, then zeros.
            (9007199254740991.0, "9007199254740991"),
            (9007199254740992.0, "9007199254740992"),
            (9007199254740993.0, "9007199254740992"),
            (9007199254740994.0, "9007199254740994"),
            (9223372036854775808.0, "9223372036854776000"),
            (18446744073709551616.0, "18446744073709552000"),
            (-18446744073709551616.0, "-18446744073709552000"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-1234.5678, "-1234.5678"),
        ];
        for &(x, js) in cases {
            let mut out = Vec::new();
            JsFormatter.write_f64(&mut out, x).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), js, "{x:?}");
            // And through the serializer, as a float inside a session.
            let session = serde_json::json!({ "n": x });
            assert_eq!(stringify(&session).unwrap(), format!(r#"{{"n":{js}}}"#));
        }
        // JSON.stringify(NaN), JSON.stringify(Infinity): null.
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut out = Vec::new();
            JsFormatter.write_f64(&mut out, x).unwrap();
            assert_eq!(out, b"null", "{x:?}");
        }
        let mut out = Vec::new();
        JsFormatter.write_f32(&mut out, 0.5).unwrap();
        assert_eq!(out, b"0.5");
    }

    #[test]
    fn stored_numbers_read_back_as_javascript_writes_them() {
        // What serde_json reads as a float (a fraction, an exponent, -0, or an integer past
        // u64) is written back as JSON.stringify(JSON.parse(text)) does in Node 20.
        let read =
            r#"{"a":1.0,"b":-0,"c":1E21,"d":0.0000001,"e":1e-6,"f":18446744073709551616,"g":2.50}"#;
        let js =
            r#"{"a":1,"b":0,"c":1e+21,"d":1e-7,"e":0.000001,"f":18446744073709552000,"g":2.5}"#;
        let session: Value = serde_json::from_str(read).unwrap();
        assert_eq!(stringify(&session).unwrap(), js);
        // Integers within u64 / i64 keep all their digits (JavaScript reads the same number
        // from either spelling); within 2^53 they are exactly what JavaScript writes.
        let ints = r#"{"safe":9007199254740991,"neg":-9007199254740991,"big":18446744073709551615,"low":-9223372036854775808}"#;
        let session: Value = serde_json::from_str(ints).unwrap();
        assert_eq!(stringify(&session).unwrap(), ints);
    }
}
