//! The shared store for several processes: sessions in one Redis (≥ 7) or a Redis
//! Cluster, reached with the `redis` crate through a reconnecting connection
//! (`redis://…` or `redis-cluster://…`, see `redis_target`).
//!
//! Each record is a hash at `sessionio:session:<id>` with the fields `data` (the JSON
//! object), `expires_at` (unix ms) and `version`. Every write that must be atomic across
//! processes is one Lua script on that one key (sent with `EVALSHA`, loaded again after a
//! Redis restart): `create` only if the key is absent, `replace` only if `version` still
//! matches, `touch` only if the session is live. No script touches two keys, so on a
//! cluster each runs on the master of its key's slot.
//!
//! **Expiry lives in Redis.** Each write sets the key's `PEXPIREAT` to `expires_at` plus
//! [`EXPIRED_GRACE_MS`]: the engine's sweeper keeps an expired record for that minute so
//! its cookie is told `session expired` rather than `invalid session`, and Redis then drops
//! it on every node at the same instant. So this store has no
//! [`sweeper`](SessionStore::sweeper): the engine never sweeps it.
//!
//! **Counting.** A sorted set, `{sessionio}:sessions`, holds every session id scored by
//! the instant Redis drops its key, and [`count`](SessionStore::count) first removes the
//! ids whose key is gone by now, then answers the set's size.
//!
//! **Users.** A record bound to a user also has the fields `user` (its user id) and
//! `login` (JSON), and its id is in the sorted set `sessionio:user:<user id>`, scored like
//! the count's index, and the set's key is dropped with its last session.
//!
//! **Indexes in steps.** A record and its entries are different keys (on a cluster,
//! different slots), so they are written in steps ordered to keep each index a superset of
//! the records: entries before the record is created, raised after it is written or
//! extended, removed after it is deleted. A reader checks each entry against its record.
//! See the scripts' comments.
//!
//! **Faults.** The connection is made on the first call (building the engine needs no
//! runtime). Every call is bounded by [`CALL_TIMEOUT`](super::redis_link::CALL_TIMEOUT) (2 s): a stopped or unreachable Redis
//! yields `store unavailable` within it, never a hang; once Redis answers again the manager
//! reconnects and calls succeed without a restart.

use std::hash::BuildHasher;
use std::time::Duration;

use redis::Script;
use tokio::sync::Mutex;

use super::redis_link::RedisLink;
use super::{BoxFuture, Data, Login, Mutation, Record, SessionStore, Sweep, Touch, UserIndexSize};
use crate::{Error, Result, SessionId};

/// How long an expired record is kept after its expiry: the same minute the engine's
/// sweeper waits before deleting one (see `Core::start_background`).
const EXPIRED_GRACE_MS: u64 = 60_000;

/// Writers of one session in this process queue on one of these locks (chosen by a hash of
/// the id) instead of racing each other's compare-and-swap.
const WRITE_STRIPES: usize = 64;

const KEY_PREFIX: &str = "sessionio:session:";

/// The sorted set of the session ids, scored by the instant Redis drops each key. Hash
/// tagged like the adapter's channels (`CHANNEL_PREFIX`): on a cluster, what is global
/// lives on one master.
const INDEX_KEY: &str = "{sessionio}:sessions";

/// The key of a user's sorted set of sessions.
const USER_PREFIX: &str = "sessionio:user:";

/// Every script below touches exactly one key, named in its KEYS, so that each runs on
/// one node of a Redis Cluster (a session's record is one key; a user's set is one key;
/// the count's index is one key). What spans keys is done in steps, in an order that keeps
/// the indexes a superset of the records: an index entry is written before its record and
/// removed after it, and a reader checks each entry against its record. A step cut off
/// (Redis gone, the process killed) leaves at most an entry whose record is gone, which the
/// next prune removes; never a record its index does not list.
///
/// KEYS = key; ARGV = data, expires_at, pexpireat, user ('' for none), login JSON. 1 if
/// created, 0 if the id is taken.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'expires_at', ARGV[2], 'version', '0')
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'user', ARGV[4], 'login', ARGV[5])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// KEYS = key; ARGV = expected version, data, expires_at, pexpireat, user ('' for none),
/// login JSON. 1 if swapped, 0 on a version mismatch, a missing key or another user.
/// Versions are compared as strings (Lua numbers are doubles).
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
local user = redis.call('HGET', KEYS[1], 'user') or ''
if user ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'expires_at', ARGV[3])
if user ~= '' then redis.call('HSET', KEYS[1], 'login', ARGV[6]) end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
";

