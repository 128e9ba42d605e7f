//! The identity seam: where sessions come from. An [`Identity`] says what a session
//! cookie's value names, how the engine's ids map to the host's, whether the engine
//! creates sessions, and which store holds them. sessionio's own signed cookies
//! ([`NativeIdentity`]) and express-session's ([`Builder::express_session`]) are two
//! implementations; the engine has no special case for either, and another session system
//! plugs in through [`Builder::identity`].
//!
//! [`Builder::express_session`]: crate::Builder::express_session
//! [`Builder::identity`]: crate::Builder::identity

use std::sync::Arc;

use crate::cookie::Signer;
use crate::error::{Error, Result};
use crate::store::{BoxFuture, SessionStore};
use crate::SessionId;

/// Where sessions come from; see the module docs.
///
/// Implementations are read on every handshake and request: `verify_cookie` must not
/// reach a store (a forged cookie is refused before any store read).
pub trait Identity: Send + Sync + 'static {
    /// The engine's id for the value of one session cookie, if the value is validly
    /// signed (and names an id this system knows); `None` refuses it.
    fn verify_cookie(&self, value: &str) -> Option<SessionId>;

    /// The cookie value that names `id`, when the engine writes the session cookie
    /// (new sessions, `regenerate`); `None` when the host's session system writes its own.
    fn sign_cookie(&self, id: SessionId) -> Option<String>;

    /// Whether the engine creates a session for an HTTP request without a cookie (else such
    /// a request is refused with `session required`: the host's system makes sessions).
    fn creates_sessions(&self) -> bool;

    /// The engine's id for a session id as the host knows it. By default the id's
    /// canonical text form (22 base64url characters), as sessionio and tower-sessions
    /// write it.
    fn resolve(&self, host_id: &str) -> Result<SessionId> {
        parse_session_id(host_id)
    }

    /// The id of `id` as the host knows it: the inverse of [`resolve`](Self::resolve).
    fn host_id(&self, id: SessionId) -> String {
        id.to_string()
    }

    /// The store that holds the sessions.
    fn store(&self) -> Arc<dyn SessionStore>;

    /// Which of several cookies with the session cookie's name a request is judged by.
    /// [`CookieChoice::FirstValid`] by default.
    fn cookie_choice(&self) -> CookieChoice {
        CookieChoice::FirstValid
    }

    /// Periodic housekeeping, run by the engine's sweeper: `in_use` tells the ids that have
    /// sockets here (which must stay resolvable). Nothing by default.
    fn sweep(&self, in_use: &dyn Fn(SessionId) -> bool) {
        let _ = in_use;
    }

    /// Called once with the engine built on this identity, for an identity whose host
    /// side calls back into it (tower-sessions' store tells the engine about the sessions
    /// the app deletes). Nothing by default.
    fn attach(&self, engine: Arc<dyn EngineLink>) {
        let _ = engine;
    }
}

/// What an [`Identity`] may ask of the engine built on it (which it must not keep alive).
pub trait EngineLink: Send + Sync + 'static {
    /// [`SessionIo::disconnect_if_gone`](crate::SessionIo::disconnect_if_gone): the host's
    /// system deleted session `id`; its sockets go, on every node. `Ok(0)` once the engine
    /// is gone.
    fn disconnect_if_gone(&self, id: SessionId) -> BoxFuture<'_, Result<usize>>;

    /// [`SessionIo::index_login`](crate::SessionIo::index_login): the host's system saved
    /// session `id` logged in; the engine puts it in its user index. Nothing by default.
    fn index_login(&self, id: SessionId) -> BoxFuture<'_, Result<()>> {
        let _ = id;
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Which cookie a request with several cookies of the session cookie's name is judged by
/// (a browser sends one per path or domain that set one, in an order the server cannot
/// choose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieChoice {
    /// The first validly signed one among the first few: the engine reads its own cookie,
    /// by this same rule, at the handshake and in its HTTP middlewares.
    FirstValid,
    /// The first one, valid or not: the host's session system reads only that one, so the
    /// engine judges the very cookie the host will use (a valid one after it must not let
    /// a request through that the host then reads with the first).
    First,
    /// The last one, valid or not, for the same reason: the host's system keeps the last
    /// of a repeated name (tower-cookies' jar does).
    Last,
}

/// sessionio's own sessions: cookies signed with the engine's secrets (HMAC-SHA256,
/// rotation), ids in their canonical text form, sessions created by the engine in `store`.
pub struct NativeIdentity {
    signer: Signer,
    store: Arc<dyn SessionStore>,
}

impl NativeIdentity {
    /// Cookies signed by `signer`, sessions in `store`.
    pub fn new(signer: Signer, store: Arc<dyn SessionStore>) -> Self {
        NativeIdentity { signer, store }
    }
}

impl std::fmt::Debug for NativeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeIdentity").finish_non_exhaustive()
    }
}

impl Identity for NativeIdentity {
    fn verify_cookie(&self, value: &str) -> Option<SessionId> {
        self.signer.verify_cookie(value)
    }

    fn sign_cookie(&self, id: SessionId) -> Option<String> {
        Some(self.signer.sign_cookie(&id))
    }

    fn creates_sessions(&self) -> bool {
        true
    }

    fn store(&self) -> Arc<dyn SessionStore> {
        self.store.clone()
    }
}

/// Parses a session id from its canonical text form (22 base64url characters).
pub fn parse_session_id(text: &str) -> Result<SessionId> {
    let id: SessionId = text.parse().map_err(|_| Error::InvalidSessionId)?;
    if id.to_string() != text {
        return Err(Error::InvalidSessionId);
    }
    Ok(id)
}
