//! The engine's own rooms — each session's, and with other nodes linked this node's —
//! named under [`RESERVED_ROOM_PREFIX`], which the host's room calls refuse: no socket can
//! join a session's room by naming it, so a session's notifications and its destroy reach
//! only the sockets admitted to it.

use crate::error::{Error, Result};
use crate::SessionId;

/// The prefix of every room the engine names. [`SocketHandle::join`] and
/// [`SocketHandle::leave`] refuse room names that start with it, and
/// [`SocketHandle::rooms`] does not list such rooms.
///
/// [`SocketHandle::join`]: crate::SocketHandle::join
/// [`SocketHandle::leave`]: crate::SocketHandle::leave
/// [`SocketHandle::rooms`]: crate::SocketHandle::rooms
pub const RESERVED_ROOM_PREFIX: &str = "sessionio:";

/// The room of a session's sockets.
pub(crate) fn session_room(id: SessionId) -> String {
    format!("{RESERVED_ROOM_PREFIX}session:{id}")
}

/// The room of the sockets of every session logged in as a user.
pub(crate) fn user_room(user_id: &str) -> String {
    format!("{RESERVED_ROOM_PREFIX}user:{user_id}")
}

/// A room of this process's own, for its session sockets (a fresh random name).
pub(crate) fn node_room() -> String {
    format!("{RESERVED_ROOM_PREFIX}node:{}", SessionId::default())
}

/// Whether `room` is one of the engine's.
pub(crate) fn is_reserved(room: &str) -> bool {
    room.starts_with(RESERVED_ROOM_PREFIX)
}

/// `room`, if the host may join or leave it; else the error that says why not.
pub(crate) fn host_room(room: &str) -> Result<&str> {
    if is_reserved(room) {
        return Err(Error::InvalidValue(format!(
            "room names starting with {RESERVED_ROOM_PREFIX:?} are reserved for the engine's own rooms: {room:?}"
        )));
    }
    Ok(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_rooms_are_reserved_and_others_are_the_hosts() {
        let id = SessionId::default();
        assert!(is_reserved(&session_room(id)) && is_reserved(&node_room()));
        assert!(is_reserved(&user_room("ada")));
        assert_ne!(user_room(&id.to_string()), session_room(id));
        // A session's raw id is an ordinary room: it is not the session's room.
        assert_ne!(session_room(id), id.to_string());
        assert_eq!(host_room(&id.to_string()).unwrap(), id.to_string());
        assert_eq!(host_room("lobby").unwrap(), "lobby");
        let err = host_room(&session_room(id)).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_VALUE");
        assert!(err.to_string().contains("reserved"), "{err}");
        assert!(host_room("sessionio:anything").is_err());
    }
}
