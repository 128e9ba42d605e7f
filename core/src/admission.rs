//! Admission: the one place that decides who gets in. A Socket.IO handshake or an HTTP
//! request presents an `Origin`, a session cookie or an `auth.token`; this module turns
//! them into a live session or a [`Refusal`] (whose message the client gets).

use std::sync::Arc;

use crate::engine::{Core, SessionIo};
use crate::error::Refusal;
use crate::session::{ResponseCookie, Session};
use crate::store::now_ms;
use crate::{cookie, SessionId};

/// What an HTTP request's cookie resolved to; see [`SessionIo::http_session`].
#[derive(Debug, Clone)]
pub struct HttpSession {
    /// The request's session.
    pub session: Session,
    /// A `Set-Cookie` header value to send, when the session was created for this request.
    pub set_cookie: Option<String>,
}

/// What a request's `Cookie` header holds for the engine.
pub(crate) enum CookieCredential {
    /// No session cookie.
    Absent,
    /// Session cookies, none validly signed (or naming an unknown express id).
    Invalid,
    /// The session id of the first validly signed session cookie.
    Valid(SessionId),
}

/// All `Cookie` headers joined (HTTP/2 may split them), read lossily; what both the HTTP
/// middlewares and the handshake read the session cookie from.
pub(crate) fn cookie_header(headers: &http::HeaderMap) -> Option<String> {
    let mut joined: Option<String> = None;
    for v in headers.get_all(http::header::COOKIE) {
        // Other cookies may carry any byte; ours is ASCII. Skipping a header that is not
        // valid UTF-8 would lose the session cookie in it (and make a new session).
        let v = String::from_utf8_lossy(v.as_bytes());
        let v = v.as_ref();
        match &mut joined {
            None => joined = Some(v.to_owned()),
            Some(j) => {
                j.push_str("; ");
                j.push_str(v);
            }
        }
    }
    joined
}

impl Core {
    /// The first validly signed session cookie in a `Cookie` header.
    pub(crate) fn cookie_credential(&self, header: Option<&str>) -> CookieCredential {
        let Some(header) = header else {
            return CookieCredential::Absent;
        };
        let mut seen = false;
        for value in cookie::cookie_values(header, &self.config.cookie.name) {
            seen = true;
            let id = match &self.config.express {
                None => self.signer.verify_cookie(value),
                Some(express) => express
                    .signer
                    .verify_cookie(value)
                    .and_then(|sid| express.resolve(&sid).ok()),
            };
            if let Some(id) = id {
                return CookieCredential::Valid(id);
            }
        }
        if seen {
            CookieCredential::Invalid
        } else {
            CookieCredential::Absent
        }
    }

    /// The handshake check, up to the per-session cap: the Origin, then the cookie or the
    /// token, then the store. Answers the session to join with its expiry instant, or
    /// `None` for an anonymous socket (when allowed).
    pub(crate) async fn check_handshake(
        &self,
        headers: &http::HeaderMap,
        auth: &serde_json::Value,
    ) -> Result<Option<(SessionId, u64)>, Refusal> {
        if !self
            .config
            .origins
            .allows(headers.get(http::header::ORIGIN))
        {
            return Err(Refusal::OriginNotAllowed);
        }
        let now = now_ms();
        // The same reading as the HTTP middlewares: every Cookie header, read lossily.
        let cookie = cookie_header(headers);
        let token = auth
            .get("token")
            .and_then(|t| t.as_str())
            .filter(|_| self.config.token_auth);
        let id = match (self.cookie_credential(cookie.as_deref()), token) {
            (CookieCredential::Valid(id), _) => id,
            (_, Some(token)) => self.signer.verify_token(token, now)?,
            (CookieCredential::Invalid, None) => return Err(Refusal::InvalidSession),
            (CookieCredential::Absent, None) if self.config.allow_anonymous => return Ok(None),
            (CookieCredential::Absent, None) => return Err(Refusal::SessionRequired),
        };
        let record = self.live_record(id).await?;
        Ok(Some((id, record.expires_at)))
    }

