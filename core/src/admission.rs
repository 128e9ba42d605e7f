//! Admission: the one place that decides who gets in. A Socket.IO handshake or an HTTP
//! request presents an `Origin`, a session cookie or an `auth.token`; this module turns
//! them into a live session or a [`Refusal`] (whose message the client gets).

use std::sync::Arc;

use crate::config::Origins;
use crate::engine::Core;
use crate::error::{Error, Refusal};
use crate::identity::CookieChoice;
use crate::session::{Birth, ResponseCookie, Session};
use crate::store::{now_ms, Record};
use crate::{cookie, SessionId};

/// A handshake let in to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admitted {
    pub(crate) id: SessionId,
    /// The session's expiry instant (unix ms), where its expiry timer starts.
    pub(crate) expires_at: u64,
    /// For a socket admitted by an `auth.token`: the token's expiry (unix ms). The socket
    /// leaves at that instant, and its activity never extends the session past it.
    pub(crate) token_expires_at: Option<u64>,
    /// The user the session is logged in as, and what its record says of its client.
    pub(crate) login: Option<crate::store::Login>,
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
        let name = &self.config.cookie.name;
        let judged: Box<dyn Iterator<Item = &str>> = match self.config.identity.cookie_choice() {
            CookieChoice::FirstValid => Box::new(cookie::cookie_values(header, name)),
            CookieChoice::First => Box::new(cookie::cookie_values(header, name).take(1)),
            CookieChoice::Last => Box::new(cookie::last_cookie_value(header, name).into_iter()),
        };
        let mut seen = false;
        for value in judged {
            seen = true;
            if let Some(id) = self.config.identity.verify_cookie(value) {
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
    /// token, then the store. Answers the session to join, or `None` for an anonymous
    /// socket (when allowed).
    pub(crate) async fn check_handshake(
        &self,
        headers: &http::HeaderMap,
        auth: &serde_json::Value,
    ) -> Result<Option<Admitted>, Refusal> {
        if !self.config.origins.allows_request(
            headers.get(http::header::ORIGIN),
            headers.get(http::header::HOST),
        ) {
            return Err(Refusal::OriginNotAllowed);
        }
        let now = now_ms();
        // The same reading as the HTTP middlewares: every Cookie header, read lossily.
        // Under "any origin" a page of any site can open a socket, and the browser sends
        // the session cookie with it (same-site cookies on websocket handshakes,
        // `SameSite=None` ones from anywhere): the cookie proves nothing about who opened
        // the socket then, so only a token (or nothing, if anonymous sockets are
        // allowed) is read.
        let cookie = match self.config.origins {
            Origins::Any => None,
            Origins::List(_) => cookie_header(headers),
        };
        let token = auth
            .get("token")
            .and_then(|t| t.as_str())
            .filter(|_| self.config.token_auth);
        let (id, token_expires_at) = match (self.cookie_credential(cookie.as_deref()), token) {
            (CookieCredential::Valid(id), _) => (id, None),
            (_, Some(token)) => {
                let (host_id, expires_at) = self.signer.verify_token_with_expiry(token, now)?;
                let id =
                    (self.config.identity.resolve(host_id)).map_err(|_| Refusal::InvalidSession)?;
                (id, Some(expires_at))
            }
            (CookieCredential::Invalid, None) => return Err(Refusal::InvalidSession),
            (CookieCredential::Absent, None) if self.config.allow_anonymous => return Ok(None),
            (CookieCredential::Absent, None) => return Err(Refusal::SessionRequired),
        };
        let record = self.live_record(id).await?;
        Ok(Some(Admitted {
            id,
            expires_at: record.expires_at,
            token_expires_at,
            login: record.login,
        }))
    }

    /// The live session a request's `Cookie` header names (its expiry moved with
    /// `extend`), `None` without a session cookie, or why the cookie is refused (forged,
    /// unknown or destroyed: `invalid session`; expired; store unavailable). With
    /// `extend` (an HTTP request's), also its record as the extension left it, when the
    /// store read it in the same step.
    pub(crate) async fn cookie_session(
        &self,
        cookie_header: Option<&str>,
        extend: bool,
    ) -> Result<Option<(SessionId, Option<Record>)>, Refusal> {
        let id = match self.cookie_credential(cookie_header) {
            CookieCredential::Absent => return Ok(None),
            CookieCredential::Invalid => return Err(Refusal::InvalidSession),
            CookieCredential::Valid(id) => id,
        };
        if self.presence.is_tombstoned(id) {
            return Err(Refusal::InvalidSession);
        }
        let read = self.extend_live(id, extend.into(), extend).await?;
        Ok(Some((id, read)))
    }

    /// The session of an HTTP request: the cookie's (extended: this is activity), or,
    /// when there is no cookie, a new one that is not stored yet — its first write or
    /// `save()` stores it and puts its cookie in `slot`; until then the request costs no
    /// record and sends no cookie. See [`host::http_request`](crate::host::http_request).
    pub(crate) async fn http_session(
        self: &Arc<Self>,
        cookie_header: Option<&str>,
        slot: Arc<ResponseCookie>,
    ) -> Result<Session, Refusal> {
        self.start_background();
        match self.cookie_session(cookie_header, true).await? {
            Some((id, read)) => {
                if let Some(record) = read {
                    slot.remember(record);
                }
                Ok(Session::new(id, self.clone(), true, Some(slot)))
            }
            // The host's session system makes the sessions (express-session).
            None if !self.config.identity.creates_sessions() => Err(Refusal::SessionRequired),
            None => Ok(Session::unborn(
                SessionId::default(),
                self.clone(),
                slot,
                Arc::new(Birth::default()),
            )),
        }
    }

    /// The cap on sessions: whether one more may be created now, by the store's
    /// [`count`](crate::store::SessionStore::count) against `max_sessions`.
    pub(crate) async fn admit_new_session(&self) -> Result<(), Error> {
        if self.store.count().await? >= self.config.max_sessions {
            return Err(Error::TooManySessions);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::host::{check_handshake, http_request};
    use crate::SessionIo;

    fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().unwrap());
        }
        h
    }

    /// Finding 7: with `allow_any_origin()`, a socket opened from any site with the
    /// victim's cookie connected as the victim.
    #[tokio::test]
    async fn finding_7_any_origin_ignores_the_session_cookie_and_reads_tokens_only() {
        let io = SessionIo::builder()
            .secret([7u8; 32])
            .allow_any_origin()
            .build()
            .unwrap();
        let victim = http_request(&io, None).await;
        victim.session().unwrap().save().await.unwrap();
        let set_cookie = victim.set_cookie().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let id = victim.session().unwrap().id();
        let hijack = headers(&[
            ("origin", "https://evil.example".into()),
            ("cookie", cookie.clone()),
        ]);
        assert_eq!(
            check_handshake(&io, &hijack, None)
                .await
                .unwrap_err()
                .message(),
            "session required",
            "the cookie alone is no credential under any origin"
        );
        let token = io
            .issue_token(id, std::time::Duration::from_secs(60))
            .unwrap();
        let auth = serde_json::json!({ "token": token });
        assert_eq!(
            check_handshake(&io, &hijack, Some(&auth)).await.unwrap(),
            Some(id),
            "a token still admits"
        );
        // The app's own HTTP requests keep their cookie session.
        let again = http_request(&io, Some(&cookie)).await;
        assert_eq!(again.session().unwrap().id(), id);
    }

    /// The same cookie under an allow-list is a credential (the control of the above).
    #[tokio::test]
    async fn an_allow_list_reads_the_session_cookie() {
        let io = SessionIo::builder().secret([7u8; 32]).build().unwrap();
        let first = http_request(&io, None).await;
        first.session().unwrap().save().await.unwrap();
        let cookie = first
            .set_cookie()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let id = first.session().unwrap().id();
        let h = headers(&[("cookie", cookie)]);
        assert_eq!(check_handshake(&io, &h, None).await.unwrap(), Some(id));
    }
}