/// KEYS = key; ARGV = expires_at, now, pexpireat, read ('1' or '0').
/// `{status, user, data, expires_at, version, login}`: status 0 missing, 1 expired, 2
/// extended (never backwards); user '' for none; the four fields as the touch left them
/// when extended and asked to read (else, and for a missing field, nil).
const TOUCH: &str = r"
local current = redis.call('HGET', KEYS[1], 'expires_at')
if not current then return {0, '', false, false, false, false} end
local user = redis.call('HGET', KEYS[1], 'user') or ''
if tonumber(current) <= tonumber(ARGV[2]) then return {1, user, false, false, false, false} end
if tonumber(ARGV[1]) > tonumber(current) then
  redis.call('HSET', KEYS[1], 'expires_at', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
if ARGV[4] ~= '1' then return {2, user, false, false, false, false} end
local f = redis.call('HMGET', KEYS[1], 'data', 'expires_at', 'version', 'login')
return {2, user, f[1], f[2], f[3], f[4]}
";

/// KEYS = key. `{deleted keys, user}` (user '' for none).
const DELETE: &str = r"
local user = redis.call('HGET', KEYS[1], 'user') or ''
return {redis.call('DEL', KEYS[1]), user}
";

/// KEYS = index; ARGV = now. Forgets the ids whose key Redis has dropped, then counts.
const COUNT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])
";

/// KEYS = a user's set; ARGV = id, drop instant, now. Forgets the entries of keys already
/// dropped, then writes the session's entry, never lowering it: before its record is
/// created, and after it was written or extended (an entry pruned meanwhile comes back;
/// one a delete removed meanwhile may come back too, and is then a harmless leftover that
/// readers skip). The set's own key is dropped with its last session.
const INDEX_USER: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
";

/// KEYS = a user's set; ARGV = now. Forgets the entries of dropped keys, then lists the
/// ids left (each checked against its record by the caller).
const USER_IDS: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// Sessions in Redis; `store_url("redis://host:port[/db]")`.
pub struct RedisStore {
    link: std::sync::Arc<RedisLink>,
    create: Script,
    replace: Script,
    touch: Script,
    delete: Script,
    count: Script,
    index_user: Script,
    user_ids: Script,
    writers: Box<[Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn key(id: SessionId) -> String {
    format!("{KEY_PREFIX}{id}")
}

fn user_set(user_id: &str) -> String {
    format!("{USER_PREFIX}{user_id}")
}

/// How an index entry is written: added before its record exists (never touching an
/// existing entry: the id may be taken), or raised after its record was written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Add,
    Follow,
}

/// The instant Redis drops the key: the grace minute after expiry, within Redis's range.
fn drop_at(expires_at: u64) -> i64 {
    i64::try_from(expires_at.saturating_add(EXPIRED_GRACE_MS)).unwrap_or(i64::MAX)
}

fn encode(data: &Data) -> Result<String> {
    serde_json::to_string(data).map_err(|e| Error::InvalidValue(e.to_string()))
}

/// The `user` and `login` fields of a record: empty strings when it has no login.
fn encode_login(login: &Option<Login>) -> Result<(String, String)> {
    match login {
        None => Ok((String::new(), String::new())),
        Some(l) => Ok((l.user_id.clone(), super::login_json(l)?)),
    }
}

fn now_arg() -> i64 {
    i64::try_from(super::now_ms()).unwrap_or(i64::MAX)
}

impl RedisStore {
    /// A store for the Redis named by a `redis://` URL. Nothing is connected here, so this
    /// needs no runtime; a bad URL is an error here, an unreachable server one at each call
    /// (`store unavailable`) until it answers.
    pub fn open(url: &str) -> Result<RedisStore> {
        let link = RedisLink::open(url, "redis", |e| {
            Error::Config(format!("store URL {url:?}: {e}"))
        })?;
        Ok(RedisStore {
            link: std::sync::Arc::new(link),
            create: Script::new(CREATE),
            replace: Script::new(REPLACE),
            touch: Script::new(TOUCH),
            delete: Script::new(DELETE),
            count: Script::new(COUNT),
            index_user: Script::new(INDEX_USER),
            user_ids: Script::new(USER_IDS),
            writers: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
        })
    }

