//! Per-session locks that an HTTP request can hold until its response is written.
//!
//! A session system that loads a whole record at a request's first read and saves it
//! whole at the response (tower-sessions) loses the writes made in between by anyone
//! else. Its store, wrapped by the engine, takes the session's lock at that first read
//! and leaves it in the request's [scope](request_scope), which the engine's HTTP layer
//! opens around the app: the lock is released after the response has saved the record.
//! The engine's own writes to that session (socket handlers, `session(id)` calls) take
//! the same lock, except inside the request that already holds it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::SessionId;

tokio::task_local! {
    /// The locks the current request holds, released when its scope ends.
    static HELD: RefCell<Vec<SessionGuard>>;
}

/// Runs `request` (an app's handling of one HTTP request, response included) in a scope
/// where [`SessionLocks::hold_for_request`] can leave locks until it ends.
pub(crate) async fn request_scope<F: Future>(request: F) -> F::Output {
    HELD.scope(RefCell::new(Vec::new()), request).await
}

/// One lock per session id, made on first use and dropped when nobody holds or waits
/// for it.
#[derive(Default)]
pub(crate) struct SessionLocks {
    locks: Mutex<HashMap<SessionId, Arc<AsyncMutex<()>>>>,
}

impl std::fmt::Debug for SessionLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLocks").finish_non_exhaustive()
    }
}

/// A held session lock; dropping it releases the lock.
pub(crate) struct SessionGuard {
    locks: Arc<SessionLocks>,
    id: SessionId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.map();
        // Only the map holds it: nobody waits, forget it.
        if locks
            .get(&self.id)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            locks.remove(&self.id);
        }
    }
}

/// Whether the request running on this task holds `id`'s lock of `locks`.
fn held_here(locks: &Arc<SessionLocks>, id: SessionId) -> bool {
    HELD.try_with(|held| {
        held.borrow()
            .iter()
            .any(|g| g.id == id && Arc::ptr_eq(&g.locks, locks))
    })
    .unwrap_or(false)
}

/// Whether the current task runs inside a [`request_scope`].
pub(crate) fn in_request() -> bool {
    HELD.try_with(|_| ()).is_ok()
}

impl SessionLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Arc<AsyncMutex<()>>>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for `id`'s lock; `None` when the request running on this task already holds
    /// it (its own writes go through).
    pub(crate) async fn lock(self: &Arc<Self>, id: SessionId) -> Option<SessionGuard> {
        if held_here(self, id) {
            return None;
        }
        let lock = self.map().entry(id).or_default().clone();
        let guard = lock.lock_owned().await;
        Some(SessionGuard {
            locks: self.clone(),
            id,
            guard: Some(guard),
        })
    }

    /// Takes `id`'s lock until the current request's scope ends. `false` outside a
    /// request scope (nothing is held then).
    pub(crate) async fn hold_for_request(self: &Arc<Self>, id: SessionId) -> bool {
        if !in_request() {
            return false;
        }
        if let Some(guard) = self.lock(id).await {
            // In scope: checked above, and a task's scope cannot end under its own await.
            let _ = HELD.try_with(|held| held.borrow_mut().push(guard));
        }
        true
    }

    /// How many sessions have a lock right now (held or waited for).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_holds_its_lock_until_its_scope_ends_and_its_own_writes_pass() {
        let locks = Arc::new(SessionLocks::default());
        let id = SessionId::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let request = tokio::spawn({
            let locks = locks.clone();
            request_scope(async move {
                assert!(locks.hold_for_request(id).await);
                // Held here: the request's own engine writes do not wait.
                assert!(locks.lock(id).await.is_none());
                rx.await.unwrap();
            })
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Another task waits while the request is in flight ...
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(id).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a write got in during the request");
        // ... and gets the lock once the request's scope ends.
        tx.send(()).unwrap();
        request.await.unwrap();
        assert_eq!(waiting.await.unwrap(), Some(()));
        assert_eq!(locks.len(), 0, "an unused lock is forgotten");
    }

    #[tokio::test]
    async fn outside_a_request_scope_nothing_is_held() {
        let locks = Arc::new(SessionLocks::default());
        let id = SessionId::default();
        assert!(!locks.hold_for_request(id).await);
        let guard = locks.lock(id).await;
        assert!(guard.is_some());
        assert_eq!(locks.len(), 1);
        drop(guard);
        assert_eq!(locks.len(), 0);
    }
}
