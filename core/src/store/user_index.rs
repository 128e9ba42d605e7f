//! A user index kept beside a store that keeps none: express-session's and tower-sessions'
//! stores (the adoption modes), or a store of the app's own. The engine wraps such a store
//! in a [`UserIndexBeside`], which keeps, for each user, the host ids of the sessions it
//! saw logged in as that user: in this process's memory, or in Redis (a set per user,
//! `sessionio:host-user:<user id>`) when the engine is linked to one, so that every process
//! sees every login.
//!
//! A session enters the index when a load shows its login (the login is in the host's
//! record, see [`LOGIN_KEY`](super::LOGIN_KEY)): the host's login helper loads it once at
//! once, and handshakes load it again. It leaves when the engine deletes it, when a load
//! finds it gone or expired (the host's own logouts and rotations end in such a load: they
//! ask the engine to disconnect the session's sockets), and when listing the user finds it
//! so: a listing loads every entry and keeps only the live sessions still logged in as
//! that user, so no entry outlives its session in what the index answers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::{BoxFuture, Mutation, Record, SessionStore, Sweep, Touch, UserIndexSize};
use crate::{Result, SessionId};

/// How the host names the engine's ids (the identity's `host_id` and `resolve`): the index
/// keeps host ids, which the host's store is read by.
pub(crate) struct HostIds {
    /// The host's id of an engine id.
    pub(crate) host_id: Box<dyn Fn(SessionId) -> String + Send + Sync>,
    /// The engine's id of a host id.
    pub(crate) resolve: Box<Resolve>,
}

/// The engine's id of a host id, or why the text names none.
pub(crate) type Resolve = dyn Fn(&str) -> Result<SessionId> + Send + Sync;

/// The most session ids remembered with their user (to take a session out of the index
/// once its record is gone); past it the memo starts again, and a forgotten entry leaves
/// at the next listing of its user instead.
const MEMO_LIMIT: usize = 100_000;

/// Where the index lives.
enum Place {
    Memory(Mutex<HashMap<String, HashSet<String>>>),
    #[cfg(feature = "redis")]
    Redis(super::redis_link::RedisLink),
}

/// A store and the user index the engine keeps beside it; see the module docs.
pub(crate) struct UserIndexBeside {
    inner: Arc<dyn SessionStore>,
    ids: HostIds,
    place: Place,
    /// The user of each session id seen logged in, for the way out of the index.
    memo: Mutex<HashMap<SessionId, Arc<str>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(feature = "redis")]
fn redis_key(user: &str) -> String {
    format!("sessionio:host-user:{user}")
}

impl UserIndexBeside {
    /// `inner`'s sessions, indexed by user in memory, or in the Redis of `redis_url`.
    pub(crate) fn new(
        inner: Arc<dyn SessionStore>,
        ids: HostIds,
        redis_url: Option<&str>,
    ) -> Result<Self> {
        let place = match redis_url {
            None => Place::Memory(Mutex::default()),
            #[cfg(feature = "redis")]
            Some(url) => Place::Redis(super::redis_link::RedisLink::open(url, "redis", |e| {
                crate::Error::Config(format!("adapter URL {url:?}: {e}"))
            })?),
            #[cfg(not(feature = "redis"))]
            Some(_) => Place::Memory(Mutex::default()),
        };
        Ok(UserIndexBeside {
            inner,
            ids,
            place,
            memo: Mutex::default(),
        })
    }

    async fn add(&self, user: &str, host_id: &str) -> Result<()> {
        match &self.place {
            Place::Memory(m) => {
                lock(m)
                    .entry(user.to_owned())
                    .or_default()
                    .insert(host_id.to_owned());
                Ok(())
            }
            #[cfg(feature = "redis")]
            Place::Redis(link) => {
                let key = redis_key(user);
                link.call(|mut conn| {
                    let mut cmd = redis::cmd("SADD");
                    cmd.arg(&key).arg(host_id);
                    async move { cmd.query_async::<i64>(&mut conn).await }
                })
                .await
                .map(|_| ())
            }
        }
    }

    async fn remove(&self, user: &str, host_id: &str) -> Result<()> {
        match &self.place {
            Place::Memory(m) => {
                let mut users = lock(m);
                if let Some(ids) = users.get_mut(user) {
                    ids.remove(host_id);
                    if ids.is_empty() {
                        users.remove(user);
                    }
                }
                Ok(())
            }
            #[cfg(feature = "redis")]
            Place::Redis(link) => {
                let key = redis_key(user);
                link.call(|mut conn| {
                    let mut cmd = redis::cmd("SREM");
                    cmd.arg(&key).arg(host_id);
                    async move { cmd.query_async::<i64>(&mut conn).await }
                })
                .await
                .map(|_| ())
            }
        }
    }

    async fn members(&self, user: &str) -> Result<Vec<String>> {
        match &self.place {
            Place::Memory(m) => Ok(lock(m)
                .get(user)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default()),
            #[cfg(feature = "redis")]
            Place::Redis(link) => {
                let key = redis_key(user);
                link.call(|mut conn| {
                    let mut cmd = redis::cmd("SMEMBERS");
                    cmd.arg(&key);
                    async move { cmd.query_async::<Vec<String>>(&mut conn).await }
                })
                .await
            }
        }
    }

