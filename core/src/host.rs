//! The host contract's calls that only bindings and host middlewares need: what a
//! request's cookie resolves to (and the `Set-Cookie` its response must carry), ids as the
//! host knows them, and the handshake check without a socket. Rust apps use the axum layer
//! and the [`Session`](crate::Session) extractor instead.
//!
//! Every decision is made here, once; a binding copies the outcome into its host's
//! response and decides nothing.

use std::sync::Arc;

use crate::cookie::Signer;
use crate::engine::SessionIo;
use crate::error::{Refusal, Result};
use crate::login::Client;
use crate::session::{ResponseCookie, Session};
use crate::SessionId;

/// What an HTTP request's cookie resolved to, and the `Set-Cookie` its response carries.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sessionio::host;
/// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build()?;
/// // No cookie: a new session, stored (with its cookie sent) by its first write.
/// let first = host::http_request(&io, None).await;
/// let session = first.session().expect("a new session");
/// assert_eq!(first.set_cookie(), None);
/// session.set("seen", true).await?;
/// assert_eq!(first.set_cookie(), Some(io.config().cookie.set_cookie(&host::signer(&io).sign_cookie(&session.id()))));
/// // A forged cookie: refused with its status and message, and the cookie cleared.
/// let forged = host::http_request(&io, Some("sessionio.sid=forged")).await;
/// assert_eq!(forged.refusal().map(|r| r.http_status()), Some(401));
/// assert_eq!(forged.set_cookie(), Some(host::clear_cookie(&io)));
/// // A valid cookie: its session, and no cookie to send.
/// let cookie = first.set_cookie().unwrap().split(';').next().unwrap().to_owned();
/// let again = host::http_request(&io, Some(&cookie)).await;
/// assert_eq!(again.session().map(|s| s.id()), Some(session.id()));
/// assert_eq!(again.set_cookie(), None);
/// // regenerate() and destroy() during the request change the response's cookie, the
/// // latest one winning.
/// let renewed = again.session().unwrap().regenerate().await?;
/// assert_eq!(again.set_cookie(), Some(host::set_cookie(&io, renewed.id())));
/// renewed.destroy().await?;
/// assert_eq!(again.set_cookie(), Some(host::clear_cookie(&io)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpOutcome {
    result: std::result::Result<Session, Refusal>,
    /// The cookie decided when the request arrived: the clearing one of a refused cookie.
    initial: Option<String>,
    changes: Arc<ResponseCookie>,
}

impl HttpOutcome {
    /// The request's session, `None` when the cookie was refused.
    pub fn session(&self) -> Option<&Session> {
        self.result.as_ref().ok()
    }

    /// Why the cookie was refused: answer [`Refusal::http_status`] with
    /// [`Refusal::message`] as the body.
    pub fn refusal(&self) -> Option<Refusal> {
        self.result.as_ref().err().copied()
    }

    /// The `Set-Cookie` value the response carries, read when the response starts: the
    /// latest cookie change made through the request's session handles (a new session's
    /// first write or [`save`](Session::save), [`regenerate`](Session::regenerate),
    /// [`destroy`](Session::destroy)), else a refused cookie's clearing one; `None` when
    /// nothing changes.
    pub fn set_cookie(&self) -> Option<String> {
        self.changes.peek().or_else(|| self.initial.clone())
    }

    /// Reports who made the request, its `User-Agent` header and the client's IP address
    /// as the host's server gives it (`"::ffff:127.0.0.1"` is shown as `127.0.0.1`; text
    /// that is no IP address is ignored), for the user's list of sessions that
    /// [`Session::login`] adds this session to. The first report of a request counts; a
    /// host middleware makes it before handlers run.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sessionio::Error> {
    /// use sessionio::host;
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build()?;
    /// let request = host::http_request(&io, None).await;
    /// request.set_client(Some("phone-browser/1.0"), Some("::ffff:10.0.0.7"));
    /// request.session().unwrap().login("ada").await?;
    /// let listed = io.user_sessions("ada").await?;
    /// assert_eq!(listed[0].user_agent.as_deref(), Some("phone-browser/1.0"));
    /// assert_eq!(listed[0].address.as_deref(), Some("10.0.0.7"));
    /// # Ok(()) }
    /// ```
    pub fn set_client(&self, user_agent: Option<&str>, address: Option<&str>) {
        let _ = (self.changes.client).set(Client::from_host(user_agent, address));
    }
}

