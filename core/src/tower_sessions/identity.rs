//! tower-sessions' sessions through the [identity seam](crate::identity): its cookie, its
//! ids, the app's store.

use std::sync::Arc;

use cookie::{Cookie, CookieJar};
use percent_encoding::percent_decode_str;

use super::record::TowerStore;
use super::settings::{CookieCodec, TowerSessions};
use crate::identity::{CookieChoice, EngineLink, Identity};
use crate::store::SessionStore;
use crate::SessionId;

pub(crate) struct TowerIdentity {
    cookie_name: String,
    codec: CookieCodec,
    store: Arc<TowerStore>,
}

impl TowerIdentity {
    pub(crate) fn new(settings: TowerSessions) -> Self {
        TowerIdentity {
            store: Arc::new(TowerStore {
                backend: settings.backend,
                shared: settings.shared,
                expiry: settings.expiry,
            }),
            cookie_name: settings.cookie_name,
            codec: settings.codec,
        }
    }
}

impl Identity for TowerIdentity {
    /// As tower-sessions reads it: the value percent-decoded (tower-cookies parses with
    /// `Cookie::parse_encoded`), then checked by the app's cookie controller, then parsed
    /// as an `Id`.
    fn verify_cookie(&self, value: &str) -> Option<SessionId> {
        let value = percent_decode_str(value).decode_utf8().ok()?.into_owned();
        let cookie = Cookie::new(self.cookie_name.clone(), value);
        let id = match &self.codec {
            CookieCodec::Plain => cookie,
            CookieCodec::Signed(key) => CookieJar::new().signed(key).verify(cookie)?,
            CookieCodec::Private(key) => CookieJar::new().private(key).decrypt(cookie)?,
        };
        id.value().parse().ok()
    }

    fn sign_cookie(&self, _id: SessionId) -> Option<String> {
        None
    }

    /// tower-cookies keeps the last cookie of a repeated name.
    fn cookie_choice(&self) -> CookieChoice {
        CookieChoice::Last
    }

    fn creates_sessions(&self) -> bool {
        false
    }

    fn store(&self) -> Arc<dyn SessionStore> {
        self.store.clone()
    }

    fn sweep(&self, in_use: &dyn Fn(SessionId) -> bool) {
        self.store.shared.forget_unused(in_use);
    }

    fn attach(&self, engine: Arc<dyn EngineLink>) {
        self.store.shared.attach(engine);
    }
}
