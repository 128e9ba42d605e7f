//! One lazily made, reconnecting connection to a Redis or a Redis Cluster, shared by the
//! Redis session store and the connect-redis reader: the URL is checked when it is made
//! (no runtime needed), the connection is made on the first call, and every call is
//! bounded.

use std::future::Future;
use std::time::Duration;

use redis::RedisError;
use tokio::sync::OnceCell;

use crate::redis_target::{Patience, RedisConn, RedisTarget};
use crate::{Error, Result};

/// The longest one call may take before it fails with `store unavailable`.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Per connection attempt and per command; the call as a whole is bounded by
/// [`CALL_TIMEOUT`].
const PATIENCE: Patience = Patience {
    io_timeout: Duration::from_millis(1_000),
    max_retry_delay: Duration::from_millis(200),
};

/// A Redis (or a Redis Cluster) named by a URL, reached through one [`RedisConn`].
pub(crate) struct RedisLink {
    target: RedisTarget,
    /// Made on first use, inside the runtime (building the engine needs none).
    conn: OnceCell<RedisConn>,
    /// Prefixes the `store unavailable` messages (`redis`, `connect-redis`).
    label: &'static str,
}

impl RedisLink {
    /// The Redis of `url`; a malformed URL is `bad_url`'s error. Nothing is connected.
    pub(crate) fn open(
        url: &str,
        label: &'static str,
        bad_url: impl Fn(String) -> Error,
    ) -> Result<Self> {
        Ok(RedisLink {
            target: RedisTarget::parse(url).map_err(bad_url)?,
            conn: OnceCell::new(),
            label,
        })
    }

    fn unavailable(&self, e: RedisError) -> Error {
        Error::StoreUnavailable(format!("{}: {e}", self.label))
    }

    /// The connection, created (not yet connected) on the first call.
    async fn connection(&self) -> Result<RedisConn> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let no_push: Option<fn(redis::PushInfo) -> std::result::Result<(), ()>> = None;
                (self.target.connect_lazily(PATIENCE, no_push)).map_err(|e| self.unavailable(e))
            })
            .await?;
        Ok(conn.clone())
    }

    /// Walks the keys matching `pattern` with `SCAN` (on every master of a cluster) and
    /// asks `count` of each (a command answering a number): how many keys answered more
    /// than 0, and the sum. Each call is bounded; the walk as a whole is as long as the
    /// keyspace.
    pub(crate) async fn count_per_key(
        &self,
        pattern: &str,
        count: impl Fn(&str) -> redis::Cmd,
    ) -> Result<(u64, u64)> {
        let keys = self
            .call(|mut conn| async move { conn.scan_keys(pattern).await })
            .await?;
        let (mut keys_counted, mut total) = (0u64, 0u64);
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
        Ok((keys_counted, total))
    }

    /// Runs one request against Redis, bounded by [`CALL_TIMEOUT`]. A refused connection
    /// means nothing was sent, so the request is tried once more on the reconnection the
    /// failure started (the first call after Redis returns then succeeds too).
    pub(crate) async fn call<T, F, Fut>(&self, request: F) -> Result<T>
    where
        F: Fn(RedisConn) -> Fut,
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
