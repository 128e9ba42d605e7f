//! The embedded in-memory store (the default).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::{BoxFuture, Mutation, Record, SessionStore, Sweep, Touch, UserIndexSize};
use crate::{Result, SessionId};

const SHARDS: usize = 16;

/// Sessions in this process's memory, sharded to keep lock contention low. Every
/// operation holds one shard's lock for a few map operations and never across an await.
///
/// The user index maps each user id to its sessions' ids. It changes only when a record
/// bound to a user is created or removed (a record's user is fixed), under the record's
/// shard lock and then the index's (always in that order).
pub struct MemoryStore {
    shards: Box<[Mutex<HashMap<SessionId, Record>>]>,
    users: Mutex<HashMap<String, HashSet<SessionId>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            users: Mutex::default(),
            hasher: Default::default(),
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are held (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// True if no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, id: &SessionId) -> &Mutex<HashMap<SessionId, Record>> {
        &self.shards[self.hasher.hash_one(id) as usize % SHARDS]
    }

    /// Drops a removed record's entry from the user index.
    fn unindex(&self, removed: &Record) {
        let Some(user) = removed.user_id() else {
            return;
        };
        let mut users = lock(&self.users);
        if let Some(ids) = users.get_mut(user) {
            ids.remove(&removed.id);
            if ids.is_empty() {
                users.remove(user);
            }
        }
    }
}

/// A poisoned shard only means a panic elsewhere while it was held; every critical section
/// here leaves the map consistent, so the data is still good.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl SessionStore for MemoryStore {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        let mut shard = lock(self.shard(&record.id));
        let created = match shard.entry(record.id) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                if let Some(user) = record.user_id() {
                    let mut users = lock(&self.users);
                    users.entry(user.to_owned()).or_default().insert(record.id);
                }
                v.insert(Record {
                    version: 0,
                    ..record
                });
                true
            }
        };
        ready(Ok(created))
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        ready(Ok(lock(self.shard(&id)).get(&id).cloned()))
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        let mut shard = lock(self.shard(&record.id));
        let swapped = match shard.get_mut(&record.id) {
            Some(stored)
                if stored.version == expected_version && stored.user_id() == record.user_id() =>
            {
                *stored = Record {
                    version: expected_version + 1,
                    ..record
                };
                true
            }
            _ => false,
        };
        ready(Ok(swapped))
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        let mut shard = lock(self.shard(&id));
        let outcome = match shard.get_mut(&id) {
            None => Touch::Missing,
            Some(r) if r.is_expired(now_ms) => Touch::Expired,
            Some(r) => {
                r.expires_at = r.expires_at.max(expires_at);
                Touch::Extended
            }
        };
        ready(Ok(outcome))
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        let mut shard = lock(self.shard(&id));
        let removed = shard.remove(&id);
        if let Some(r) = &removed {
            self.unindex(r);
        }
        ready(Ok(removed.is_some()))
    }

    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        let ids: Vec<SessionId> = lock(&self.users)
            .get(user_id)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        let records = ids
            .into_iter()
            .filter_map(|id| lock(self.shard(&id)).get(&id).cloned())
            .collect();
        ready(Ok(records))
    }

    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        let users = lock(&self.users);
        ready(Ok(UserIndexSize {
            users: users.len() as u64,
            sessions: users.values().map(|ids| ids.len() as u64).sum(),
        }))
    }

    fn keeps_user_index(&self) -> bool {
        true
    }

    /// Every record held, expired ones included until swept: one lock per shard.
    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        ready(Ok(self.len() as u64))
    }

    /// Expired records stay in memory until the engine's sweeper deletes them.
    fn sweeper(&self) -> Option<&dyn Sweep> {
        Some(self)
    }

    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        let mut shard = lock(self.shard(&id));
        let result = match shard.get_mut(&id) {
            None => Ok(None),
            Some(stored) => {
                // Mutate a copy so an aborted mutation leaves nothing half-written.
                let mut next = stored.clone();
                match mutation(&mut next).and_then(|()| super::same_user(stored, &next)) {
                    Ok(()) => {
                        next.version = stored.version + 1;
                        *stored = next.clone();
                        Ok(Some(next))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        drop(shard);
        ready(result)
    }
}

impl Sweep for MemoryStore {
    fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>> {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, r| {
                let keep = r.expires_at >= before_ms;
                if !keep {
                    self.unindex(r);
                }
                keep
            });
            removed += before - shard.len();
        }
        ready(Ok(removed))
    }
}

/// The memory store seen through the trait's required methods only: the default `update`
/// (load, compare-and-swap, retry) and no user index, as a store of an app's own may be.
#[cfg(test)]
pub(crate) struct Plain(pub(crate) MemoryStore);