    fn writer_lock(&self, id: &SessionId) -> &Mutex<()> {
        &self.writers[self.hasher.hash_one(id) as usize % WRITE_STRIPES]
    }

    /// Writes the entries of session `id` (dropped by Redis at `drop_at`) in the count's
    /// index and, if it has one, in its user's set. The count's entry is best effort: the
    /// count is an admission bound, and on a cluster its one key lives on one master,
    /// which must not take every session down with it. Raising it after a write is not
    /// even waited for (one round trip less on every request's path), and raises only an
    /// entry still there, so that a delete's removal is never undone. The user's entry is
    /// not best effort: a failure is the caller's error, before the record is created
    /// (nothing written) or after it was written or extended (the next write repairs it).
    async fn index(&self, id: SessionId, user: &str, drop_at: i64, entry: Entry) -> Result<()> {
        let id = id.to_string();
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(INDEX_KEY);
        match entry {
            Entry::Add => cmd.arg("NX"),
            Entry::Follow => cmd.arg("XX").arg("GT"),
        };
        cmd.arg(drop_at).arg(&id);
        let link = self.link.clone();
        let count = async move {
            let counted: Result<i64> = link
                .call(|mut conn| {
                    let cmd = cmd.clone();
                    async move { cmd.query_async(&mut conn).await }
                })
                .await;
            if let Err(e) = counted {
                tracing::warn!(error = %e, "redis store: the count's index missed a session");
            }
        };
        match entry {
            Entry::Add => count.await,
            Entry::Follow => {
                tokio::spawn(count);
            }
        }
        if user.is_empty() {
            return Ok(());
        }
        let set = user_set(user);
        self.link
            .call(|mut conn| {
                let mut script = self.index_user.prepare_invoke();
                script.key(&set).arg(&id).arg(drop_at).arg(now_arg());
                async move { script.invoke_async::<i64>(&mut conn).await }
            })
            .await?;
        Ok(())
    }

