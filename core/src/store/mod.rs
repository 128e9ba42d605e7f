//! Session storage: one trait at the seam, backends beside it.
//!
//! tower-sessions' `SessionStore` saves whole records, last writer wins, which loses
//! updates when an HTTP request and a socket event write the same session at once. This
//! trait adds what atomicity needs: a version on every record and a compare-and-swap
//! [`replace`](SessionStore::replace). [`SessionStore::update`] is built on them (load,
//! apply, swap, retry); a backend that can do better (the memory store holds a lock)
//! overrides it. Session ids are tower-sessions' [`Id`](crate::SessionId).

mod memory;
mod sqlite;

use std::future::Future;
use std::pin::Pin;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use crate::{Error, Result, SessionId};

/// A boxed, sendable future (stores are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The data of a session: a JSON object.
pub type Data = serde_json::Map<String, serde_json::Value>;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session id.
    pub id: SessionId,
    /// The session's key-value data.
    pub data: Data,
    /// Expiry instant, unix milliseconds.
    pub expires_at: u64,
    /// Incremented by every successful write; the basis of compare-and-swap.
    pub version: u64,
}

impl Record {
    /// True if the record is past its expiry instant at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at <= now_ms
    }
}

/// What [`SessionStore::touch`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// The session existed, was live, and its expiry was moved.
    Extended,
    /// The session exists but is past its expiry; nothing changed.
    Expired,
    /// No such session.
    Missing,
}

/// A mutation applied by [`SessionStore::update`]: it edits a copy of the record, and an
/// `Err` aborts the update with nothing written.
pub type Mutation<'a> = &'a mut (dyn FnMut(&mut Record) -> Result<()> + Send);

/// How many times [`SessionStore::update`]'s default implementation retries a conflicting
/// compare-and-swap before it gives up with [`Error::Conflict`].
pub const MAX_UPDATE_ATTEMPTS: u32 = 64;

/// A session backend. All methods are atomic per session.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a new record (`version` 0). Returns `false`, writing nothing, if the id is
    /// taken.
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>>;

    /// The record of `id`, expired or not; `None` if there is none.
    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>>;

    /// Replaces the record if its stored version is `expected_version`, storing it with
    /// `expected_version + 1`. Returns `false`, writing nothing, on a version mismatch or
    /// a missing record.
    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>>;

    /// Moves the expiry of a live session to `expires_at` (never backwards) without
    /// touching its data or version.
    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>>;

    /// Deletes a record; `true` if there was one.
    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>>;

    /// Deletes records that expired before `before_ms`; returns how many.
    fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>>;

    /// Atomically applies `mutation` to the record of `id` and returns the stored result,
    /// or `None` if there is no such record. The mutation may run more than once (on
    /// conflict) and always sees the latest record.
    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            for _ in 0..MAX_UPDATE_ATTEMPTS {
                let Some(current) = self.load(id).await? else {
                    return Ok(None);
                };
                let mut next = current.clone();
                mutation(&mut next)?;
                if self.replace(next.clone(), current.version).await? {
                    next.version = current.version + 1;
                    return Ok(Some(next));
                }
            }
            Err(Error::Conflict(MAX_UPDATE_ATTEMPTS))
        })
    }
}

/// The current time in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The same behaviour checks for every backend.
#[cfg(test)]
mod conformance {
    use super::*;
    use std::sync::Arc;

    fn record(expires_at: u64) -> Record {
        let mut data = Data::new();
        data.insert("count".into(), 1.into());
        Record {
            id: SessionId::default(),
            data,
            expires_at,
            version: 0,
        }
    }

    async fn create_load_replace(store: &dyn SessionStore) {
        let r = record(10_000);
        assert!(store.create(r.clone()).await.unwrap());
        assert!(
            !store.create(r.clone()).await.unwrap(),
            "an id is created once"
        );
        assert_eq!(store.load(r.id).await.unwrap().as_ref(), Some(&r));
        let mut next = r.clone();
        next.data.insert("count".into(), 2.into());
        assert!(store.replace(next.clone(), 0).await.unwrap());
        assert!(
            !store.replace(next.clone(), 0).await.unwrap(),
            "a stale version must not overwrite"
        );
        let loaded = store.load(r.id).await.unwrap().unwrap();
        assert_eq!((loaded.version, &loaded.data), (1, &next.data));
        assert_eq!(store.load(SessionId::default()).await.unwrap(), None);
    }