    /// What a load found for `id`: a logged-in record enters the index (once per id and
    /// user: the memo), and a session gone (or dropped at its expiry, which leaves a
    /// record without its login) leaves it.
    async fn follow(&self, id: SessionId, found: Option<&Record>) -> Result<()> {
        let user = found.and_then(|r| r.user_id());
        let known = lock(&self.memo).get(&id).cloned();
        match (user, known) {
            (Some(user), Some(known)) if *known == *user => Ok(()),
            (Some(user), known) => {
                let host_id = (self.ids.host_id)(id);
                if let Some(previous) = known {
                    self.remove(&previous, &host_id).await?;
                }
                self.add(user, &host_id).await?;
                let mut memo = lock(&self.memo);
                if memo.len() >= MEMO_LIMIT {
                    memo.clear();
                }
                memo.insert(id, user.into());
                Ok(())
            }
            (None, Some(known)) => {
                lock(&self.memo).remove(&id);
                self.remove(&known, &(self.ids.host_id)(id)).await
            }
            (None, None) => Ok(()),
        }
    }
}

impl SessionStore for UserIndexBeside {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let logged_in = record.login.is_some().then(|| record.clone());
            let created = self.inner.create(record).await?;
            if let (true, Some(record)) = (created, logged_in) {
                self.follow(record.id, Some(&record)).await?;
            }
            Ok(created)
        })
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        Box::pin(async move {
            let found = self.inner.load(id).await?;
            self.follow(id, found.as_ref()).await?;
            Ok(found)
        })
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        self.inner.replace(record, expected_version)
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        self.inner.touch(id, expires_at, now_ms)
    }

    fn touch_and_read(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<(Touch, Option<Record>)>> {
        Box::pin(async move {
            let (touch, read) = self.inner.touch_and_read(id, expires_at, now_ms).await?;
            if read.is_some() {
                // As after a load: the index follows what was read.
                self.follow(id, read.as_ref()).await?;
            }
            Ok((touch, read))
        })
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let record = self.inner.load(id).await?;
            let deleted = self.inner.delete(id).await?;
            let host_id = (self.ids.host_id)(id);
            let known = lock(&self.memo).remove(&id);
            let users = (record.as_ref().and_then(|r| r.user_id()).map(str::to_owned))
                .into_iter()
                .chain(known.map(|k| k.to_string()));
            for user in users.collect::<HashSet<_>>() {
                self.remove(&user, &host_id).await?;
            }
            Ok(deleted)
        })
    }

    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        self.inner.count()
    }

    fn sweeper(&self) -> Option<&dyn Sweep> {
        self.inner.sweeper()
    }

    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        self.inner.update(id, mutation)
    }

    /// Every entry of `user`, each loaded: the sessions still held and logged in as
    /// `user` are answered (expired ones too, as the trait says, until the store lets them
    /// go), the others leave the index.
    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        Box::pin(async move {
            let mut live = Vec::new();
            for host_id in self.members(user_id).await? {
                let Ok(id) = (self.ids.resolve)(&host_id) else {
                    self.remove(user_id, &host_id).await?;
                    continue;
                };
                match self.inner.load(id).await? {
                    Some(r) if r.user_id() == Some(user_id) => live.push(r),
                    _ => {
                        lock(&self.memo).remove(&id);
                        self.remove(user_id, &host_id).await?;
                    }
                }
            }
            Ok(live)
        })
    }

    /// The entries held (with Redis: a `SCAN` of the users' sets); entries of sessions
    /// that ended unseen count until their user is listed.
    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        Box::pin(async move {
            match &self.place {
                Place::Memory(m) => {
                    let users = lock(m);
                    Ok(UserIndexSize {
                        users: users.len() as u64,
                        sessions: users.values().map(|s| s.len() as u64).sum(),
                    })
                }
                #[cfg(feature = "redis")]
                Place::Redis(link) => {
                    let (users, sessions) = link
                        .count_per_key("sessionio:host-user:*", |set| {
                            let mut cmd = redis::cmd("SCARD");
                            cmd.arg(set);
                            cmd
                        })
                        .await?;
                    Ok(UserIndexSize { users, sessions })
                }
            }
        })
    }

    fn keeps_user_index(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::Subject;
    use crate::store::memory::Plain;
    use crate::store::MemoryStore;

    fn beside(redis_url: Option<&str>) -> UserIndexBeside {
        // The engine's own ids, as a store of the app's own has them.
        let ids = HostIds {
            host_id: Box::new(|id| id.to_string()),
            resolve: Box::new(|text| text.parse().map_err(|_| crate::Error::InvalidSessionId)),
        };
        UserIndexBeside::new(Arc::new(Plain(MemoryStore::new())), ids, redis_url).unwrap()
    }

    /// The hidden index is hidden: the suite's "no index" branch holds for the bare store.
    #[tokio::test]
    async fn a_store_without_an_index_answers_its_error() {
        let report = crate::store::conformance::run(
            &Subject::new(Plain(MemoryStore::new())).without_user_index(),
        )
        .await;
        report.assert_passed();
    }

    mod in_memory {
        crate::store_conformance!(super::Subject::new(super::beside(None)));
    }

    /// The index in Redis: the whole suite, the memory store's records beside it.
    #[cfg(feature = "redis")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_redis_the_index_passes_the_conformance_suite() {
        let redis = crate::store::redis_server::RedisServer::start();
        let report =
            crate::store::conformance::run(&Subject::new(beside(Some(&redis.url())))).await;
        eprintln!("{report}");
        report.assert_passed();
    }
}
