//! The app's tower-sessions settings as the engine is given them.

use std::sync::Arc;

use super::record::{ExpiryRule, Shared, TowerBackend};

/// tower-sessions' default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "id";

/// How the app's `SessionManagerLayer` writes its cookie: give the engine the same.
#[derive(Clone)]
pub(crate) enum CookieCodec {
    /// `SessionManagerLayer::new(store)`: the id itself.
    Plain,
    /// `.with_signed(key)`.
    Signed(cookie::Key),
    /// `.with_private(key)`.
    Private(cookie::Key),
}

/// The app's tower-sessions setup as the engine adopts it, given to
/// [`Builder::tower_sessions`](crate::Builder::tower_sessions); made by a version's
/// `adopt` (`v0_14::adopt`, `v0_15::adopt`). Give it the settings of the app's
/// `SessionManagerLayer`: the cookie name, the key, the expiry.
#[derive(Clone)]
pub struct TowerSessions {
    pub(crate) cookie_name: String,
    pub(crate) codec: CookieCodec,
    pub(crate) expiry: ExpiryRule,
    pub(crate) backend: Arc<dyn TowerBackend>,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for TowerSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codec = match self.codec {
            CookieCodec::Plain => "plain",
            CookieCodec::Signed(_) => "signed",
            CookieCodec::Private(_) => "private",
        };
        f.debug_struct("TowerSessions")
            .field("cookie_name", &self.cookie_name)
            .field("cookie", &codec)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl TowerSessions {
    pub(crate) fn new(backend: Arc<dyn TowerBackend>, shared: Arc<Shared>) -> Self {
        TowerSessions {
            cookie_name: DEFAULT_COOKIE_NAME.into(),
            codec: CookieCodec::Plain,
            expiry: ExpiryRule::OnSessionEnd,
            backend,
            shared,
        }
    }

    /// `SessionManagerLayer::with_name` (default `id`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// `SessionManagerLayer::with_signed(key)`: the same key.
    pub fn with_signed(mut self, key: cookie::Key) -> Self {
        self.codec = CookieCodec::Signed(key);
        self
    }

    /// `SessionManagerLayer::with_private(key)`: the same key.
    pub fn with_private(mut self, key: cookie::Key) -> Self {
        self.codec = CookieCodec::Private(key);
        self
    }

    /// `SessionManagerLayer::with_expiry(expiry)`: how socket activity moves a session's
    /// expiry (as a request that saves it would). tower-sessions' `Expiry` of the
    /// version adopted.
    pub fn with_expiry(mut self, expiry: impl Into<ExpiryRule>) -> Self {
        self.expiry = expiry.into();
        self
    }

    /// The secrets of the engine's tokens (`issue_token`, `auth.token`) when the engine
    /// is given none: one derived from the cookie key's signing half (never that key
    /// itself), so that every process with the app's key verifies every other's tokens.
    /// `None` for plain cookies (no key): the engine then needs a secret of its own.
    pub(crate) fn token_secrets(&self) -> Option<Vec<Vec<u8>>> {
        let key = match &self.codec {
            CookieCodec::Plain => return None,
            CookieCodec::Signed(key) | CookieCodec::Private(key) => key,
        };
        Some(vec![crate::cookie::derived_key(
            key.signing(),
            b"sessionio/tower-sessions mode: token key",
        )])
    }
}