#[cfg(test)]
impl SessionStore for Plain {
    fn create(&self, r: Record) -> BoxFuture<'_, Result<bool>> {
        self.0.create(r)
    }
    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        self.0.load(id)
    }
    fn replace(&self, r: Record, v: u64) -> BoxFuture<'_, Result<bool>> {
        self.0.replace(r, v)
    }
    fn touch(&self, id: SessionId, e: u64, n: u64) -> BoxFuture<'_, Result<Touch>> {
        self.0.touch(id, e, n)
    }
    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        self.0.delete(id)
    }
    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        self.0.count()
    }
    fn sweeper(&self) -> Option<&dyn Sweep> {
        self.0.sweeper()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn record(expires_at: u64) -> Record {
        Record {
            version: 7,
            ..Record::new(SessionId::default(), Default::default(), expires_at)
        }
    }

    #[tokio::test]
    async fn create_load_replace_delete() {
        let store = MemoryStore::new();
        let r = record(1_000);
        assert!(store.create(r.clone()).await.unwrap());
        assert!(
            !store.create(r.clone()).await.unwrap(),
            "ids are never reused"
        );
        let loaded = store.load(r.id).await.unwrap().unwrap();
        assert_eq!(loaded.version, 0, "create starts at version 0");
        let mut next = loaded.clone();
        next.data.insert("k".into(), 1.into());
        assert!(store.replace(next.clone(), 0).await.unwrap());
        assert!(
            !store.replace(next, 0).await.unwrap(),
            "stale version refused"
        );
        assert_eq!(store.load(r.id).await.unwrap().unwrap().version, 1);
        assert!(store.delete(r.id).await.unwrap());
        assert!(!store.delete(r.id).await.unwrap());
        assert_eq!(store.load(r.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn touch_extends_live_sessions_only() {
        let store = MemoryStore::new();
        let r = record(1_000);
        store.create(r.clone()).await.unwrap();
        assert_eq!(
            store.touch(r.id, 2_000, 500).await.unwrap(),
            Touch::Extended
        );
        assert_eq!(store.load(r.id).await.unwrap().unwrap().expires_at, 2_000);
        assert_eq!(
            store.touch(r.id, 1_500, 600).await.unwrap(),
            Touch::Extended
        );
        assert_eq!(
            store.load(r.id).await.unwrap().unwrap().expires_at,
            2_000,
            "never backwards"
        );
        assert_eq!(
            store.touch(r.id, 9_000, 2_000).await.unwrap(),
            Touch::Expired
        );
        assert_eq!(
            store.touch(SessionId::default(), 1, 0).await.unwrap(),
            Touch::Missing
        );
    }

    #[tokio::test]
    async fn aborted_update_writes_nothing() {
        let store = MemoryStore::new();
        let r = record(1_000);
        store.create(r.clone()).await.unwrap();
        let err = store
            .update(r.id, &mut |rec| {
                rec.data.insert("half".into(), true.into());
                Err(Error::InvalidValue("no".into()))
            })
            .await
            .unwrap_err();
        assert_eq!(err, Error::InvalidValue("no".into()));
        let stored = store.load(r.id).await.unwrap().unwrap();
        assert!(stored.data.is_empty());
        assert_eq!(stored.version, 0);
    }

    #[tokio::test]
    async fn sweeper_deletes_only_expired() {
        let store = MemoryStore::new();
        let (old, live) = (record(100), record(10_000));
        store.create(old.clone()).await.unwrap();
        store.create(live.clone()).await.unwrap();
        assert_eq!(store.delete_expired(5_000).await.unwrap(), 1);
        assert!(store.load(old.id).await.unwrap().is_none());
        assert!(store.load(live.id).await.unwrap().is_some());
    }

    /// The trait's default `update` (load + compare-and-swap + retry), driven by many
    /// threads at once, loses no increment.
    #[test]
    fn default_update_loses_nothing_under_contention() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        let store = std::sync::Arc::new(Plain(MemoryStore::new()));
        let r = record(u64::MAX);
        rt.block_on(store.create(r.clone())).unwrap();
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                let store = store.clone();
                rt.spawn(async move {
                    store
                        .update(r.id, &mut |rec| {
                            let n = rec.data.get("n").and_then(|v| v.as_i64()).unwrap_or(0);
                            rec.data.insert("n".into(), (n + 1).into());
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            rt.block_on(t).unwrap().unwrap().unwrap();
        }
        let stored = rt.block_on(store.load(r.id)).unwrap().unwrap();
        assert_eq!(stored.data["n"], 400);
        assert_eq!(stored.version, 400);
    }
}
