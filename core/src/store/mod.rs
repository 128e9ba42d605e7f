//! Session storage: one trait at the seam, backends beside it.
//!
//! tower-sessions' `SessionStore` saves whole records, last writer wins, which loses
//! updates when an HTTP request and a socket event write the same session at once. This
//! trait adds what atomicity needs: a version on every record and a compare-and-swap
//! [`replace`](SessionStore::replace). [`SessionStore::update`] is built on them (load,
//! apply, swap, retry); a backend that can do better (the memory store holds a lock)
//! overrides it. Session ids are tower-sessions' [`Id`](crate::SessionId).

pub mod conformance;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub(crate) mod redis_link;
mod size_limit;
#[cfg(feature = "sqlite")]
mod sqlite;
mod user_index;

use std::future::Future;
use std::pin::Pin;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub(crate) use size_limit::SizeLimited;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub(crate) use user_index::{HostIds, UserIndexBeside};

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
    /// The user the session is logged in as, if any. Its user id is fixed when the record
    /// is created (logging in gives the session a new id): a
    /// [`replace`](SessionStore::replace) that names another user swaps nothing.
    pub login: Option<Login>,
}

/// A session's binding to a user, kept in its record, and what the user's list of
/// sessions shows about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Login {
    /// The user id the app chose (1 to [`MAX_USER_ID_LEN`] bytes).
    pub user_id: String,
    /// When the session logged in (unix ms).
    pub at: u64,
    /// The `User-Agent` of the request or handshake that last reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The client address (IP) of the request or handshake that last reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The longest user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;

/// Where a host session system's record (express-session's, tower-sessions') keeps its
/// session's [`Login`]: a field of the session under this name, a JSON object
/// (`{"user_id", "at", "user_agent"?, "address"?}`). The stores of those modes read it into
/// [`Record::login`] and keep it out of [`Record::data`]; the host's own session object
/// shows it.
pub const LOGIN_KEY: &str = "sessionio.login";

/// Takes the login out of a host record's fields (see [`LOGIN_KEY`]); a field that does
/// not parse as one is left in the data, as the app's own.
pub(crate) fn take_login(data: &mut Data) -> Option<Login> {
    let login = serde_json::from_value(data.get(LOGIN_KEY)?.clone()).ok()?;
    data.remove(LOGIN_KEY);
    Some(login)
}

/// The host record's field of a login (see [`LOGIN_KEY`]).
pub(crate) fn login_field(login: &Login) -> serde_json::Value {
    serde_json::to_value(login).unwrap_or(serde_json::Value::Null)
}

/// A host record's fields for `record`: its data (a field named [`LOGIN_KEY`] in it left
/// out) and its login under [`LOGIN_KEY`]; the inverse of [`take_login`].
pub(crate) fn host_fields(
    record: &Record,
) -> impl Iterator<Item = (String, serde_json::Value)> + '_ {
    let data = (record.data.iter())
        .filter(|(k, _)| *k != LOGIN_KEY)
        .map(|(k, v)| (k.clone(), v.clone()));
    let login = (record.login.as_ref()).map(|l| (LOGIN_KEY.to_owned(), login_field(l)));
    data.chain(login)
}

/// A login as the engine's SQLite and Redis stores keep it: JSON text.
#[cfg(any(feature = "sqlite", feature = "redis"))]
pub(crate) fn login_json(login: &Login) -> Result<String> {
    serde_json::to_string(login).map_err(|e| Error::InvalidValue(e.to_string()))
}

/// What the user index of a store holds: users with at least one session, and sessions
/// bound to a user (expired ones included until the store lets them go).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserIndexSize {
    /// Users with at least one indexed session.
    pub users: u64,
    /// Indexed sessions.
    pub sessions: u64,
}

impl Record {
    /// A new record, not logged in, at version 0.
    pub fn new(id: SessionId, data: Data, expires_at: u64) -> Record {
        Record {
            id,
            data,
            expires_at,
            version: 0,
            login: None,
        }
    }

    /// What a backend that drops expired sessions answers for one it has dropped: the
    /// record with its last known expiry and no data, at version 0.
    pub fn dropped_at_expiry(id: SessionId, expires_at: u64) -> Record {
        Record::new(id, Data::new(), expires_at)
    }

