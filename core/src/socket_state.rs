//! The state kept in a socket's extensions from its admission on, and the session it was
//! admitted to: read by the socket handle, the event dispatch and the engine's fan-out
//! (which imports nothing that imports it back).

use std::sync::Arc;
use std::time::SystemTime;

use crate::adapter::SocketRef;
use crate::presence::Membership;
use crate::SessionId;

/// Per-socket state kept in the socket's extensions from its admission on.
pub(crate) struct SocketState {
    /// Its place in its session's count; `None` for an anonymous socket.
    pub(crate) membership: Option<Membership>,
    pub(crate) auth: serde_json::Value,
    pub(crate) time: SystemTime,
}

/// The session of an admitted socket, `None` for an anonymous one (or one not admitted).
pub(crate) fn session_id_of(socket: &SocketRef) -> Option<SessionId> {
    let state = socket.extensions.get::<Arc<SocketState>>()?;
    state.membership.as_ref().map(|m| m.id)
}