    /// The session of an HTTP request; see [`SessionIo::http_session`].
    pub(crate) async fn http_session(
        self: &Arc<Self>,
        cookie_header: Option<&str>,
        slot: Option<Arc<ResponseCookie>>,
    ) -> Result<HttpSession, Refusal> {
        self.start_background();
        match self.cookie_credential(cookie_header) {
            // express-session makes the sessions in that mode, not sessionio.
            CookieCredential::Absent if self.config.express.is_some() => {
                Err(Refusal::SessionRequired)
            }
            CookieCredential::Absent => {
                let id = self
                    .insert_new_session(Default::default(), now_ms() + self.ttl_ms())
                    .await
                    .map_err(|_| Refusal::StoreUnavailable)?;
                Ok(HttpSession {
                    session: Session::new(id, self.clone(), true, slot),
                    set_cookie: Some(self.set_cookie(id)),
                })
            }
            CookieCredential::Invalid => Err(Refusal::InvalidSession),
            CookieCredential::Valid(id) => {
                if self.presence.is_tombstoned(id) {
                    return Err(Refusal::InvalidSession);
                }
                self.check_live(id, true).await?;
                Ok(HttpSession {
                    session: Session::new(id, self.clone(), true, slot),
                    set_cookie: None,
                })
            }
        }
    }
}

impl SessionIo {
    /// What the Socket.IO connect middleware decides for a handshake with these request
    /// headers and `auth` object, without a socket: the session the socket would join
    /// (`None`: an anonymous socket), or the [`Refusal`] its client would get as
    /// `connect_error`. The per-session socket cap is not checked (it depends on the
    /// sockets connected at that moment). Useful to test a deployment's cookies, and to
    /// fuzz the handshake path.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("cookie", "sessionio.sid=forged".parse().unwrap());
    /// let refused = io.check_handshake(&headers, None).await.unwrap_err();
    /// assert_eq!(refused.message(), "invalid session");
    /// # });
    /// ```
    pub async fn check_handshake(
        &self,
        headers: &http::HeaderMap,
        auth: Option<&serde_json::Value>,
    ) -> Result<Option<SessionId>, Refusal> {
        let null = serde_json::Value::Null;
        self.0
            .check_handshake(headers, auth.unwrap_or(&null))
            .await
            .map(|admitted| admitted.map(|(id, _)| id))
    }

    /// The session of an HTTP request, from its `Cookie` header: the cookie's live session
    /// (its expiry is extended: this is activity), or a new session with the
    /// `Set-Cookie` to send when there is no cookie. A cookie that is forged or names a
    /// destroyed session is refused — never silently replaced by a new session — and the
    /// response should then carry [`clear_cookie`](Self::clear_cookie). This is what
    /// every host middleware (axum, Express, ASGI, WSGI) calls. After the handler ran,
    /// [`Session::cookie_change`] tells the response's `Set-Cookie` if it regenerated or
    /// destroyed the session.
    pub async fn http_session(&self, cookie_header: Option<&str>) -> Result<HttpSession, Refusal> {
        let slot = Arc::new(ResponseCookie::default());
        self.0.http_session(cookie_header, Some(slot)).await
    }

    /// What an HTTP request's `Cookie` header says, without creating or extending
    /// anything: `None` without a session cookie, the session of a valid cookie, or the
    /// refusal (forged, unknown or destroyed: `invalid session`; expired). In
    /// express-session mode this guards the routes before express-session's middleware,
    /// which would otherwise replace a refused cookie by a new session silently.
    pub async fn check_cookie(
        &self,
        cookie_header: Option<&str>,
    ) -> Result<Option<SessionId>, Refusal> {
        self.0.start_background();
        let id = match self.0.cookie_credential(cookie_header) {
            CookieCredential::Absent => return Ok(None),
            CookieCredential::Invalid => return Err(Refusal::InvalidSession),
            CookieCredential::Valid(id) => id,
        };
        if self.0.presence.is_tombstoned(id) {
            return Err(Refusal::InvalidSession);
        }
        self.0.live_record(id).await?;
        Ok(Some(id))
    }

    /// The `Set-Cookie` value that stores a session's cookie.
    pub fn set_cookie(&self, id: SessionId) -> String {
        self.0.set_cookie(id)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        self.0.clear_cookie()
    }

    /// The cookie and token codec of this engine (its secrets): what the handshake and
    /// the HTTP middlewares verify with.
    pub fn signer(&self) -> &cookie::Signer {
        &self.0.signer
    }
}
