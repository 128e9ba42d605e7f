//! One lazily made, reconnecting connection to a Redis, shared by the Redis session store
//! and the connect-redis reader: the URL is checked when it is made (no runtime needed),
//! the connection is made on the first call, and every call is bounded.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};
use tokio::sync::OnceCell;

use crate::{Error, Result};

/// The longest one call may take before it fails with `store unavailable`.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Per connection attempt and per command; the call as a whole is bounded by
/// [`CALL_TIMEOUT`].
const IO_TIMEOUT: Duration = Duration::from_millis(1_000);

/// A Redis named by a URL, reached through one [`ConnectionManager`].
pub(crate) struct RedisLink {
    client: Client,
    /// Made on first use, inside the runtime (building the engine needs none).
    manager: OnceCell<ConnectionManager>,
    /// Prefixes the `store unavailable` messages (`redis`, `connect-redis`).
    label: &'static str,
}

impl RedisLink {
    /// The Redis of `url`; a malformed URL is `bad_url`'s error. Nothing is connected.
    pub(crate) fn open(
        url: &str,
        label: &'static str,
        bad_url: impl Fn(RedisError) -> Error,
    ) -> Result<Self> {
        let info: redis::ConnectionInfo = url.parse().map_err(&bad_url)?;
        // RESP3: the connection tells the manager at once when Redis goes away, so it
        // reconnects before the next call instead of failing that call on a dead socket.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings)).map_err(&bad_url)?;
        Ok(RedisLink {
            client,
            manager: OnceCell::new(),
            label,
        })
    }

    fn unavailable(&self, e: RedisError) -> Error {
        Error::StoreUnavailable(format!("{}: {e}", self.label))
    }

    /// The connection manager, created (not yet connected) on the first call.
    async fn connection(&self) -> Result<ConnectionManager> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(IO_TIMEOUT))
                    .set_response_timeout(Some(IO_TIMEOUT))
                    // One quick retry per reconnect; the next call starts another, so a
                    // returning Redis is picked up on the next call.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .map_err(|e| self.unavailable(e))
            })
            .await?;
        Ok(manager.clone())
    }

    /// Walks the keys matching `pattern` with `SCAN` and asks `count` of each (a command
    /// answering a number): how many keys answered more than 0, and the sum. Each call is
    /// bounded; the walk as a whole is as long as the keyspace.
    pub(crate) async fn count_per_key(
        &self,
        pattern: &str,
        count: impl Fn(&str) -> redis::Cmd,
    ) -> Result<(u64, u64)> {
        let (mut keys_counted, mut total) = (0u64, 0u64);
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .call(|mut conn| {
                    let mut cmd = redis::cmd("SCAN");
                    cmd.arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000);
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            for key in keys {
                let cmd = count(&key);
                let n: u64 = self
                    .call(|mut conn| {
                        let cmd = cmd.clone();
                        async move { cmd.query_async(&mut conn).await }
                    })
                    .await?;
                keys_counted += u64::from(n > 0);
                total += n;
            }
            if next == 0 {
                return Ok((keys_counted, total));
            }
            cursor = next;
        }
    }

    /// Runs one request against Redis, bounded by [`CALL_TIMEOUT`]. A refused connection
    /// means nothing was sent, so the request is tried once more on the reconnection the
    /// failure started (the first call after Redis returns then succeeds too).
    pub(crate) async fn call<T, F, Fut>(&self, request: F) -> Result<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            match request(conn.clone()).await {
                Err(e) if e.is_connection_refusal() => {
                    request(conn).await.map_err(|e| self.unavailable(e))
                }
                other => other.map_err(|e| self.unavailable(e)),
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(Error::StoreUnavailable(format!(
                    "{}: no answer within {} ms",
                    self.label,
                    CALL_TIMEOUT.as_millis()
                )))
            })
    }
}