impl std::fmt::Debug for ResponseCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCookie").finish_non_exhaustive()
    }
}

/// Resolves an HTTP request's `Cookie` header: its live session (extended: this is
/// activity), a new session when there is no cookie (not stored, and no cookie sent,
/// until its first write or [`Session::save`]), or the refusal of a forged, unknown,
/// destroyed or expired one — never silently replaced by a new session. This is what every
/// host middleware (Express, ASGI, WSGI, Rack) calls.
pub async fn http_request(io: &SessionIo, cookie_header: Option<&str>) -> HttpOutcome {
    let changes = Arc::new(ResponseCookie::default());
    match io.0.http_session(cookie_header, changes.clone()).await {
        Ok(session) => HttpOutcome {
            result: Ok(session),
            initial: None,
            changes,
        },
        Err(refusal) => HttpOutcome {
            result: Err(refusal),
            initial: refusal.clears_cookie().then(|| io.0.clear_cookie()),
            changes,
        },
    }
}

/// A refused request's answer: the refusal, and the `Set-Cookie` that clears a bad cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Why (its [`http_status`](Refusal::http_status) and [`message`](Refusal::message)).
    pub refusal: Refusal,
    /// The clearing `Set-Cookie`, when the cookie itself is bad.
    pub set_cookie: Option<String>,
}

/// What an HTTP request's `Cookie` header says, without creating or extending anything:
/// `None` without a session cookie, the session of a valid cookie, or the refusal
/// (forged, unknown or destroyed: `invalid session`; expired). In express-session mode
/// this guards the routes before express-session's middleware, which would otherwise
/// replace a refused cookie by a new session silently.
pub async fn check_cookie(
    io: &SessionIo,
    cookie_header: Option<&str>,
) -> std::result::Result<Option<SessionId>, Refused> {
    let refused = |refusal: Refusal| Refused {
        refusal,
        set_cookie: refusal.clears_cookie().then(|| io.0.clear_cookie()),
    };
    io.0.start_background();
    io.0.cookie_session(cookie_header, false)
        .await
        .map(|found| found.map(|(id, _)| id))
        .map_err(refused)
}

/// What the Socket.IO connect middleware decides for a handshake with these request
/// headers and `auth` object, without a socket: the session the socket would join
/// (`None`: an anonymous socket), or the [`Refusal`] its client would get as
/// `connect_error`. The per-session socket cap is not checked (it depends on the sockets
/// connected at that moment). Useful to test a deployment's cookies, and to fuzz the
/// handshake path.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cookie", "sessionio.sid=forged".parse().unwrap());
/// let refused = sessionio::host::check_handshake(&io, &headers, None).await.unwrap_err();
/// assert_eq!(refused.message(), "invalid session");
/// # });
/// ```
pub async fn check_handshake(
    io: &SessionIo,
    headers: &http::HeaderMap,
    auth: Option<&serde_json::Value>,
) -> std::result::Result<Option<SessionId>, Refusal> {
    let null = serde_json::Value::Null;
    io.0.check_handshake(headers, auth.unwrap_or(&null))
        .await
        .map(|admitted| admitted.map(|a| a.id))
}

/// The engine's id for a session id as the host knows it: a sessionio id (its canonical
/// text form only), or in express-session mode express-session's `req.session.id`.
///
/// ```
/// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
/// let id = sessionio::SessionId::default();
/// assert_eq!(sessionio::host::resolve_id(&io, &id.to_string()).unwrap(), id);
/// assert!(sessionio::host::resolve_id(&io, "nope").is_err());
/// ```
pub fn resolve_id(io: &SessionIo, id: &str) -> Result<SessionId> {
    io.0.config.identity.resolve(id)
}

