//! Which sessions have sockets here, how many, the handle of each such session's expiry
//! timer (the timer itself is in `expiry`), and the ids just destroyed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::error::Refusal;
use crate::SessionId;

/// How long a destroyed or expired id is remembered, to refuse handshakes that loaded
/// the record just before it went away.
const TOMBSTONE_TTL: Duration = Duration::from_secs(30);

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
    /// Counts a new socket for `id` (refusing past `cap`) and, for the session's first
    /// socket here, starts its expiry timer with `start_timer`.
    pub(crate) fn admit(
        self: &Arc<Self>,
        id: SessionId,
        cap: usize,
        start_timer: impl FnOnce() -> AbortHandle,
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
            entry.watcher = Some(start_timer());
        }
        Ok(Membership {
            id,
            presence: Arc::downgrade(self),
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
    pub(crate) fn detach_watcher(&self, id: SessionId) {
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
    presence: Weak<Presence>,
    released: AtomicBool,
}

impl Membership {
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            if let Some(presence) = self.presence.upgrade() {
                presence.release(self.id);
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.release();
    }
}
