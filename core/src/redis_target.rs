//! A Redis or a Redis Cluster named by a URL, and one reconnecting connection to either:
//! what the Redis store, the connect-redis reader and the adapter's bus all sit on.
//!
//! - `redis://[user:password@]host[:port][/db]` names one Redis.
//! - `redis-cluster://[user:password@]host:port[,host:port…]` names a Redis Cluster by
//!   some of its nodes (seeds; one reachable seed is enough, the client learns the rest and
//!   follows slot moves and failovers). A cluster has no databases, so no `/db`.
//!
//! Both connect lazily (building an engine needs no runtime and no Redis), speak RESP3 (so
//! a lost connection is noticed at once, and pub/sub messages arrive as pushes), and bound
//! every connection attempt and every command.

use std::time::Duration;

use redis::aio::{AsyncPushSender, ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};

/// The URL scheme of a Redis Cluster.
pub(crate) const CLUSTER_SCHEME: &str = "redis-cluster://";

/// A parsed `redis://` or `redis-cluster://` URL; nothing connected.
#[derive(Clone, Debug)]
pub(crate) enum RedisTarget {
    Single(ConnectionInfo),
    Cluster(Vec<ConnectionInfo>),
}

/// How a connection reconnects and how long it waits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patience {
    /// Per connection attempt and per command.
    pub io_timeout: Duration,
    /// The longest pause between reconnection attempts.
    pub max_retry_delay: Duration,
}

fn resp3(info: ConnectionInfo) -> ConnectionInfo {
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    info.set_redis_settings(settings)
}

