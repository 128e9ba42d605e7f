//! Which sessions have sockets here, how many, the handle of each such session's expiry
//! timer (the timer itself is in `expiry`), and the ids just destroyed.

use std::collections::{HashMap, VecDeque};
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
    tombstones: Mutex<Tombstones>,
}

/// The ids destroyed in the last [`TOMBSTONE_TTL`]: a map for the lookup, and the same
/// ids in the order they were buried, so that the expired ones are dropped from the front
/// — O(1) amortised per insert and lookup, however many there are (this lock is taken by
/// every HTTP request and handshake).
#[derive(Default)]
struct Tombstones {
    /// Each id and when it was last buried.
    at: HashMap<SessionId, Instant>,
    /// (when, id) in burial order; an id buried again has a stale earlier entry too.
    order: VecDeque<(Instant, SessionId)>,
}

impl Tombstones {
    fn insert(&mut self, id: SessionId, now: Instant) {
        self.prune(now);
        self.at.insert(id, now);
        self.order.push_back((now, id));
    }

    fn contains(&self, id: SessionId, now: Instant) -> bool {
        self.at
            .get(&id)
            .is_some_and(|at| now.saturating_duration_since(*at) < TOMBSTONE_TTL)
    }

    /// Drops the entries older than [`TOMBSTONE_TTL`], oldest first.
    fn prune(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.order.front() {
            if now.saturating_duration_since(at) < TOMBSTONE_TTL {
                break;
            }
            self.order.pop_front();
            // A stale entry of an id buried again later leaves the newer burial alone.
            if self.at.get(&id) == Some(&at) {
                self.at.remove(&id);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.at.len()
    }
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
        // Checked before an entry is made: with the other processes' sockets counted, the
        // cap left here may be 0, and a refused first socket must leave nothing behind.
        if entries.get(&id).map_or(0, |e| e.sockets) >= cap {
            return Err(Refusal::TooManyConnections);
        }
        let entry = entries.entry(id).or_insert(Entry {
            sockets: 0,
            watcher: None,
        });
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
        lock(&self.tombstones).insert(id, Instant::now());
    }

    /// Whether `id` was destroyed here in the last [`TOMBSTONE_TTL`].
    pub(crate) fn is_tombstoned(&self, id: SessionId) -> bool {
        lock(&self.tombstones).contains(id, Instant::now())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_are_pruned_from_the_front_once_older_than_the_ttl() {
        let t0 = Instant::now();
        let (old, newer, reburied) = (
            SessionId::default(),
            SessionId::default(),
            SessionId::default(),
        );
        let mut t = Tombstones::default();
        t.insert(old, t0);
        t.insert(reburied, t0);
        t.insert(newer, t0 + Duration::from_secs(10));
        // Buried again later: its first entry must not unbury it when pruned.
        t.insert(reburied, t0 + Duration::from_secs(20));
        assert!(t.contains(old, t0 + TOMBSTONE_TTL - Duration::from_millis(1)));
        assert!(!t.contains(old, t0 + TOMBSTONE_TTL));

        // The next insert past the TTL drops what expired, and only that.
        let later = t0 + TOMBSTONE_TTL + Duration::from_secs(1);
        t.insert(SessionId::default(), later);
        assert_eq!(
            t.len(),
            3,
            "old is gone; newer, reburied and the new one stay"
        );
        assert_eq!(t.order.len(), 3);
        assert!(t.contains(newer, later) && t.contains(reburied, later));
        assert!(!t.contains(old, later));

        // Far later, everything but the last burial is pruned: memory follows the rate of
        // destroys over one TTL, not their total.
        let much_later = t0 + 10 * TOMBSTONE_TTL;
        let last = SessionId::default();
        t.insert(last, much_later);
        assert_eq!((t.len(), t.order.len()), (1, 1));
        assert!(t.contains(last, much_later));
    }

    /// Finding 6: past 1024 live tombstones every insert scanned the whole map under the
    /// lock every request takes. 20 000 inserts took seconds; now they take milliseconds
    /// (the bound is generous for a busy machine and a debug build).
    #[test]
    fn finding_6_tombstone_insert_and_lookup_stay_cheap_with_many_live_tombstones() {
        let presence = Presence::default();
        let ids: Vec<SessionId> = (0..20_000).map(|_| SessionId::default()).collect();
        let started = Instant::now();
        for id in &ids {
            presence.tombstone(*id);
            assert!(presence.is_tombstoned(*id));
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "20 000 tombstones took {took:?}: insert is not O(1)"
        );
        assert!(ids.iter().all(|id| presence.is_tombstoned(*id)));
    }
}