    /// The user id the session is logged in as.
    pub fn user_id(&self) -> Option<&str> {
        self.login.as_ref().map(|l| l.user_id.as_str())
    }

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
    /// Inserts a new record, stored at version 0 whatever `record.version` says. Returns
    /// `false`, writing nothing, if the id is taken.
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

    /// [`touch`](Self::touch), and with [`Touch::Extended`] the record as the touch left
    /// it, when the store can read it in the same step (one round trip for both). The
    /// engine calls it for an HTTP request's session, whose first write then
    /// compare-and-swaps from that record instead of loading it again; a record changed
    /// since only costs that swap. The default touches and reads nothing (`None`).
    fn touch_and_read(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<(Touch, Option<Record>)>> {
        Box::pin(async move { Ok((self.touch(id, expires_at, now_ms).await?, None)) })
    }

    /// Deletes a record; `true` if there was one.
    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>>;

    /// How many sessions the store holds, what the engine compares with
    /// [`max_sessions`](crate::Builder::max_sessions) before it creates one. Expired records
    /// the store still keeps may be counted (until swept or dropped); it must be cheap
    /// enough to ask at every session creation. A store whose sessions are created
    /// elsewhere (express-session's) answers an error: the engine never creates there.
    fn count(&self) -> BoxFuture<'_, Result<u64>>;

    /// How expired records leave this store. `Some` for a store that keeps them until
    /// they are deleted (the memory and SQLite stores): the engine's sweeper calls its
    /// [`Sweep::delete_expired`] every `min(ttl, 60 s)`. `None` for a store that drops
    /// expired records by itself (the Redis store by key TTL, express-session's stores):
    /// the engine never asks it to sweep, and there is no `delete_expired` on it that could
    /// pretend to work.
    fn sweeper(&self) -> Option<&dyn Sweep>;

    /// Every record held whose login names `user_id` (expired ones included until the
    /// store lets them go), in any order: the user index. A store keeps it in step with
    /// its records, so that no entry outlives its session (deleted, swept, or dropped at
    /// expiry). A store without one (a host session system's) answers an error.
    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        let _ = user_id;
        Box::pin(std::future::ready(Err(no_user_index())))
    }

    /// How many users and sessions the user index holds (the metrics' gauges). It may
    /// walk the whole index.
    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        Box::pin(std::future::ready(Err(no_user_index())))
    }

    /// Whether this store keeps the user index ([`user_sessions`](Self::user_sessions),
    /// [`user_index_size`](Self::user_index_size)). The engine keeps one beside a store
    /// that does not (in memory, or in the Redis it is linked to), from the logins it
    /// loads; `false` by default.
    fn keeps_user_index(&self) -> bool {
        false
    }

    /// Atomically applies `mutation` to the record of `id` and returns the stored result,
    /// or `None` if there is no such record. The mutation may run more than once (on
    /// conflict) and always sees the latest record.
    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(update_by_swapping(self, id, mutation))
    }
}

/// The capability of a store whose expired records stay until someone deletes them; see
/// [`SessionStore::sweeper`].
pub trait Sweep: Send + Sync {
    /// Deletes the records whose expiry instant is before `before_ms` (unix ms) and returns
    /// how many. Records expiring at or after `before_ms` are kept, expired or not: the
    /// engine passes `now - 60 s`, so that a cookie of a session that expired less than a
    /// minute ago is told `session expired` rather than `invalid session`.
    fn delete_expired(&self, before_ms: u64) -> BoxFuture<'_, Result<usize>>;
}

/// A write may change a record's login details, never its user: logging in as another
/// user gives the session a new id (and a new record).
pub(crate) fn same_user(stored: &Record, next: &Record) -> Result<()> {
    if stored.user_id() == next.user_id() {
        return Ok(());
    }
    Err(Error::InvalidValue(
        "a session's user is fixed when its record is created: log in to change it (the session gets a new id)".into(),
    ))
}