    /// Removes the entries of session `id` once its record is gone: best effort, since an
    /// entry left behind is harmless (readers check each entry against its record, and it
    /// is pruned at its drop instant).
    async fn unindex(&self, id: SessionId, user: &str) {
        let id = id.to_string();
        let mut sets = vec![INDEX_KEY.to_owned()];
        if !user.is_empty() {
            sets.push(user_set(user));
        }
        for set in sets {
            let removed: Result<i64> = self
                .link
                .call(|mut conn| {
                    let mut cmd = redis::cmd("ZREM");
                    cmd.arg(&set).arg(&id);
                    async move { cmd.query_async(&mut conn).await }
                })
                .await;
            if let Err(e) = removed {
                tracing::debug!(error = %e, "redis store: an index entry outlives its session");
            }
        }
    }
    /// The touch script, reading the record in the same step when `read`.
    async fn touch_reading(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
        read: bool,
    ) -> Result<(Touch, Option<Record>)> {
        let key = key(id);
        let drop_at = drop_at(expires_at);
        type Touched = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let (found, user, data, at, version, login): Touched = self
            .link
            .call(|mut conn| {
                let mut script = self.touch.prepare_invoke();
                script
                    .key(&key)
                    .arg(expires_at)
                    .arg(now_ms)
                    .arg(drop_at)
                    .arg(if read { "1" } else { "0" });
                async move { script.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(match found {
            2 => {
                self.index(id, &user, drop_at, Entry::Follow).await?;
                // A record that does not decode is not the touch's failure: the session's
                // first read reports it (and the client is told only what that read's
                // caller decides).
                let read = decode(id, (data, at, version, login)).unwrap_or(None);
                (Touch::Extended, read)
            }
            1 => (Touch::Expired, None),
            _ => (Touch::Missing, None),
        })
    }
}

/// The pause after losing a compare-and-swap to another process (this process's own
/// writers of a session are queued, so the winner is always elsewhere): a random wait that
/// grows with the losses, up to ~6 ms. Without the randomness, two processes that both
/// write a session back to back lose in the same order every time, and one of them can
/// run out of attempts (seen: 200 HTTP + 200 socket increments split over two nodes).
async fn lost_to_another_process(attempt: u32) {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let slots = 1u64 << attempt.min(5);
    let wait_us = (h.finish() % slots + 1) * 200;
    tokio::time::sleep(Duration::from_micros(wait_us)).await;
}

/// A session hash's `data`, `expires_at`, `version` and `login` fields.
type Fields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn decode(id: SessionId, (data, expires_at, version, login): Fields) -> Result<Option<Record>> {
    let bad = |what: &str| {
        Error::StoreUnavailable(format!("redis: session {id} holds a bad record: {what}"))
    };
    let (Some(data), Some(expires_at), Some(version)) = (data, expires_at, version) else {
        return Ok(None);
    };
    Ok(Some(Record {
        id,
        data: serde_json::from_str(&data).map_err(|e| bad(&e.to_string()))?,
        expires_at: expires_at.parse().map_err(|_| bad("expires_at"))?,
        version: version.parse().map_err(|_| bad("version"))?,
        login: login
            .map(|l| serde_json::from_str(&l))
            .transpose()
            .map_err(|e| bad(&format!("login: {e}")))?,
    }))
}

impl SessionStore for RedisStore {
    fn create(&self, record: Record) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let (key, data) = (key(record.id), encode(&record.data)?);
            let (user, login) = encode_login(&record.login)?;
            let drop_at = drop_at(record.expires_at);
            // The entries first: an index never misses a record (see the scripts).
            self.index(record.id, &user, drop_at, Entry::Add).await?;
            let created: i64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.create.prepare_invoke();
                    script
                        .key(&key)
                        .arg(&data)
                        .arg(record.expires_at)
                        .arg(drop_at)
                        .arg(&user)
                        .arg(&login);
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            Ok(created == 1)
        })
    }

    fn load(&self, id: SessionId) -> BoxFuture<'_, Result<Option<Record>>> {
        Box::pin(async move {
            let key = key(id);
            let fields = self
                .link
                .call(|mut conn| {
                    let mut cmd = redis::cmd("HMGET");
                    cmd.arg(&key)
                        .arg("data")
                        .arg("expires_at")
                        .arg("version")
                        .arg("login");
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            decode(id, fields)
        })
    }

    fn replace(&self, record: Record, expected_version: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let (key, data) = (key(record.id), encode(&record.data)?);
            let (user, login) = encode_login(&record.login)?;
            let drop_at = drop_at(record.expires_at);
            let swapped: i64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.replace.prepare_invoke();
                    script
                        .key(&key)
                        .arg(expected_version)
                        .arg(&data)
                        .arg(record.expires_at)
                        .arg(drop_at)
                        .arg(&user)
                        .arg(&login);
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            if swapped == 1 {
                self.index(record.id, &user, drop_at, Entry::Follow).await?;
            }
            Ok(swapped == 1)
        })
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        Box::pin(async move {
            let (touch, _) = self.touch_reading(id, expires_at, now_ms, false).await?;
            Ok(touch)
        })
    }