impl RedisTarget {
    /// Parses `url`; the error says what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<RedisTarget, String> {
        let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) else {
            let info: ConnectionInfo = url.parse().map_err(|e: redis::RedisError| e.to_string())?;
            return Ok(RedisTarget::Single(resp3(info)));
        };
        // Credentials, if any, are written once before the first seed and hold for all.
        let (credentials, seeds) = match rest.rsplit_once('@') {
            Some((credentials, seeds)) => (Some(credentials), seeds),
            None => (None, rest),
        };
        let seeds = seeds.strip_suffix('/').unwrap_or(seeds);
        if seeds.is_empty() {
            return Err(
                "a cluster URL names at least one node: redis-cluster://host:port[,host:port…]"
                    .into(),
            );
        }
        let mut nodes = Vec::new();
        for seed in seeds.split(',') {
            if seed.contains('/') || !seed.contains(':') {
                return Err(format!(
                    "cluster node {seed:?} must be host:port (a cluster has no databases)"
                ));
            }
            let single = match credentials {
                Some(c) => format!("redis://{c}@{seed}"),
                None => format!("redis://{seed}"),
            };
            let info = single
                .into_connection_info()
                .map_err(|e| format!("cluster node {seed:?}: {e}"))?;
            nodes.push(resp3(info));
        }
        Ok(RedisTarget::Cluster(nodes))
    }

    /// A connection made in the background (inside the runtime): the first commands wait
    /// for it, and it comes back by itself after Redis (or a node) returns. `push` gets
    /// the pub/sub messages and the disconnection notices.
    pub(crate) fn connect_lazily(
        &self,
        patience: Patience,
        push: Option<impl AsyncPushSender>,
    ) -> RedisResult<RedisConn> {
        match self {
            RedisTarget::Single(info) => {
                let mut config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(patience.io_timeout))
                    .set_response_timeout(Some(patience.io_timeout))
                    // One quick retry per reconnect; the next call starts another, so a
                    // returning Redis is picked up on the next call.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(patience.max_retry_delay);
                if let Some(push) = push {
                    config = config.set_push_sender(push);
                }
                let client = redis::Client::open(info.clone())?;
                Ok(RedisConn::Single(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .retries(2)
                    .min_retry_wait(20)
                    .max_retry_wait(patience.max_retry_delay.as_millis() as u64)
                    .build()?;
                let mut config = ClusterConfig::new()
                    .set_connection_timeout(patience.io_timeout)
                    .set_response_timeout(patience.io_timeout);
                if let Some(push) = push {
                    config = config.set_push_sender(push);
                }
                Ok(RedisConn::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }
}

/// A connection to one Redis or to a Redis Cluster. Commands and pipelines go through
/// [`ConnectionLike`]; on a cluster each command goes to the node that holds its key (a
/// pipeline is split by node), so one command or script must never touch keys of two
/// slots.
#[derive(Clone)]
pub(crate) enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Subscribes `channels`: `SUBSCRIBE` on one Redis, sharded `SSUBSCRIBE` on a cluster
    /// (each channel lives on the node of its slot, and a publish reaches only that node).
    pub(crate) async fn subscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            RedisConn::Single(c) => c.subscribe(channels).await,
            // One SSUBSCRIBE names channels of one slot only: one each.
            RedisConn::Cluster(c) => {
                for channel in channels {
                    c.ssubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channel: String) -> RedisResult<()> {
        match self {
            RedisConn::Single(c) => c.unsubscribe(channel).await,
            RedisConn::Cluster(c) => c.sunsubscribe(channel).await,
        }
    }

    /// The publish command of this connection's pub/sub: `PUBLISH` or `SPUBLISH`. Either
    /// answers how many subscribers received the message.
    pub(crate) fn publish_cmd(&self) -> Cmd {
        redis::cmd(match self {
            RedisConn::Single(_) => "PUBLISH",
            RedisConn::Cluster(_) => "SPUBLISH",
        })
    }

    /// `PUBSUB NUMSUB` or `PUBSUB SHARDNUMSUB`, for one channel.
    pub(crate) fn numsub_cmd(&self, channel: &str) -> Cmd {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg(match self {
            RedisConn::Single(_) => "NUMSUB",
            RedisConn::Cluster(_) => "SHARDNUMSUB",
        })
        .arg(channel);
        cmd
    }

    /// Walks every key matching `pattern` with `SCAN` (on every master of a cluster).
    pub(crate) async fn scan_keys(&mut self, pattern: &str) -> RedisResult<Vec<String>> {
        let nodes = match self {
            RedisConn::Single(_) => vec![None],
            RedisConn::Cluster(c) => masters(c).await?.into_iter().map(Some).collect(),
        };
        let mut keys = Vec::new();
        for node in nodes {
            let mut cursor = 0u64;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let answer = match (&mut *self, &node) {
                    (RedisConn::Cluster(c), Some((host, port))) => {
                        let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        c.route_command(cmd, to).await?
                    }
                    (conn, _) => cmd.query_async(conn).await?,
                };
                let (next, page): (u64, Vec<String>) = redis::from_redis_value(answer)?;
                keys.extend(page);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys)
    }
}

/// The masters of a cluster, from `CLUSTER SHARDS`-free `CLUSTER SLOTS` (Redis ≥ 3):
/// each slot range's first node is its master.
async fn masters(conn: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let slots: Vec<Vec<Value>> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut masters: Vec<(String, u16)> = Vec::new();
    for range in slots {
        let Some(master) = range.into_iter().nth(2) else {
            continue;
        };
        let node: Vec<Value> = redis::from_redis_value(master)?;
        let mut node = node.into_iter();
        let (Some(host), Some(port)) = (node.next(), node.next()) else {
            continue;
        };
        let address = (
            redis::from_redis_value::<String>(host)?,
            redis::from_redis_value::<u16>(port)?,
        );
        if !masters.contains(&address) {
            masters.push(address);
        }
    }
    Ok(masters)
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_one_redis_or_a_cluster() {
        assert!(matches!(
            RedisTarget::parse("redis://127.0.0.1:6379/2"),
            Ok(RedisTarget::Single(_))
        ));
        let Ok(RedisTarget::Cluster(nodes)) =
            RedisTarget::parse("redis-cluster://u:p@127.0.0.1:7000,127.0.0.1:7001")
        else {
            panic!("a cluster URL");
        };
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].redis_settings().password(), Some("p"));
        for bad in [
            "redis-cluster://",
            "redis-cluster://127.0.0.1:7000/2",
            "redis-cluster://127.0.0.1",
            "redis://127.0.0.1:notaport",
        ] {
            assert!(RedisTarget::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
