//! The system under test: a durable `redis-server` of the bench's own and N server
//! processes linked by it, and what can be read of them from outside (RSS, CPU, their
//! `/metrics`, Redis's `INFO memory`).

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cluster::{self, Redis};
use crate::http::HttpConn;
use crate::server::{self, Server};

/// Sessions must outlive the run (an hour), so that no expiry disturbs it.
const SESSION_TTL_MS: &str = "3600000";

/// Redis's own account of its memory, and how many keys it holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RedisMemory {
    pub used_memory: u64,
    pub used_memory_rss: u64,
    pub keys: u64,
}

/// Redis and the servers. Dropping it kills them all.
pub struct Nodes {
    pub redis: Redis,
    pub servers: Vec<Server>,
}

impl Nodes {
    /// Starts the durable Redis (its append-only file, under `redis_dir`, fsynced at every
    /// write, so that the restart step finds every session again), then `n` processes of
    /// `command` with the same secret, `REDIS_URL` to it and `PORT=0`, all at once.
    pub async fn start(command: &str, n: usize, redis_dir: &Path) -> Result<Nodes, String> {
        let redis = Redis::start_durable(redis_dir).await?;
        let env: Vec<(String, String)> = [
            ("PORT", "0".to_owned()),
            ("REDIS_URL", redis.url()),
            ("SESSION_SECRET", cluster::random_secret()?),
            ("SESSION_TTL_MS", SESSION_TTL_MS.to_owned()),
            ("RUST_LOG", "error".to_owned()),
            ("NODE_ENV", "production".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let servers =
            futures_util::future::try_join_all((0..n).map(|_| Server::start(command, &env)))
                .await?;
        Ok(Nodes { redis, servers })
    }

    /// Each server's HTTP address.
    pub fn http(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.http).collect()
    }

    /// Each server's Socket.IO address (the same port as its HTTP for rust-counter).
    pub fn socket(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.socket).collect()
    }

    /// Each server's resident set size, in bytes.
    pub fn rss(&self) -> Vec<u64> {
        self.servers.iter().map(Server::rss_bytes).collect()
    }

    /// Each server's user + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Vec<f64> {
        self.servers.iter().map(Server::cpu_seconds).collect()
    }

    /// `redis-server`'s user + system CPU seconds so far (since its last start).
    pub fn redis_cpu_seconds(&self) -> f64 {
        server::cpu_seconds_of(self.redis.pid())
    }

    /// Every process started for the system under test (Redis's current one included).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.servers.iter().map(Server::pid).collect();
        pids.push(self.redis.pid());
        pids
    }

    /// Each server's own count of its connected sockets (`sessionio_sockets_connected`).
    pub async fn sockets_connected(&self) -> Result<Vec<usize>, String> {
        let reads = self.servers.iter().map(|s| async move {
            let mut conn = HttpConn::connect(s.http)
                .await
                .map_err(|e| format!("connect {}: {e}", s.http))?;
            let v = conn.metrics(&["sessionio_sockets_connected"]).await?;
            Ok::<_, String>(v[0] as usize)
        });
        futures_util::future::try_join_all(reads).await
    }

    /// `INFO memory` and `DBSIZE`.
    pub async fn redis_memory(&self) -> Result<RedisMemory, String> {
        let info = self.redis.command(&["INFO", "memory"]).await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| format!("INFO memory has no {name}"))
        };
        let keys = self.redis.command(&["DBSIZE"]).await?;
        Ok(RedisMemory {
            used_memory: field("used_memory")?,
            used_memory_rss: field("used_memory_rss")?,
            keys: keys
                .parse()
                .map_err(|_| format!("DBSIZE answered {keys:?}"))?,
        })
    }

    /// Stops the servers (all at once), then Redis.
    pub async fn stop(self) {
        futures_util::future::join_all(self.servers.into_iter().map(Server::stop)).await;
        self.redis.stop().await;
    }
}
