//! The shared store for several processes: sessions in one Redis (≥ 7), reached with the
//! `redis` crate through a reconnecting [`ConnectionManager`].
//!
//! Each record is a hash at `sessionio:session:<id>` with the fields `data` (the JSON
//! object), `expires_at` (unix ms) and `version`. Every write that must be atomic across
//! processes is one Lua script (sent with `EVALSHA`, loaded again after a Redis restart):
//! `create` only if the key is absent, `replace` only if `version` still matches, `touch`
//! only if the session is live.
//!
//! **Expiry lives in Redis.** Each write sets the key's `PEXPIREAT` to `expires_at` plus
//! [`EXPIRED_GRACE_MS`]: the engine's sweeper keeps an expired record for that minute so
//! its cookie is told `session expired` rather than `invalid session`, and Redis then drops
//! it on every node at the same instant. So this store has no
//! [`sweeper`](SessionStore::sweeper): the engine never sweeps it.
//!
//! **Counting.** A sorted set, `sessionio:sessions`, holds every session id scored by the
//! instant Redis drops its key; the scripts that write a key keep its score in step, and
//! [`count`](SessionStore::count) first removes the ids whose key is gone by now, then
//! answers the set's size (sessions created before the set existed are not counted).
//!
//! **Users.** A record bound to a user also has the fields `user` (its user id) and
//! `login` (JSON), and its id is in the sorted set `sessionio:user:<user id>`, scored like
//! the count's index; the scripts that write the key keep it in step, `delete` removes it,
//! and the set's key is dropped with its last session.
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

/// The sorted set of the session ids, scored by the instant Redis drops each key.
const INDEX_KEY: &str = "sessionio:sessions";

/// The key of a user's sorted set of sessions.
const USER_PREFIX: &str = "sessionio:user:";

/// Lua shared by the scripts that write a session bound to a user: its entry in the user's
/// sorted set, scored (like the count's index) by the instant Redis drops the session's
/// key. The set's own key is dropped with its last session, and every write to it first
/// removes the entries of keys already dropped, so no entry outlives its session. (The
/// set's key is derived here from the record's `user` field: these scripts need a single
/// Redis, not a cluster.)
const USER_INDEX_LUA: &str = r"
local function index_user(user, id, drop_at, now)
  local set = 'sessionio:user:' .. user
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  redis.call('ZADD', set, drop_at, id)
  local last = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', set, last[2])
end
";

/// KEYS = key, index; ARGV = data, expires_at, pexpireat, id, user ('' for none), login
/// JSON, now. 1 if created, 0 if the id is taken.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'expires_at', ARGV[2], 'version', '0')
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'user', ARGV[5], 'login', ARGV[6])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then index_user(ARGV[5], ARGV[4], ARGV[3], ARGV[7]) end
return 1
";

/// KEYS = key, index; ARGV = expected version, data, expires_at, pexpireat, id, user
/// ('' for none), login JSON, now. 1 if swapped, 0 on a version mismatch, a missing key or
/// another user. Versions are compared as strings (Lua numbers are doubles).
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
local user = redis.call('HGET', KEYS[1], 'user') or ''
if user ~= ARGV[6] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'expires_at', ARGV[3])
if user ~= '' then redis.call('HSET', KEYS[1], 'login', ARGV[7]) end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
if user ~= '' then index_user(user, ARGV[5], ARGV[4], ARGV[8]) end
return 1
";

