//! The host contract's calls that only bindings and host middlewares need: what a
//! request's cookie resolves to (and the `Set-Cookie` its response must carry), ids as the
//! host knows them, and the handshake check without a socket. Rust apps use the axum layer
//! and the [`Session`](crate::Session) extractor instead.
//!
//! Every decision is made here, once; a binding copies the outcome into its host's
//! response and decides nothing.

use std::sync::Arc;

use crate::admission::CookieCredential;
use crate::cookie::Signer;
use crate::engine::SessionIo;
use crate::error::{Error, Refusal, Result};
use crate::session::{ResponseCookie, Session};
use crate::SessionId;

pub use crate::admission::HttpSession;

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
/// // regenerate() and destroy() during the request change the response's cookie.
/// session.destroy().await?;
/// assert_eq!(first.set_cookie(), Some(host::clear_cookie(&io)));
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

/// The session of an HTTP request, or its refusal; [`http_request`] with the outcome
/// split (the response's cookie: `set_cookie`, then [`Session::cookie_change`]).
pub async fn http_session(
    io: &SessionIo,
    cookie_header: Option<&str>,
) -> std::result::Result<HttpSession, Refusal> {
    let slot = Arc::new(ResponseCookie::default());
    io.0.http_session(cookie_header, Some(slot)).await
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
    let id = match io.0.cookie_credential(cookie_header) {
        CookieCredential::Absent => return Ok(None),
        CookieCredential::Invalid => return Err(refused(Refusal::InvalidSession)),
        CookieCredential::Valid(id) => id,
    };
    if io.0.presence.is_tombstoned(id) {
        return Err(refused(Refusal::InvalidSession));
    }
    match io.0.live_record(id).await {
        Ok(_) => Ok(Some(id)),
        Err(not_live) => Err(refused(not_live.into())),
    }
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
        .map(|admitted| admitted.map(|(id, _)| id))
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
    match &io.0.config.express {
        Some(express) => express.resolve(id),
        None => parse_session_id(id),
    }
}

/// The id of `id` as the host knows it: the inverse of [`resolve_id`].
pub fn host_id(io: &SessionIo, id: SessionId) -> String {
    io.0.host_id(id)
}

/// Parses a session id from its canonical text form (22 base64url characters).
pub fn parse_session_id(text: &str) -> Result<SessionId> {
    let id: SessionId = text.parse().map_err(|_| Error::InvalidSessionId)?;
    if id.to_string() != text {
        return Err(Error::InvalidSessionId);
    }
    Ok(id)
}

/// The `Set-Cookie` value that stores a session's cookie.
pub fn set_cookie(io: &SessionIo, id: SessionId) -> String {
    io.0.set_cookie(id)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(io: &SessionIo) -> String {
    io.0.clear_cookie()
}

/// The cookie and token codec of the engine (its secrets).
pub fn signer(io: &SessionIo) -> &Signer {
    &io.0.signer
}