/// What a store without a user index answers to its queries.
pub(crate) fn no_user_index() -> Error {
    Error::Config(
        "this session store keeps no user index: logins across sessions need the engine's own store (memory, SQLite or Redis)".into(),
    )
}

/// The compare-and-swap loop behind the default [`SessionStore::update`]: load, apply,
/// swap, and on a lost race retry with the newer record (at most
/// [`MAX_UPDATE_ATTEMPTS`] times, then [`Error::Conflict`]). For backends that add their
/// own queueing around it.
pub async fn update_by_swapping<S: SessionStore + ?Sized>(
    store: &S,
    id: SessionId,
    mutation: Mutation<'_>,
) -> Result<Option<Record>> {
    swap_until_done(store, id, mutation, after_lost_race).await
}

/// [`update_by_swapping`] with the pause taken after each lost race.
pub(crate) async fn swap_until_done<S, P, Fut>(
    store: &S,
    id: SessionId,
    mutation: Mutation<'_>,
    pause: P,
) -> Result<Option<Record>>
where
    S: SessionStore + ?Sized,
    P: Fn(u32) -> Fut,
    Fut: Future<Output = ()>,
{
    for attempt in 0..MAX_UPDATE_ATTEMPTS {
        let Some(current) = store.load(id).await? else {
            return Ok(None);
        };
        if let Some(next) = swap_once(store, &current, mutation).await? {
            return Ok(Some(next));
        }
        pause(attempt).await;
    }
    Err(Error::Conflict(MAX_UPDATE_ATTEMPTS))
}

/// One compare-and-swap from `current`: `mutation` applied to a copy of it, stored if the
/// store still holds `current`'s version. The stored record, or `None` when another
/// writer got there first.
pub(crate) async fn swap_once<S: SessionStore + ?Sized>(
    store: &S,
    current: &Record,
    mutation: Mutation<'_>,
) -> Result<Option<Record>> {
    let mut next = current.clone();
    mutation(&mut next)?;
    same_user(current, &next)?;
    if !store.replace(next.clone(), current.version).await? {
        return Ok(None);
    }
    next.version = current.version + 1;
    Ok(Some(next))
}

/// Called by a compare-and-swap loop when another writer got there first: let them
/// finish, stepping back longer after each lost race, so that a crowd of writers drains
/// instead of colliding until one of them runs out of attempts. (Yields, not sleeps: the
/// host's runtime may have no timer.)
pub(crate) async fn after_lost_race(attempt: u32) {
    for _ in 0..=attempt.min(16) {
        tokio::task::yield_now().await;
    }
}

/// A digest of a session's data, the version of a backend whose records carry none
/// (express-session's and tower-sessions' stores): compare-and-swap compares it.
pub(crate) fn data_version(data: &Data) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    serde_json::to_string(data).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// The current time in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(all(test, feature = "redis"))]
#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

/// The conformance suite, one test per check.
#[cfg(test)]
mod memory_conformance {
    use super::conformance::Subject;
    use super::MemoryStore;

    crate::store_conformance!(Subject::new(MemoryStore::new()));
}

/// The conformance suite, one test per check; two stores on one file stand for two
/// processes.
#[cfg(all(test, feature = "sqlite"))]
mod sqlite_conformance {
    use super::conformance::Subject;
    use super::tests::TempDb;
    use super::SqliteStore;

