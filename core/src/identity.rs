//! Session ids as the host knows them: sessionio's own ids, or in express-session mode
//! express-session's `req.session.id`.

use crate::engine::SessionIo;
use crate::error::{Error, Result};
use crate::SessionId;

impl SessionIo {
    /// The engine's id for a session id as the host knows it: a sessionio id, or in
    /// express-session mode ([`Builder::express_session`](crate::Builder::express_session))
    /// express-session's `req.session.id`. Bindings take ids as strings through this.
    ///
    /// ```
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let id = sessionio::SessionId::default();
    /// assert_eq!(io.resolve_id(&id.to_string()).unwrap(), id);
    /// assert!(io.resolve_id("nope").is_err());
    /// ```
    pub fn resolve_id(&self, id: &str) -> Result<SessionId> {
        match &self.0.config.express {
            Some(express) => express.resolve(id),
            None => id.parse().map_err(|_| Error::InvalidSessionId),
        }
    }

    /// The id of `id` as the host knows it: the inverse of [`resolve_id`](Self::resolve_id).
    pub fn host_id(&self, id: SessionId) -> String {
        self.0.host_id(id)
    }

    /// Parses a session id from its text form.
    pub fn parse_session_id(text: &str) -> Result<SessionId> {
        let id: SessionId = text.parse().map_err(|_| Error::InvalidSessionId)?;
        if id.to_string() != text {
            return Err(Error::InvalidSessionId);
        }
        Ok(id)
    }
}
