//! What happens when a socket connects to a namespace: the connect middleware admits it
//! (Origin, cookie or token, store, the per-session cap), joins it to its session's room
//! and gives it its handlers before socketioxide answers the CONNECT; then the
//! on-connection callbacks run.

use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

use socketioxide::extract::TryData;
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::adapter::{self, SocketRef};
use crate::admission::Admitted;
use crate::engine::{Core, NotLive};
use crate::error::Refusal;
use crate::pending_handshakes::PendingTicket;
use crate::socket_state::{session_id_of, SocketState};
use crate::{expiry, handler, rooms, users, SessionId};

/// Registers every configured namespace with its connect middleware.
pub(crate) fn install_namespaces(core: &Arc<Core>) {
    for ns in &core.config.transport.namespaces {
        let (on_connect_core, admit_core) = (Arc::downgrade(core), Arc::downgrade(core));
        let on_connect = move |socket: SocketRef| {
            let core = on_connect_core.clone();
            async move { on_connect(core, socket).await }
        };
        let middleware = move |socket: SocketRef,
                               TryData(auth): TryData<
            Option<serde_json::Map<String, serde_json::Value>>,
        >| {
            let core = admit_core.clone();
            async move {
                use tracing::Instrument as _;
                let metrics = core.upgrade().map(|c| c.metrics.clone());
                let span = tracing::debug_span!("sessionio.handshake", socket = %socket.id);
                let outcome = match auth {
                    Ok(auth) => {
                        let auth = auth.map(serde_json::Value::Object);
                        admit(core.clone(), socket.clone(), auth)
                            .instrument(span)
                            .await
                    }
                    Err(_) => Err(Refusal::InvalidAuth),
                };
                if let (Ok(()), Some(core)) = (&outcome, core.upgrade()) {
                    attach(&core, &socket);
                }
                if outcome.is_ok() {
                    // Connected: the Engine.IO session is no longer pending.
                    if let Some(ticket) = socket.req_parts().extensions.get::<PendingTicket>() {
                        ticket.connected();
                    }
                }
                if let Err(refusal) = outcome {
                    tracing::debug!(%refusal, "handshake refused");
                }
                if let Some(m) = metrics {
                    match outcome {
                        Ok(()) => m.accepted(),
                        Err(refusal) => m.refused(refusal),
                    }
                }
                outcome
            }
        };
        // Without the `redis` feature the namespace initialisation is `()`.
        #[cfg_attr(not(feature = "redis"), allow(clippy::unit_arg))]
        adapter::init_namespace(core.io.ns(ns.clone(), on_connect.with(middleware)));
    }
}

/// The connect middleware: the handshake check, then the per-session cap and the
/// session's room. Its `Err` becomes the client's `connect_error` message.
async fn admit(
    core: Weak<Core>,
    socket: SocketRef,
    auth: Option<serde_json::Value>,
) -> Result<(), Refusal> {
    let core = core.upgrade().ok_or(Refusal::StoreUnavailable)?;
    core.start_background();
    let auth = auth.unwrap_or(serde_json::Value::Null);
    let admitted = core
        .check_handshake(&socket.req_parts().headers, &auth)
        .await?;
    let token_expires_at = admitted.as_ref().and_then(|a| a.token_expires_at);
    let mut user_id = None;
    let membership = match admitted {
        None => None,
        Some(Admitted {
            id,
            expires_at,
            login,
            ..
        }) => {
            // The cap is the session's, not this process's: the other processes' sockets
            // of it (one adapter round trip when linked) take places too. Handshakes
            // racing on several processes may pass it by their number.
            let cap = (core.config.max_connections_per_session)
                .saturating_sub(core.remote_sockets(id).await);
            let m = core
                .presence
                .admit(id, cap, || expiry::start_timer(&core, id, expires_at))?;
            join_with_share(&core, &socket, rooms::session_room(id));
            if let Some(login) = login {
                join_with_share(&core, &socket, rooms::user_room(&login.user_id));
                user_id = Some(Arc::from(login.user_id.as_str()));
                users::note_client(&core, id, &login, &socket);
            }
            Some(m)
        }
    };
    socket.extensions.insert(Arc::new(SocketState {
        membership,
        user_id,
        auth,
        time: SystemTime::now(),
        token_expires_at,
        token_timer: OnceLock::new(),
    }));
    Ok(())
}

/// Puts the socket in one of the engine's rooms and, with other nodes linked, in this
/// node's share of it (see [`rooms::node_share`]).
fn join_with_share(core: &Core, socket: &SocketRef, room: String) {
    if let Some(here) = core.node_share(&room) {
        socket.join(here);
    }
    socket.join(room);
}

/// Gives an accepted socket its disconnect and event handlers. This runs in the connect
/// middleware, before socketioxide sends the CONNECT answer: the connect handler is a
/// task spawned after that answer, so an event the client sends at once could otherwise
/// arrive before its handler exists and be dropped.
fn attach(core: &Arc<Core>, socket: &SocketRef) {
    socket.on_disconnect(|socket: SocketRef, _reason: DisconnectReason| async move {
        if let Some(state) = socket.extensions.get::<Arc<SocketState>>() {
            state.release();
        }
    });
    handler::attach_dispatch(core, socket);
}

async fn on_connect(core: Weak<Core>, socket: SocketRef) {
    let Some(core) = core.upgrade() else { return };
    if let Some(id) = session_id_of(&socket) {
        if destroyed_meanwhile(&core, id).await {
            let _ = socket.disconnect();
            return;
        }
    }
    // Started here, not in the middleware: socketioxide puts the socket in its namespace
    // only after the middleware, and a timer due before that would not find it. A socket
    // that already left stops it (its state's release or drop).
    if let Some(state) = socket.extensions.get::<Arc<SocketState>>() {
        if let Some(at) = state.token_expires_at {
            let _ = (state.token_timer).set(expiry::start_token_timer(&core, &socket, at));
        }
    }
    handler::run_on_connection(&core, &socket).await;
}

/// Whether a destroy raced this handshake: the handshake read the record just before
/// the delete, and the destroy's kick ran before the socket was in its session's room.
///
/// A destroy on this node tombstoned the id first. One on another node deleted the record
/// and then broadcast its kick, which reaches only the sockets already in the room: this
/// socket is in it now (it joined in the connect middleware), so the store is read once
/// more. A delete before this read is seen here; a delete after it is followed by a kick
/// that finds the socket. One store read per handshake, only with other nodes linked.
async fn destroyed_meanwhile(core: &Core, id: SessionId) -> bool {
    if core.presence.is_tombstoned(id) {
        return true;
    }
    if !core.is_linked() {
        return false;
    }
    // An expired session is its expiry timer's to kick (it tells the client why). A store
    // that cannot be read just after it admitted the socket (Redis coming back) proves
    // nothing: the socket stays, as sockets stay through an outage.
    matches!(core.live_record(id).await, Err(NotLive::Missing))
}