    crate::store_conformance!({
        let db = TempDb::new("conformance");
        Subject::new(SqliteStore::open(&db.url()).unwrap())
            .peer(SqliteStore::open(&db.url()).unwrap())
            .keep(db)
    });
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)]
    use super::*;
    #[cfg(feature = "redis")]
    use std::sync::Arc;

    #[cfg(feature = "redis")]
    use super::redis_server::RedisServer;

    fn record(expires_at: u64) -> Record {
        let mut data = Data::new();
        data.insert("count".into(), 1.into());
        Record::new(SessionId::default(), data, expires_at)
    }

    #[cfg(feature = "sqlite")]
    pub(super) use temp_db::TempDb;

    #[cfg(feature = "sqlite")]
    mod temp_db {
        use crate::SessionId;

        /// A database file in the temp dir, removed (with its WAL files) when dropped.
        pub(crate) struct TempDb(std::path::PathBuf);

        impl TempDb {
            pub(crate) fn new(name: &str) -> TempDb {
                TempDb(std::env::temp_dir().join(format!(
                    "sessionio-test-{name}-{}-{}.db",
                    std::process::id(),
                    SessionId::default()
                )))
            }
            pub(crate) fn url(&self) -> String {
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
    }

    /// The conformance suite in one call; two stores on one server stand for two
    /// processes. Redis drops expired keys itself, a minute after their expiry.
    #[cfg(feature = "redis")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_passes_the_conformance_suite() {
        use super::conformance::{self, Expiry, Subject};
        let redis = RedisServer::start();
        let subject = Subject::new(RedisStore::open(&redis.url()).unwrap())
            .peer(RedisStore::open(&redis.url()).unwrap())
            .expiry(Expiry::ByTheStore { after_ms: 60_000 });
        let report = conformance::run(&subject).await;
        eprintln!("Redis store:\n{report}");
        report.assert_passed();
        assert_eq!(report.outcomes.len(), conformance::CHECKS.len());
    }

    /// The same suite against a Redis Cluster of three masters: each session's record, each
    /// user's set and the count's index are single keys on their own slots, and every
    /// script touches one of them.
    #[cfg(feature = "redis")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_on_a_cluster_passes_the_conformance_suite() {
        use super::conformance::{self, Expiry, Subject};
        let cluster = super::redis_server::RedisCluster::start();
        let subject = Subject::new(RedisStore::open(&cluster.url()).unwrap())
            .peer(RedisStore::open(&cluster.url()).unwrap())
            .expiry(Expiry::ByTheStore { after_ms: 60_000 });
        let report = conformance::run(&subject).await;
        eprintln!("Redis store on a cluster:\n{report}");
        report.assert_passed();
        assert_eq!(report.outcomes.len(), conformance::CHECKS.len());
    }

    #[cfg(feature = "redis")]
    async fn redis_command<T: ::redis::FromRedisValue>(url: &str, cmd: &::redis::Cmd) -> T {
        let client = ::redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut conn).await.unwrap()
    }

    #[cfg(feature = "redis")]
    /// The key lives until a minute after the session's expiry (the sweeper's grace), and
    /// writes move that instant.
    #[tokio::test]
    async fn redis_keys_expire_a_minute_after_their_session() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        let key = |r: &Record| format!("sessionio:session:{}", r.id);
        let pttl = |r: &Record| {
            let mut cmd = ::redis::cmd("PTTL");
            cmd.arg(key(r));
            let url = redis.url();
            async move { redis_command::<i64>(&url, &cmd).await }
        };
        let close_to = |got: i64, want: u64| {
            let want = want as i64;
            assert!(
                (want - 2_000..=want).contains(&got),
                "PTTL {got}, expected about {want}"
            );
        };

        let r = record(now_ms() + 10_000);
        assert!(store.create(r.clone()).await.unwrap());
        close_to(pttl(&r).await, 10_000 + 60_000);
        assert_eq!(
            store
                .touch(r.id, now_ms() + 20_000, now_ms())
                .await
                .unwrap(),
            Touch::Extended
        );
        close_to(pttl(&r).await, 20_000 + 60_000);
        let mut next = r.clone();
        next.expires_at = now_ms() + 30_000;
        assert!(store.replace(next.clone(), 0).await.unwrap());
        close_to(pttl(&r).await, 30_000 + 60_000);

        // Expired half a minute ago: still there, to be told `session expired`.
        let recent = record(now_ms() - 30_000);
        assert!(store.create(recent.clone()).await.unwrap());
        close_to(pttl(&recent).await, 30_000);
        assert_eq!(
            store
                .touch(recent.id, now_ms() + 10_000, now_ms())
                .await
                .unwrap(),
            Touch::Expired
        );
        assert_eq!(store.load(recent.id).await.unwrap(), Some(recent));

        // Past the grace minute: Redis drops it as the sweeper would have.
        let gone = record(now_ms() - 61_000);
        store.create(gone.clone()).await.unwrap();
        assert_eq!(store.load(gone.id).await.unwrap(), None);

        let mut exists = ::redis::cmd("EXISTS");
        exists.arg(key(&gone));
        assert_eq!(redis_command::<i64>(&redis.url(), &exists).await, 0);
    }

    /// Finding 2 (issue 15): `count`, what `max_sessions` is checked against, follows
    /// creates and deletes; expired records count until the store lets them go.
    async fn finding_2_count_follows_the_sessions(store: &dyn SessionStore) {
        assert_eq!(store.count().await.unwrap(), 0);
        let live: Vec<Record> = (0..3).map(|_| record(now_ms() + 60_000)).collect();
        for r in &live {
            assert!(store.create(r.clone()).await.unwrap());
        }
        assert_eq!(store.count().await.unwrap(), 3);
        let mut next = live[0].clone();
        next.expires_at = now_ms() + 120_000;
        assert!(store.replace(next, 0).await.unwrap());
        store
            .touch(live[1].id, now_ms() + 120_000, now_ms())
            .await
            .unwrap();
        assert_eq!(store.count().await.unwrap(), 3, "writes changed the count");
        assert!(store.delete(live[2].id).await.unwrap());
        assert_eq!(store.count().await.unwrap(), 2);
        // Expired within the grace minute: still held, still counted.
        assert!(store.create(record(now_ms() - 1_000)).await.unwrap());
        assert_eq!(store.count().await.unwrap(), 3);
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn finding_2_sqlite_count_follows_the_sessions() {
        let db = TempDb::new("count");
        finding_2_count_follows_the_sessions(&SqliteStore::open(&db.url()).unwrap()).await;
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn finding_2_redis_count_follows_the_sessions() {
        let redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        finding_2_count_follows_the_sessions(&store).await;
        // Past the grace minute Redis drops the key, and the count forgets its id.
        assert!(store.create(record(now_ms() - 61_000)).await.unwrap());
        assert_eq!(store.count().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn finding_2_memory_count_follows_the_sessions() {
        finding_2_count_follows_the_sessions(&MemoryStore::new()).await;
    }

    #[cfg(feature = "redis")]
    /// The e2e burst: 400 concurrent increments of one session in one process. The
    /// compare-and-swap alone exhausts its retries here; queued writers lose nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_burst_of_local_updates_loses_nothing() {
        let redis = RedisServer::start();
        let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
        let r = record(now_ms() + 60_000);
        store.create(r.clone()).await.unwrap();
        let tasks: Vec<_> = (0..400)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut add_one = |rec: &mut Record| {
                        let n = rec.data["count"].as_i64().unwrap_or(0);
                        rec.data.insert("count".into(), (n + 1).into());
                        Ok(())
                    };
                    store.update(r.id, &mut add_one).await.map(|_| ())
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let loaded = store.load(r.id).await.unwrap().unwrap();
        assert_eq!((loaded.version, &loaded.data["count"]), (400, &401.into()));
    }

    #[cfg(feature = "redis")]
    async fn expect_unavailable<T: std::fmt::Debug>(
        what: &str,
        call: impl Future<Output = Result<T>>,
    ) -> std::time::Duration {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(std::time::Duration::from_secs(10), call)
            .await
            .unwrap_or_else(|_| panic!("{what} hung with Redis down"));
        let took = started.elapsed();
        let err = result.expect_err(what);
        assert_eq!(err.code(), "ERR_STORE_UNAVAILABLE", "{what}: {err}");
        assert!(
            took < std::time::Duration::from_secs(3),
            "{what} took {took:?} to fail"
        );
        took
    }

    #[cfg(feature = "redis")]
    /// Redis killed mid-run: calls fail with `store unavailable` within 3 s, never hang;
    /// started again on the same port: calls succeed within 2 s, without a new store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_is_store_unavailable_and_recovery_needs_no_restart() {
        let mut redis = RedisServer::start();
        let store = RedisStore::open(&redis.url()).unwrap();
        let r = record(now_ms() + 60_000);
        assert!(store.create(r.clone()).await.unwrap());
        assert_eq!(store.load(r.id).await.unwrap(), Some(r.clone()));

        redis.stop();
        let mut no_change = |_: &mut Record| Ok(());
        let timings = [
            expect_unavailable("load", store.load(r.id)).await,
            expect_unavailable("create", store.create(record(now_ms() + 1_000))).await,
            expect_unavailable("replace", store.replace(r.clone(), 0)).await,
            expect_unavailable("touch", store.touch(r.id, now_ms() + 1, now_ms())).await,
            expect_unavailable("update", store.update(r.id, &mut no_change)).await,
            expect_unavailable("delete", store.delete(r.id)).await,
        ];
        eprintln!("redis down: calls failed after {timings:?}");

        redis.restart();
        let back = std::time::Instant::now();
        let fresh = record(now_ms() + 60_000);
        loop {
            match store.create(fresh.clone()).await {
                Ok(created) => {
                    assert!(created);
                    break;
                }
                Err(e) => {
                    assert_eq!(e.code(), "ERR_STORE_UNAVAILABLE", "{e}");
                    assert!(
                        back.elapsed() < std::time::Duration::from_secs(2),
                        "still failing {:?} after Redis came back: {e}",
                        back.elapsed()
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        eprintln!("redis back: calls succeed after {:?}", back.elapsed());
        assert_eq!(store.load(fresh.id).await.unwrap(), Some(fresh.clone()));
        let mut set_two = |rec: &mut Record| {
            rec.data.insert("count".into(), 2.into());
            Ok(())
        };
        let updated = store.update(fresh.id, &mut set_two).await.unwrap().unwrap();
        assert_eq!((updated.version, &updated.data["count"]), (1, &2.into()));
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn an_unreachable_redis_is_store_unavailable() {
        // Nothing listens on the port of a listener we just closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let store = RedisStore::open(&format!("redis://127.0.0.1:{port}")).unwrap();
        expect_unavailable("load", store.load(SessionId::default())).await;
        assert_eq!(
            RedisStore::open("redis://127.0.0.1:notaport")
                .map(|_| ())
                .unwrap_err()
                .code(),
            "ERR_INVALID_CONFIG"
        );
    }

    /// A file made before the user index existed gains its columns when opened: its
    /// sessions load (logged in as nobody) and new ones can log in.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_files_of_the_first_schema_gain_the_user_columns() {
        use sqlx::Connection as _;
        let db = TempDb::new("first-schema");
        let old = SessionId::default();
        {
            let options =
                <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&db.url())
                    .unwrap()
                    .create_if_missing(true)
                    // As every file the store made.
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::query(
                "CREATE TABLE sessionio_sessions (id TEXT PRIMARY KEY NOT NULL, \
                 data TEXT NOT NULL, expires_at INTEGER NOT NULL, version INTEGER NOT NULL)",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query("INSERT INTO sessionio_sessions VALUES (?, '{\"count\":3}', ?, 2)")
                .bind(old.to_string())
                .bind(i64::MAX / 2)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        // Two stores open it at once, as two processes would.
        let (a, b) = (
            SqliteStore::open(&db.url()).unwrap(),
            SqliteStore::open(&db.url()).unwrap(),
        );
        let (la, lb) = tokio::join!(a.load(old), b.load(old));
        let loaded = la.unwrap().unwrap();
        assert_eq!(lb.unwrap().unwrap(), loaded);
        assert_eq!(
            (loaded.version, loaded.login, &loaded.data["count"]),
            (2, None, &3.into())
        );
        let mut fresh = record(now_ms() + 60_000);
        fresh.login = Some(Login {
            user_id: "ada".into(),
            at: now_ms(),
            user_agent: None,
            address: None,
        });
        assert!(a.create(fresh.clone()).await.unwrap());
        let listed = b.user_sessions("ada").await.unwrap();
        assert_eq!(
            listed.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![fresh.id]
        );
    }

    #[cfg(feature = "sqlite")]
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

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn an_unopenable_sqlite_file_is_store_unavailable() {
        let store = SqliteStore::open("sqlite:///nonexistent-dir/sub/sessions.db").unwrap();
        let err = store.load(SessionId::default()).await.unwrap_err();
        assert_eq!(err.code(), "ERR_STORE_UNAVAILABLE", "{err}");
    }
}