/// KEYS = key, index; ARGV = expires_at, now, pexpireat, id. 0 missing, 1 expired, 2
/// extended (never backwards).
const TOUCH: &str = r"
local current = redis.call('HGET', KEYS[1], 'expires_at')
if not current then return 0 end
if tonumber(current) <= tonumber(ARGV[2]) then return 1 end
if tonumber(ARGV[1]) > tonumber(current) then
  redis.call('HSET', KEYS[1], 'expires_at', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  local user = redis.call('HGET', KEYS[1], 'user')
  if user then index_user(user, ARGV[4], ARGV[3], ARGV[2]) end
end
return 2
";

/// KEYS = key, index; ARGV = id. The number of keys deleted.
const DELETE: &str = r"
local user = redis.call('HGET', KEYS[1], 'user')
if user then redis.call('ZREM', 'sessionio:user:' .. user, ARGV[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
";

/// KEYS = index; ARGV = now. Forgets the ids whose key Redis has dropped, then counts.
const COUNT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])
";

/// KEYS = the user's set; ARGV = now. Forgets the entries of dropped keys, then answers
/// `{id, data, expires_at, version, login}` for each session still there.
const USER_SESSIONS: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', 'sessionio:session:' .. id, 'data', 'expires_at', 'version', 'login')
  if f[1] then
    table.insert(out, {id, f[1], f[2], f[3], f[4]})
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
";

/// Sessions in Redis; `store_url("redis://host:port[/db]")`.
pub struct RedisStore {
    link: RedisLink,
    create: Script,
    replace: Script,
    touch: Script,
    delete: Script,
    count: Script,
    user_sessions: Script,
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
            link,
            create: Script::new(&format!("{USER_INDEX_LUA}{CREATE}")),
            replace: Script::new(&format!("{USER_INDEX_LUA}{REPLACE}")),
            touch: Script::new(&format!("{USER_INDEX_LUA}{TOUCH}")),
            delete: Script::new(DELETE),
            count: Script::new(COUNT),
            user_sessions: Script::new(USER_SESSIONS),
            writers: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
        })
    }

    fn writer_lock(&self, id: &SessionId) -> &Mutex<()> {
        &self.writers[self.hasher.hash_one(id) as usize % WRITE_STRIPES]
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
            let created: i64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.create.prepare_invoke();
                    script
                        .key(&key)
                        .key(INDEX_KEY)
                        .arg(&data)
                        .arg(record.expires_at)
                        .arg(drop_at(record.expires_at))
                        .arg(record.id.to_string())
                        .arg(&user)
                        .arg(&login)
                        .arg(now_arg());
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
            let swapped: i64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.replace.prepare_invoke();
                    script
                        .key(&key)
                        .key(INDEX_KEY)
                        .arg(expected_version)
                        .arg(&data)
                        .arg(record.expires_at)
                        .arg(drop_at(record.expires_at))
                        .arg(record.id.to_string())
                        .arg(&user)
                        .arg(&login)
                        .arg(now_arg());
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            Ok(swapped == 1)
        })
    }

    fn touch(&self, id: SessionId, expires_at: u64, now_ms: u64) -> BoxFuture<'_, Result<Touch>> {
        Box::pin(async move {
            let key = key(id);
            let found: i64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.touch.prepare_invoke();
                    script
                        .key(&key)
                        .key(INDEX_KEY)
                        .arg(expires_at)
                        .arg(now_ms)
                        .arg(drop_at(expires_at))
                        .arg(id.to_string());
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            Ok(match found {
                2 => Touch::Extended,
                1 => Touch::Expired,
                _ => Touch::Missing,
            })
        })
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
            let deleted: i64 = self
                .link
                .call(|mut conn| {
                    let mut script = self.delete.prepare_invoke();
                    script.key(&key).key(INDEX_KEY).arg(id.to_string());
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
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

    fn user_sessions<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<Record>>> {
        Box::pin(async move {
            let set = format!("{USER_PREFIX}{user_id}");
            type Row = (String, String, String, String, Option<String>);
            let rows: Vec<Row> = self
                .link
                .call(|mut conn| {
                    let mut script = self.user_sessions.prepare_invoke();
                    script.key(&set).arg(now_arg());
                    async move { script.invoke_async(&mut conn).await }
                })
                .await?;
            let mut records = Vec::with_capacity(rows.len());
            for (id, data, expires_at, version, login) in rows {
                // Members the engine did not write are not its sessions.
                let Ok(id) = id.parse::<SessionId>() else {
                    continue;
                };
                records.extend(decode(
                    id,
                    (Some(data), Some(expires_at), Some(version), login),
                )?);
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
