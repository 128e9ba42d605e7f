//! Which sessions have sockets here, how many, and one expiry timer per such session.
//!
//! The timer sleeps until the session's expiry instant and only then reads the store
//! once: if HTTP activity moved the instant, it sleeps again; if not, the sockets are told
//! `"session expired"` and disconnected. No socket ever polls the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::store::now_ms;
use crate::{Core, Refusal, SessionId};

/// How long a destroyed or expired id is remembered, to refuse handshakes that loaded
/// the record just before it went away.
const TOMBSTONE_TTL: Duration = Duration::from_secs(30);
/// Retry delay when the store cannot be read at a deadline.
const STORE_RETRY: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(crate) struct Presence {
    entries: Mutex<HashMap<SessionId, Entry>>,
    tombstones: Mutex<HashMap<SessionId, Instant>>,
}

struct Entry {
    sockets: usize,
    watcher: Option<AbortHandle>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Presence {
    /// Counts a new socket for `id` (refusing past `cap`) and starts the session's timer
    /// if it is the first one.
    pub(crate) fn admit(
        &self,
        core: &Arc<Core>,
        id: SessionId,
        expires_at: u64,
        cap: usize,
    ) -> Result<Membership, Refusal> {
        if self.is_tombstoned(id) {
            return Err(Refusal::InvalidSession);
        }
        let mut entries = lock(&self.entries);
        let entry = entries.entry(id).or_insert(Entry {
            sockets: 0,
            watcher: None,
        });
        if entry.sockets >= cap {
            return Err(Refusal::TooManyConnections);
        }
        entry.sockets += 1;
        if entry.watcher.is_none() {
            let task = tokio::spawn(watch(Arc::downgrade(core), id, expires_at));
            entry.watcher = Some(task.abort_handle());
        }
        Ok(Membership {
            id,
            core: Arc::downgrade(core),
            released: AtomicBool::new(false),
        })
    }

    fn release(&self, id: SessionId) {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get_mut(&id) {
            entry.sockets = entry.sockets.saturating_sub(1);
            if entry.sockets == 0 {
                if let Some(w) = entries.remove(&id).and_then(|e| e.watcher) {
                    w.abort();
                }
            }
        }
    }

    /// Sockets of `id` connected here.
    pub(crate) fn count(&self, id: SessionId) -> usize {
        lock(&self.entries).get(&id).map_or(0, |e| e.sockets)
    }

    /// Sessions with sockets here, and their timers.
    pub(crate) fn sessions(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Forgets the timer of `id` without stopping it (the timer itself is about to kick
    /// the sockets, which releases them and must not abort it half-way).
    fn detach_watcher(&self, id: SessionId) {
        if let Some(e) = lock(&self.entries).get_mut(&id) {
            e.watcher = None;
        }
    }

    /// Remembers that `id` is gone so that an in-flight handshake for it is refused.
    pub(crate) fn tombstone(&self, id: SessionId) {
        let now = Instant::now();
        let mut t = lock(&self.tombstones);
        if t.len() >= 1024 {
            t.retain(|_, at| now.duration_since(*at) < TOMBSTONE_TTL);
        }
        t.insert(id, now);
    }

    pub(crate) fn is_tombstoned(&self, id: SessionId) -> bool {
        lock(&self.tombstones)
            .get(&id)
            .is_some_and(|at| at.elapsed() < TOMBSTONE_TTL)
    }
}

/// A socket's place in its session's count; released exactly once, on disconnect or,
/// failing that, when the socket is dropped.
pub(crate) struct Membership {
    pub(crate) id: SessionId,
    core: Weak<Core>,
    released: AtomicBool,
}

impl Membership {
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            if let Some(core) = self.core.upgrade() {
                core.presence.release(self.id);
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.release();
    }
}

fn instant_at(unix_ms: u64) -> tokio::time::Instant {
    let now = now_ms();
    tokio::time::Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now))
}

async fn watch(core: Weak<Core>, id: SessionId, mut deadline: u64) {
    loop {
        tokio::time::sleep_until(instant_at(deadline)).await;
        let Some(core) = core.upgrade() else { return };
        let now = now_ms();
        match core.store.load(id).await {
            Ok(Some(r)) if !r.is_expired(now) => deadline = r.expires_at,
            Ok(found) => {
                core.presence.detach_watcher(id);
                // Expired: tell the sockets why. Vanished (destroyed elsewhere): just go.
                let kicked = core
                    .kick(
                        id,
                        found.is_some().then_some("session expired"),
                        crate::Reach::ThisNode,
                    )
                    .await;
                if found.is_some() {
                    core.metrics.expired(kicked);
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "session store unreadable at a session's expiry; retrying");
                deadline = now + STORE_RETRY.as_millis() as u64;
            }
        }
    }
}
