//! How a message reaches one socket of this node without being lost quietly.
//!
//! socketioxide fails an emit when the socket's outgoing queue (`max_buffer_size`
//! packets) is full. A message then waits for room, up to [`ROOM_WAIT`]: a client that
//! reads slowly still gets everything, in order, and the sender is slowed down
//! (back-pressure). A client that takes nothing for that long has fallen behind: the
//! message is counted as dropped, the socket is marked [`Behind`], later
//! messages to it are dropped at once (and counted), and the server disconnects it as soon
//! as its queue has room for the DISCONNECT packet — after the messages it already has —
//! so that its client reconnects and reads the current state again. A client that reads
//! nothing at all is cut sooner by the heartbeat and the connection's stall timeout.

use std::time::Duration;

use serde::Serialize;
use socketioxide::{SendError, SocketError};

use crate::adapter::SocketRef;

/// How long a message waits for room in one socket's full queue.
pub(crate) const ROOM_WAIT: Duration = Duration::from_secs(1);

/// The longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// Marks, in a socket's extensions, a socket that fell behind: it is being disconnected,
/// and messages to it are dropped (and counted) at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Behind;

/// What became of a message to one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued for the socket.
    Sent,
    /// Not queued: the socket has fallen behind (and is being disconnected) or is closed.
    Dropped,
}

/// Queues `event` for each of `sockets` (see the module docs); answers how many were
/// sent and how many dropped. The common case, room in every queue, takes one pass with
/// no waiting; only the sockets whose queue was full wait, together.
pub(crate) async fn deliver_all(
    sockets: &[SocketRef],
    event: &str,
    data: &(impl Serialize + ?Sized),
) -> (usize, usize) {
    let (mut sent, mut dropped) = (0, 0);
    let mut full = Vec::new();
    for socket in sockets {
        // A socket already behind may take this one if its queue has room: harmless, it is
        // being disconnected anyway.
        match socket.emit(event, data) {
            Ok(()) => sent += 1,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => full.push(socket),
            Err(e) => {
                tracing::debug!(error = %e, socket = %socket.id, "emit failed");
                dropped += 1;
            }
        }
    }
    if !full.is_empty() {
        let waited =
            futures_util::future::join_all(full.into_iter().map(|s| deliver(s, event, data))).await;
        for outcome in waited {
            match outcome {
                Delivery::Sent => sent += 1,
                Delivery::Dropped => dropped += 1,
            }
        }
    }
    (sent, dropped)
}

/// Queues `event` for `socket`, waiting up to [`ROOM_WAIT`] for room; see the module docs.
pub(crate) async fn deliver(
    socket: &SocketRef,
    event: &str,
    data: &(impl Serialize + ?Sized),
) -> Delivery {
    if socket.extensions.get::<Behind>().is_some() {
        return Delivery::Dropped;
    }
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match socket.emit(event, data) {
            Ok(()) => return Delivery::Sent,
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                if started.elapsed() >= ROOM_WAIT {
                    fell_behind(socket);
                    return Delivery::Dropped;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(e) => {
                tracing::debug!(error = %e, socket = %socket.id, "emit failed");
                return Delivery::Dropped;
            }
        }
    }
}

/// Marks `socket` as behind (once) and disconnects it as soon as its queue takes the
/// DISCONNECT packet, or until it closes by itself.
pub(crate) fn fell_behind(socket: &SocketRef) {
    if socket.extensions.insert(Behind).is_some() {
        return;
    }
    tracing::warn!(
        socket = %socket.id,
        "a socket's outgoing queue stayed full for {ROOM_WAIT:?}: it is disconnected so that its client resynchronises"
    );
    let socket = socket.clone();
    tokio::spawn(async move {
        while socket.connected() {
            match socket.clone().disconnect() {
                Err(SocketError::InternalChannelFull) => tokio::time::sleep(MAX_PAUSE).await,
                Ok(()) | Err(_) => return,
            }
        }
    });
}