/// The id of `id` as the host knows it: the inverse of [`resolve_id`].
pub fn host_id(io: &SessionIo, id: SessionId) -> String {
    io.0.host_id(id)
}

pub use crate::identity::parse_session_id;

/// The `Set-Cookie` value that stores a session's cookie, signed with the engine's own
/// secrets (what the engine sets for the sessions it creates).
pub fn set_cookie(io: &SessionIo, id: SessionId) -> String {
    io.0.config.cookie.set_cookie(&io.0.signer.sign_cookie(&id))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(io: &SessionIo) -> String {
    io.0.clear_cookie()
}

/// The cross-site request forgery check every HTTP middleware runs first: `Some` refusal
/// (403 `origin not allowed`, answered without touching the session or its cookie) for a
/// state-changing request whose `Origin` or `Sec-Fetch-Site` header shows a site off the
/// allow-list; see [`Builder::csrf_check`](crate::Builder::csrf_check). `method` is the
/// request method as sent; an unparsable one counts as state-changing.
///
/// ```
/// let io = sessionio::SessionIo::builder()
///     .secret([7u8; 32])
///     .allowed_origins(["https://app.example"])
///     .build()
///     .unwrap();
/// use sessionio::host::check_request_site;
/// let forged = check_request_site(&io, "POST", Some("https://evil.example"), None, Some("app.example"));
/// assert_eq!(forged.unwrap().message(), "origin not allowed");
/// assert!(check_request_site(&io, "POST", Some("https://app.example"), None, None).is_none());
/// assert!(check_request_site(&io, "GET", Some("https://evil.example"), None, None).is_none());
/// // The server's own origin (its `Host`) needs no list entry.
/// assert!(check_request_site(&io, "POST", Some("http://127.0.0.1:3000"), None, Some("127.0.0.1:3000")).is_none());
/// ```
pub fn check_request_site(
    io: &SessionIo,
    method: &str,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    host: Option<&str>,
) -> Option<Refusal> {
    let method = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::POST);
    // A header value the client sent is always a valid one; one that is not cannot match.
    let value = |v: &str| {
        http::HeaderValue::from_str(v).unwrap_or_else(|_| http::HeaderValue::from_static("null"))
    };
    let origin = origin.map(value);
    let fetch_site = fetch_site.map(value);
    let host = host.map(value);
    crate::csrf::cross_site_refusal(
        &io.0.config,
        &method,
        origin.as_ref(),
        fetch_site.as_ref(),
        host.as_ref(),
    )
}

/// Sends the engine's log lines to stderr, filtered by the `SESSIONIO_LOG` environment
/// variable (a `tracing` filter such as `debug` or `sessionio=trace`; default `warn`, also
/// when it does not parse), in color on a terminal. Every binding calls it when it loads;
/// a process that already has a `tracing` subscriber keeps its own.
#[cfg(feature = "stderr-log")]
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESSIONIO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The cookie and token codec of the engine (its secrets).
pub fn signer(io: &SessionIo) -> &Signer {
    &io.0.signer
}