    async fn touch_and_delete(store: &dyn SessionStore) {
        let r = record(1_000);
        store.create(r.clone()).await.unwrap();
        assert_eq!(
            store.touch(r.id, 2_000, 500).await.unwrap(),
            Touch::Extended
        );
        assert_eq!(
            store.touch(r.id, 1_500, 600).await.unwrap(),
            Touch::Extended
        );
        assert_eq!(store.load(r.id).await.unwrap().unwrap().expires_at, 2_000);
        assert_eq!(
            store.touch(r.id, 9_000, 2_000).await.unwrap(),
            Touch::Expired
        );
        assert_eq!(
            store.touch(SessionId::default(), 9_000, 0).await.unwrap(),
            Touch::Missing
        );
        assert!(store.delete(r.id).await.unwrap());
        assert!(!store.delete(r.id).await.unwrap());
    }

    async fn delete_expired_keeps_live_ones(store: &dyn SessionStore) {
        let (old, live) = (record(100), record(5_000));
        store.create(old.clone()).await.unwrap();
        store.create(live.clone()).await.unwrap();
        assert_eq!(store.delete_expired(1_000).await.unwrap(), 1);
        assert_eq!(store.load(old.id).await.unwrap(), None);
        assert!(store.load(live.id).await.unwrap().is_some());
    }

    async fn concurrent_updates_lose_nothing(store: Arc<dyn SessionStore>) {
        let r = record(u64::MAX / 2);
        store.create(r.clone()).await.unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut add_one = |rec: &mut Record| {
                        let n = rec.data["count"].as_i64().unwrap_or(0);
                        rec.data.insert("count".into(), (n + 1).into());
                        Ok(())
                    };
                    store.update(r.id, &mut add_one).await.unwrap().unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let loaded = store.load(r.id).await.unwrap().unwrap();
        assert_eq!(loaded.data["count"], 41, "an update was lost");
    }

    /// A database file in the temp dir, removed (with its WAL files) when dropped.
    struct TempDb(std::path::PathBuf);

    impl TempDb {
        fn new(name: &str) -> TempDb {
            TempDb(std::env::temp_dir().join(format!(
                "sessionio-test-{name}-{}-{}.db",
                std::process::id(),
                SessionId::default()
            )))
        }
        fn url(&self) -> String {
            format!("sqlite://{}", self.0.display())
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.0.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_backend_behaves_the_same() {
        let db = TempDb::new("conformance");
        let backends: Vec<Arc<dyn SessionStore>> = vec![
            Arc::new(MemoryStore::new()),
            Arc::new(SqliteStore::open(&db.url()).unwrap()),
        ];
        for store in backends {
            create_load_replace(store.as_ref()).await;
            touch_and_delete(store.as_ref()).await;
            delete_expired_keeps_live_ones(store.as_ref()).await;
            concurrent_updates_lose_nothing(store).await;
        }
    }

    /// Hosts build the engine before (or without) a runtime: the pool waits for first use.
    #[test]
    fn a_sqlite_engine_builds_outside_a_runtime() {
        let db = TempDb::new("no-runtime");
        let built = crate::SessionIo::builder()
            .secret([7u8; 32])
            .store_url(db.url())
            .build();
        assert!(built.is_ok(), "{built:?}");
    }

    #[tokio::test]
    async fn sqlite_sessions_survive_reopening_the_file() {
        let db = TempDb::new("reopen");
        let r = record(u64::MAX / 2);
        {
            let store = SqliteStore::open(&db.url()).unwrap();
            store.create(r.clone()).await.unwrap();
        }
        let again = SqliteStore::open(&db.url()).unwrap();
        assert_eq!(again.load(r.id).await.unwrap(), Some(r));
    }

    #[tokio::test]
    async fn an_unopenable_sqlite_file_is_store_unavailable() {
        let store = SqliteStore::open("sqlite:///nonexistent-dir/sub/sessions.db").unwrap();
        let err = store.load(SessionId::default()).await.unwrap_err();
        assert_eq!(err.code(), "ERR_STORE_UNAVAILABLE", "{err}");
    }
}
