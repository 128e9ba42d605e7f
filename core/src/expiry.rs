//! Expiry: one timer per session with sockets here, and the sweeper of expired records.
//!
//! The timer sleeps until the session's expiry instant and only then reads the store
//! once: if HTTP activity moved the instant, it sleeps again; if not, the sockets are told
//! `"session expired"` and disconnected. No socket ever polls the store.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::engine::{Core, NotLive, Reach};
use crate::store::now_ms;
use crate::SessionId;

/// Retry delay when the store cannot be read at a deadline.
const STORE_RETRY: Duration = Duration::from_millis(500);

/// How long records stay after their expiry before the sweeper deletes them, so that
/// their cookies are told `session expired` rather than `invalid session`.
const KEEP_EXPIRED_MS: u64 = 60_000;

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
                let event = expired.then_some("session expired");
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
