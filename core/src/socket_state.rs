//! The state kept in a socket's extensions from its admission on, and the session it was
//! admitted to: read by the socket handle, the event dispatch and the engine's fan-out
//! (which imports nothing that imports it back).

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use tokio::task::AbortHandle;

use crate::adapter::SocketRef;
use crate::presence::Membership;
use crate::SessionId;

/// Per-socket state kept in the socket's extensions from its admission on.
pub(crate) struct SocketState {
    /// Its place in its session's count; `None` for an anonymous socket.
    pub(crate) membership: Option<Membership>,
    /// The user its session was logged in as when it connected (logging in or out gives
    /// the session a new id and disconnects its sockets, so it stays true).
    pub(crate) user_id: Option<Arc<str>>,
    pub(crate) auth: serde_json::Value,
    pub(crate) time: SystemTime,
    /// For a socket admitted by an `auth.token`: the token's expiry (unix ms). Its events
    /// are refused from then on and never extend the session past it.
    pub(crate) token_expires_at: Option<u64>,
    /// The timer that disconnects a token-admitted socket at its token's expiry, set once
    /// the socket is in its namespace (where the timer finds it by id).
    pub(crate) token_timer: OnceLock<AbortHandle>,
}

impl SocketState {
    /// The socket left: its place in the session's count is freed and its token timer
    /// stopped (a timer of a long-lived token must not outlive a short-lived socket).
    pub(crate) fn release(&self) {
        if let Some(m) = &self.membership {
            m.release();
        }
        if let Some(timer) = self.token_timer.get() {
            timer.abort();
        }
    }
}

impl Drop for SocketState {
    fn drop(&mut self) {
        if let Some(timer) = self.token_timer.get() {
            timer.abort();
        }
    }
}

/// The session of an admitted socket, `None` for an anonymous one (or one not admitted).
pub(crate) fn session_id_of(socket: &SocketRef) -> Option<SessionId> {
    let state = socket.extensions.get::<Arc<SocketState>>()?;
    state.membership.as_ref().map(|m| m.id)
}

/// The user an admitted socket's session is logged in as.
pub(crate) fn user_id_of(socket: &SocketRef) -> Option<Arc<str>> {
    socket.extensions.get::<Arc<SocketState>>()?.user_id.clone()
}

/// The expiry (unix ms) of the token an admitted socket connected with; `None` for a
/// socket admitted by its cookie, an anonymous one, or one not admitted.
pub(crate) fn token_expires_at_of(socket: &SocketRef) -> Option<u64> {
    socket
        .extensions
        .get::<Arc<SocketState>>()?
        .token_expires_at
}
