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
use crate::session::{ResponseCookie, Session};
use crate::SessionId;

/// What an HTTP request's cookie resolved to, and the `Set-Cookie` its response carries.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sessionio::host;
/// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build()?;
/// // No cookie: a new session, and its cookie.
/// let first = host::http_request(&io, None).await;
/// let session = first.session().expect("a new session");
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
    /// The cookie decided when the request arrived: a new session's, or the clearing one
    /// of a refused cookie.
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
    /// latest cookie change made through the request's session handles
    /// ([`regenerate`](Session::regenerate), [`destroy`](Session::destroy)), else the new
    /// session's cookie or a refused cookie's clearing one; `None` when nothing changes.
    pub fn set_cookie(&self) -> Option<String> {
        self.changes.peek().or_else(|| self.initial.clone())
    }
}

impl std::fmt::Debug for ResponseCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCookie").finish_non_exhaustive()
    }
}

/// Resolves an HTTP request's `Cookie` header: its live session (extended: this is
/// activity), a new session when there is no cookie, or the refusal of a forged, unknown,
/// destroyed or expired one — never silently replaced by a new session. This is what every
/// host middleware (Express, ASGI, WSGI, Rack) calls.
pub async fn http_request(io: &SessionIo, cookie_header: Option<&str>) -> HttpOutcome {
    let changes = Arc::new(ResponseCookie::default());
    match io
        .0
        .http_session(cookie_header, Some(changes.clone()))
        .await
    {
        Ok(found) => HttpOutcome {
            result: Ok(found.session),
            initial: found.set_cookie,
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