    fn touch_and_read(
        &self,
        id: SessionId,
        expires_at: u64,
        now_ms: u64,
    ) -> BoxFuture<'_, Result<(Touch, Option<Record>)>> {
        Box::pin(self.touch_reading(id, expires_at, now_ms, true))
    }

    /// Load, apply, compare-and-swap, retry, as the trait's default, but with the writers
    /// of one session in this process queued on a lock: a burst of local updates then
    /// runs one after another instead of exhausting its retries on each other's swaps.
    /// Writers in other processes are still kept apart by the compare-and-swap.
    fn update<'a>(
        &'a self,
        id: SessionId,
        mutation: Mutation<'a>,
    ) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(async move {
            let _queued = self.writer_lock(&id).lock().await;
            super::swap_until_done(self, id, mutation, lost_to_another_process).await
        })
    }

    fn delete(&self, id: SessionId) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let key = key(id);
            let (deleted, user): (i64, String) = self
                .link
                .call(|mut conn| {
                    let mut script = self.delete.prepare_invoke();
                    script.key(&key);
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            // After the record: an index never misses a record (see the scripts).
            self.unindex(id, &user).await;
            Ok(deleted > 0)
        })
    }

    fn keeps_user_index(&self) -> bool {
        true
    }

    /// The index's size once the ids of dropped keys are removed from it: expired
    /// sessions count for their grace minute, as their keys are still there.
    fn count(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let now = now_arg();
            let n: u64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.count.prepare_invoke();
                    script.key(INDEX_KEY).arg(now);
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            Ok(n)
        })
    }

    /// The set's ids, each checked against its record: an entry whose record is gone, or
    /// belongs to someone else (an id taken by another create), is removed, not listed.
    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        Box::pin(async move {
            let set = user_set(user_id);
            let ids: Vec<String> = self
                .link
                .call(|mut conn| {
                    let mut script = self.user_ids.prepare_invoke();
                    script.key(&set).arg(now_arg());
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            // Members the engine did not write are not its sessions.
            let ids: Vec<SessionId> = ids.iter().filter_map(|id| id.parse().ok()).collect();
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            type Row = (
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            );
            let rows: Vec<Row> = self
                .link
                .call(|conn| {
                    // One HMGET per record, all at once on the multiplexed connection (a
                    // cluster refuses a pipeline whose keys are on several slots).
                    let reads = ids.iter().map(|id| {
                        let mut cmd = redis::cmd("HMGET");
                        cmd.arg(key(*id))
                            .arg("data")
                            .arg("expires_at")
                            .arg("version")
                            .arg("login")
                            .arg("user");
                        let mut conn = conn.clone();
                        async move { cmd.query_async::<Row>(&mut conn).await }
                    });
                    futures_util::future::try_join_all(reads)
                })
                .await?;
            let (mut records, mut stale) = (Vec::with_capacity(ids.len()), Vec::new());
            for (id, (data, expires_at, version, login, user)) in ids.into_iter().zip(rows) {
                match decode(id, (data, expires_at, version, login))? {
                    Some(record) if user.as_deref() == Some(user_id) => records.push(record),
                    _ => stale.push(id.to_string()),
                }
            }
            if !stale.is_empty() {
                let _: i64 = self
                    .link
                    .call(|mut conn| {
                        let mut cmd = redis::cmd("ZREM");
                        cmd.arg(&set).arg(&stale);
                        async move { cmd.query_async(&mut conn).await }
                    })
                    .await?;
            }
            Ok(records)
        })
    }

    /// Walks the user sets with `SCAN` and counts the entries of keys not dropped yet.
    fn user_index_size(&self) -> BoxFuture<'_, Result<UserIndexSize>> {
        Box::pin(async move {
            let live_after = format!("({}", now_arg());
            let (users, sessions) = (self.link)
                .count_per_key(&format!("{USER_PREFIX}*"), |set| {
                    let mut cmd = redis::cmd("ZCOUNT");
                    cmd.arg(set).arg(&live_after).arg("+inf");
                    cmd
                })
                .await?;
            Ok(UserIndexSize { users, sessions })
        })
    }

    /// `None`: Redis drops every key itself at `expires_at` + [`EXPIRED_GRACE_MS`] (its
    /// `PEXPIREAT`, set by every write), on every node at once, which is exactly what the
    /// engine's sweeper would delete (it passes `now - 60 s`). A sweep would have to `SCAN`
    /// the whole keyspace to find nothing, so none is offered.
    fn sweeper(&self) -> Option<&dyn Sweep> {
        None
    }
}
