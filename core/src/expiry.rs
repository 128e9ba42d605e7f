//! Expiry: one timer per session with sockets here, one per token-admitted socket, and
//! the sweeper of expired records.
//!
//! The session timer sleeps until the session's expiry instant and only then reads the
//! store once: if HTTP activity moved the instant, it sleeps again; if not, the sockets
//! are told [`SESSION_EXPIRED_EVENT`] and disconnected. No socket ever polls the store.
//! A socket admitted by an `auth.token` is told the same at its token's expiry and
//! disconnected, whatever the session's own expiry: a token is not a way to stay in.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::adapter::SocketRef;
use crate::engine::{Core, NotLive, Reach};
use crate::store::now_ms;
use crate::SessionId;

/// Retry delay when the store cannot be read at a deadline.
const STORE_RETRY: Duration = Duration::from_millis(500);

/// How long records stay after their expiry before the sweeper deletes them, so that
/// their cookies are told `session expired` rather than `invalid session`.
const KEEP_EXPIRED_MS: u64 = 60_000;

/// The event a socket is told before it is disconnected because its session, or the token
/// it connected with, expired (no argument).
pub(crate) const SESSION_EXPIRED_EVENT: &str = "session expired";

/// Starts the timer of a socket admitted by a token that expires at `token_expires_at`
/// (unix ms): then the socket is told [`SESSION_EXPIRED_EVENT`] and disconnected. The
/// timer holds no reference to the socket (it finds it by id), so the socket's state can
/// hold the timer's handle without a cycle.
pub(crate) fn start_token_timer(
    core: &Arc<Core>,
    socket: &SocketRef,
    token_expires_at: u64,
) -> AbortHandle {
    let (core, namespace, sid) = (Arc::downgrade(core), socket.ns().to_owned(), socket.id);
    tokio::spawn(async move {
        tokio::time::sleep_until(instant_at(token_expires_at)).await;
        let Some(core) = core.upgrade() else { return };
        let Some(socket) = core.io.of(&namespace).and_then(|op| op.get_socket(sid)) else {
            return;
        };
        if let Err(e) = socket.emit(SESSION_EXPIRED_EVENT, &()) {
            tracing::debug!(error = %e, "token expiry: emit failed");
        }
        let _ = socket.disconnect();
    })
    .abort_handle()
}

/// Starts the expiry timer of session `id`, due at `expires_at` (unix ms).
pub(crate) fn start_timer(core: &Arc<Core>, id: SessionId, expires_at: u64) -> AbortHandle {
    tokio::spawn(watch(Arc::downgrade(core), id, expires_at)).abort_handle()
}

fn instant_at(unix_ms: u64) -> tokio::time::Instant {
    let now = now_ms();
    tokio::time::Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now))
}

async fn watch(core: Weak<Core>, id: SessionId, mut deadline: u64) {
    loop {
        tokio::time::sleep_until(instant_at(deadline)).await;
        let Some(core) = core.upgrade() else { return };
        match core.live_record(id).await {
            Ok(record) => deadline = record.expires_at,
            Err(NotLive::Unavailable(e)) => {
                tracing::warn!(error = %e, "session store unreadable at a session's expiry; retrying");
                deadline = now_ms() + STORE_RETRY.as_millis() as u64;
            }
            Err(gone) => {
                core.presence.detach_watcher(id);
                // Expired: tell the sockets why. Vanished (destroyed elsewhere): just go.
                let expired = matches!(gone, NotLive::Expired);
                let event = expired.then_some(SESSION_EXPIRED_EVENT);
                let kicked = core.kick(id, event, Reach::ThisNode).await;
                if expired {
                    core.metrics.expired(kicked);
                }
                return;
            }
        }
    }
}

/// Spawns the sweeper: it deletes records expired more than a minute ago, and runs the
/// identity's housekeeping (express-session's mode forgets the ids no socket uses). It stops with the engine.
pub(crate) fn spawn_sweeper(core: &Arc<Core>) {
    let period = core
        .config
        .ttl
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    let core = Arc::downgrade(core);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let Some(core) = core.upgrade() else { return };
            let before = now_ms().saturating_sub(KEEP_EXPIRED_MS);
            // Stores that drop expired records themselves (Redis TTLs, express-session's
            // stores) offer no sweeper.
            if let Some(sweep) = core.store.sweeper() {
                if let Err(e) = sweep.delete_expired(before).await {
                    tracing::warn!(error = %e, "sweeping expired sessions failed");
                }
            }
            core.config
                .identity
                .sweep(&|id| core.presence.count(id) > 0);
        }
    });
}