/// The express-session mode through the host calls (express-session's cookie and store).
#[cfg(test)]
mod express_tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::Error;
    use crate::express::test_support::{cookie_header, session_json, FakeMemoryStore};
    use crate::express::{expiry_of, ExpressBackend, ExpressSession, ExpressSigner};
    use crate::store::{now_ms, Touch};
    use std::time::Duration;

    fn engine(backend: Arc<FakeMemoryStore>, secrets: &[&str]) -> SessionIo {
        SessionIo::builder()
            .express_session(ExpressSession::new(backend).secrets(secrets))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn handshakes_accept_rotated_secrets_and_refuse_tampered_or_unknown_cookies() {
        let store = Arc::new(FakeMemoryStore::default());
        store
            .set("live-sid".into(), session_json(60_000, 1))
            .await
            .unwrap();
        let io = engine(store.clone(), &["new secret", "old secret"]);
        let by_old = check_handshake(&io, &cookie_header("old secret", "live-sid"), None).await;
        let id = by_old.unwrap().unwrap();
        assert_eq!(host_id(&io, id), "live-sid");
        assert!(
            check_handshake(&io, &cookie_header("new secret", "live-sid"), None)
                .await
                .is_ok()
        );
        let refused =
            |r: std::result::Result<Option<SessionId>, crate::Refusal>| r.unwrap_err().message();
        assert_eq!(
            refused(check_handshake(&io, &cookie_header("other", "live-sid"), None).await),
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
            refused(check_handshake(&io, &tampered, None).await),
            "invalid session"
        );
        assert_eq!(
            refused(check_handshake(&io, &cookie_header("new secret", "gone-sid"), None).await),
            "invalid session"
        );
        // The guard's answer for HTTP requests, and the session a host call names.
        assert_eq!(check_cookie(&io, None).await, Ok(None));
        assert_eq!(
            check_cookie(&io, Some("connect.sid=s%3Ax.y"))
                .await
                .map_err(|r| r.refusal),
            Err(crate::Refusal::InvalidSession)
        );
        let session = io
            .session(resolve_id(&io, "live-sid").unwrap())
            .await
            .unwrap();
        assert_eq!(session.host_id(), "live-sid");
    }

    /// Finding 9 of issue 15: express-session reads the first `connect.sid` of a request
    /// (the `cookie` package keeps the first of a repeated name) and mints a new session
    /// when it is forged; the guard and the handshake accepted the request if any of the
    /// first 8 was valid. Both now judge the first one, as express-session does.
    #[tokio::test]
    async fn finding_9_the_first_connect_sid_is_judged_as_express_session_reads_it() {
        let store = Arc::new(FakeMemoryStore::default());
        store
            .set("live-sid".into(), session_json(60_000, 1))
            .await
            .unwrap();
        let io = engine(store.clone(), &["secret"]);
        let valid = ExpressSigner::new(&["secret"]).sign_cookie("live-sid");
        let forged = ExpressSigner::new(&["not the secret"]).sign_cookie("live-sid");
        let live = resolve_id(&io, "live-sid").unwrap();
        let headers = |value: &[u8]| {
            let mut h = http::HeaderMap::new();
            h.insert("cookie", http::HeaderValue::from_bytes(value).unwrap());
            h
        };
        let invalid = Err(crate::Refusal::InvalidSession);
        // (the Cookie header, what express-session reads: the live session or a new one)
        let cases: Vec<(Vec<u8>, bool)> = vec![
            (
                format!("connect.sid={forged}; connect.sid={valid}").into(),
                false,
            ),
            (format!("connect.sid=; connect.sid={valid}").into(), false),
            (
                format!("connect.sid=garbage; a=b; connect.sid={valid}").into(),
                false,
            ),
            (
                format!("connect.sid={valid}; connect.sid={forged}").into(),
                true,
            ),
            (
                format!("a=b;  connect.sid={valid} ;connect.sid={forged}").into(),
                true,
            ),
            // The `cookie` package trims spaces and tabs only: a name padded with a
            // no-break space (UTF-8 C2 A0) is another name there.
            (
                [
                    b"\xc2\xa0connect.sid=",
                    valid.as_bytes(),
                    b"; connect.sid=",
                    forged.as_bytes(),
                ]
                .concat(),
                false,
            ),
            (
                [
                    b"\tconnect.sid=",
                    valid.as_bytes(),
                    b"; connect.sid=",
                    forged.as_bytes(),
                ]
                .concat(),
                true,
            ),
        ];
        for (header, reads_the_live_session) in cases {
            let text = String::from_utf8_lossy(&header).into_owned();
            let handshake = check_handshake(&io, &headers(&header), None).await;
            let guard = check_cookie(&io, Some(&text)).await.map_err(|r| r.refusal);
            if reads_the_live_session {
                assert_eq!(handshake, Ok(Some(live)), "{text}");
                assert_eq!(guard, Ok(Some(live)), "{text}");
            } else {
                assert_eq!(handshake, invalid.clone(), "{text}");
                assert_eq!(guard, invalid.clone(), "{text}");
            }
        }
    }

    /// express-session's own `regenerate()` / `destroy()` delete the session in its store;
    /// `disconnect_if_gone` then ends the engine's side of it, and leaves a live one be.
    #[tokio::test]
    async fn disconnect_if_gone_ends_only_a_session_the_store_no_longer_has() {
        let store = Arc::new(FakeMemoryStore::default());
        for sid in ["kept", "regenerated"] {
            store
                .set(sid.into(), session_json(60_000, 1))
                .await
                .unwrap();
        }
        let io = engine(store.clone(), &["secret"]);
        let (kept, regenerated) = (
            resolve_id(&io, "kept").unwrap(),
            resolve_id(&io, "regenerated").unwrap(),
        );
        assert_eq!(io.disconnect_if_gone(kept).await.unwrap(), 0);
        let admitted = check_handshake(&io, &cookie_header("secret", "kept"), None).await;
        assert_eq!(admitted, Ok(Some(kept)));
        store.destroy("regenerated".into()).await.unwrap();
        assert_eq!(io.disconnect_if_gone(regenerated).await.unwrap(), 0);
        let refused = check_handshake(&io, &cookie_header("secret", "regenerated"), None).await;
        assert_eq!(refused, Err(crate::Refusal::InvalidSession));
    }

    /// Issue 15: in express-session mode the engine's tokens were signed with a random
    /// secret per process, and named the engine's id, which only the process that had
    /// seen the express id could map back; a token issued by one process was refused by
    /// the others. They are signed with a key derived from express-session's secret and
    /// name express-session's id now: processes with the same options verify each
    /// other's tokens (a fresh process too), and a rotated-out secret still in the list
    /// keeps its tokens, as its cookies.
    #[tokio::test]
    async fn express_tokens_verify_in_every_process_given_express_sessions_secret() {
        let store = Arc::new(FakeMemoryStore::default());
        store
            .set("live-sid".into(), session_json(60_000, 1))
            .await
            .unwrap();
        let issuer = engine(store.clone(), &["secret"]);
        let other_process = engine(store.clone(), &["secret"]);
        let rotated = engine(store.clone(), &["newer secret", "secret"]);
        let other_app = engine(store.clone(), &["another app's secret"]);
        let id = resolve_id(&issuer, "live-sid").unwrap();
        let token = issuer.issue_token(id, Duration::from_secs(60)).unwrap();
        let auth = serde_json::json!({ "token": token });
        let no_cookie = http::HeaderMap::new();
        for io in [&issuer, &other_process, &rotated] {
            let admitted = check_handshake(io, &no_cookie, Some(&auth)).await;
            assert_eq!(admitted, Ok(Some(id)));
            assert_eq!(host_id(io, id), "live-sid");
        }
        let refused = check_handshake(&other_app, &no_cookie, Some(&auth)).await;
        assert_eq!(refused, Err(crate::Refusal::InvalidSession));
        // The token key is not the cookie's: a token is no cookie, and no cookie a token.
        let cookie_value = ExpressSigner::new(&["secret"]).sign_cookie("live-sid");
        let as_token = serde_json::json!({ "token": cookie_value });
        assert!(check_handshake(&issuer, &no_cookie, Some(&as_token))
            .await
            .is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn increments_are_atomic_and_keep_the_cookie() {
        let store = Arc::new(FakeMemoryStore::default());
        let before = session_json(60_000, 0);
        store.set("sid".into(), before.clone()).await.unwrap();
        let io = engine(store.clone(), &["s"]);
        let id = resolve_id(&io, "sid").unwrap();
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
        let short = resolve_id(&io, "short").unwrap();
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
        let doomed = resolve_id(&io, "doomed").unwrap();
        io.destroy_session(doomed).await.unwrap();
        assert_eq!(*store.destroyed.lock().unwrap(), vec!["doomed".to_owned()]);
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
        let id = resolve_id(&io, "sid").unwrap();
        let now = now_ms() + 5_000;
        assert_eq!(io.0.store.touch(id, 0, now).await.unwrap(), Touch::Extended);
        let stored = store.get("sid".into()).await.unwrap().unwrap();
        assert_eq!(expiry_of(&stored), Some(now + 60_000));
    }
}

/// An HTTP request's first write swaps from the record its session check read
/// ([`SessionStore::touch_and_read`](crate::store::SessionStore::touch_and_read)).
#[cfg(test)]
mod first_write {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::{http_request, set_cookie};
    use crate::store::{BoxFuture, MemoryStore, Record, SessionStore, Sweep, Touch};
    use crate::{Result, SessionId, SessionIo};

    /// A memory store that reads the record in its touch, as the Redis store does, and
    /// counts the loads the engine asks for.
    #[derive(Default)]
    struct Reading {
        inner: MemoryStore,
        loads: AtomicUsize,
    }

    impl SessionStore for Reading {
        fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
            self.inner.create(record)
        }
        fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            self.inner.load(id)
        }
        fn replace(&self, record: Record, expected: u64) -> BoxFuture<'_, Result<bool>> {
            self.inner.replace(record, expected)
        }
        fn touch(&self, id: SessionId, at: u64, now: u64) -> BoxFuture<'_, Result<Touch>> {
            self.inner.touch(id, at, now)
        }
        fn touch_and_read(
            &self,
            id: SessionId,
            at: u64,
            now: u64,
        ) -> BoxFuture<'_, Result<(Touch, Option<Record>)>> {
            Box::pin(async move {
                let touched = self.inner.touch(id, at, now).await?;
                let read = match touched {
                    Touch::Extended => self.inner.load(id).await?,
                    _ => None,
                };
                Ok((touched, read))
            })
        }
        fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
            self.inner.delete(id)
        }
        fn count(&self) -> BoxFuture<'_, Result<u64>> {
            self.inner.count()
        }
        fn sweeper(&self) -> Option<&dyn Sweep> {
            self.inner.sweeper()
        }
    }

    async fn engine_with_a_session() -> (SessionIo, Arc<Reading>, String) {
        let store = Arc::new(Reading::default());
        let io = SessionIo::builder()
            .secret([7u8; 32])
            .store(store.clone())
            .build()
            .unwrap();
        let session = io.create_session().await.unwrap();
        let cookie = set_cookie(&io, session.id());
        let cookie = cookie.split(';').next().unwrap().to_owned();
        (io, store, cookie)
    }

    #[tokio::test]
    async fn an_http_requests_first_write_swaps_from_the_record_its_check_read() {
        let (io, store, cookie) = engine_with_a_session().await;
        let request = http_request(&io, Some(&cookie)).await;
        let session = request.session().unwrap();
        store.loads.store(0, Ordering::SeqCst);
        assert_eq!(session.increment("count", 1).await.unwrap(), 1);
        assert_eq!(
            store.loads.load(Ordering::SeqCst),
            0,
            "no load before the swap"
        );
        // The record is used once: the next write loads.
        assert_eq!(session.increment("count", 1).await.unwrap(), 2);
        assert_eq!(store.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_record_changed_since_the_check_costs_a_swap_and_loses_no_write() {
        let (io, store, cookie) = engine_with_a_session().await;
        let request = http_request(&io, Some(&cookie)).await;
        let session = request.session().unwrap();
        // Another writer between the request's check and its write.
        let other = io.session(session.id()).await.unwrap();
        other.set("count", 10).await.unwrap();
        store.loads.store(0, Ordering::SeqCst);
        assert_eq!(session.increment("count", 1).await.unwrap(), 11);
        assert_eq!(
            store.loads.load(Ordering::SeqCst),
            1,
            "the lost swap reloads"
        );
        // `f` refusing the record the check read is not the answer either: the store's
        // data decides.
        other.set("count", "not a number").await.unwrap();
        let request = http_request(&io, Some(&cookie)).await;
        let session = request.session().unwrap();
        other.set("count", 30).await.unwrap();
        assert_eq!(session.increment("count", 1).await.unwrap(), 31);
    }
}
