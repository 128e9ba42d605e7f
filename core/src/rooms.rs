//! The engine's own rooms — each session's, each user's, and with other nodes linked this
//! node's share of those — named under [`RESERVED_ROOM_PREFIX`], which the host's room
//! calls refuse: no socket can join a session's room by naming it, so a session's
//! notifications and its destroy reach only the sockets admitted to it.

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

/// A fresh random name for this process, the prefix of its [`node_share`]s.
pub(crate) fn node_tag() -> String {
    format!("{RESERVED_ROOM_PREFIX}node:{}", SessionId::default())
}

/// The room of `room`'s sockets on the node tagged `node_tag` (which no other node uses):
/// a broadcast to `room` that excepts it skips this node's sockets and only them. Per
/// room rather than one room of every socket of the node, because an adapter resolves an
/// `except` by collecting the excepted room's sockets: that is then a session's few
/// sockets instead of all of the node's (at 17 600 sockets a node, the collection was
/// most of a notification's CPU).
pub(crate) fn node_share(node_tag: &str, room: &str) -> String {
    format!("{node_tag}/{room}")
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
        assert!(is_reserved(&session_room(id)) && is_reserved(&node_tag()));
        let share = node_share(&node_tag(), &session_room(id));
        assert!(is_reserved(&share));
        assert_ne!(
            share,
            node_share(&node_tag(), &session_room(id)),
            "one tag per node"
        );
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
