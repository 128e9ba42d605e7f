//! What a scale run measured (bench/out/scale.json), and the checks it failed.

use serde::{Deserialize, Serialize};

use super::nodes::RedisMemory;
use crate::cluster::Latency;

/// CPU seconds (user + system) used by each kind of process over one phase.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Cpu {
    /// Wall seconds of the phase.
    pub secs: f64,
    /// Each server process.
    pub servers: Vec<f64>,
    pub redis: f64,
    /// Each load-generator process.
    pub workers: Vec<f64>,
    /// The parent (the probes' sockets and HTTP).
    pub bench: f64,
    /// Every process on the machine, the run's and any other.
    pub machine: f64,
    /// Seconds during which some runnable task waited for a CPU (the kernel's CPU
    /// pressure, `some`); NaN without /proc/pressure.
    pub waiting: f64,
}

impl Cpu {
    /// The servers' CPU seconds, summed.
    pub fn servers_total(&self) -> f64 {
        self.servers.iter().sum()
    }

    /// The load generators' CPU seconds, summed.
    pub fn workers_total(&self) -> f64 {
        self.workers.iter().sum()
    }

    /// The busiest server: (its index, CPU seconds).
    pub fn busiest_server(&self) -> (usize, f64) {
        self.servers
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0))
    }

    /// `seconds` of CPU as a share of one core over the phase.
    pub fn share(&self, seconds: f64) -> f64 {
        if self.secs > 0.0 {
            seconds / self.secs
        } else {
            f64::NAN
        }
    }
}

/// Sockets held at full size.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Sockets {
    /// Held by the load generators.
    pub workers: usize,
    /// Held by the parent (notify and logout probes).
    pub probes: usize,
    pub total: usize,
    /// Per server process, as the clients count them.
    pub per_server: Vec<usize>,
    /// Per server process, as each server counts them (`sessionio_sockets_connected`).
    pub per_server_reported: Vec<usize>,
}

/// Server RSS per process at three moments.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Rss {
    /// Just started, nothing done.
    pub idle: Vec<u64>,
    /// Every session created, no socket open.
    pub sessions: Vec<u64>,
    /// Every socket open.
    pub full: Vec<u64>,
    /// (Σ full − Σ idle) ÷ sockets.
    pub per_conn: f64,
    /// (Σ full − Σ sessions) ÷ sockets: the sockets alone.
    pub per_conn_marginal: f64,
    /// Each load generator's RSS at full size (the client side, for scale).
    pub workers_full: Vec<u64>,
}

/// The load generators' background `POST /incr`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Background {
    /// Asked, per second, in all.
    pub rate: f64,
    pub posts: u64,
    /// Achieved, per second, in all.
    pub rate_done: f64,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// `POST /incr` sent while Redis was down.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DownPosts {
    pub sent: usize,
    /// (HTTP status or `"error"`, body, count).
    pub answers: Vec<(String, String, usize)>,
    /// The slowest answer, ms.
    pub max_answer_ms: f64,
    /// Sockets of those sessions that received a `"current count"` for them.
    pub events_seen: usize,
    /// Each of those sessions answered the next `POST /incr` once Redis was back with
    /// its count before the outage + 1, and its sockets received it.
    pub counts_kept: bool,
}

/// Redis killed (SIGKILL) with every socket connected, then started again on the same
/// port from its append-only file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Restart {
    /// Sockets open just before the kill (clients' count).
    pub sockets_before: usize,
    /// Sockets open after Redis was back and notify worked (clients' count).
    pub sockets_after: usize,
    /// The servers' own count afterwards.
    pub sockets_after_reported: usize,
    /// Keys in Redis before the kill and after the restart.
    pub keys_before: u64,
    pub keys_after: u64,
    /// From the kill to the new `redis-server`'s start.
    pub down_s: f64,
    /// From the new `redis-server`'s start to its first PONG.
    pub pong_s: f64,
    /// From the new `redis-server`'s start to the first cross-node notify delivered
    /// (`POST /incr` on one node, the session's sockets on two others).
    pub notify_back_s: f64,
    /// `POST /incr` tried before that one (refused, or answered but not delivered).
    pub notify_attempts: usize,
    /// Of those, answered 200 but their count had not reached the sockets 100 ms later.
    pub notify_undelivered: usize,
    pub down_posts: DownPosts,
    /// A new socket for an existing session connects after the restart.
    pub handshake_after: bool,
}

/// Everything `sessionio-bench scale` measured.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Scale {
    /// The server's shell command.
    pub command: String,
    /// This bench's command line.
    pub bench_command: String,
    pub quick: bool,
    pub redis_version: String,
    /// Where Redis's append-only file was (a new directory under it).
    pub redis_dir: String,
    pub cpus: usize,
    pub servers: usize,
    pub workers: usize,
    /// Handshakes in flight per load generator.
    pub connect_concurrency: usize,
    /// The load generators' niceness (0 in the results of runs before it was set).
    #[serde(default)]
    pub generators_nice: i32,
    /// The load generators' sessions (two sockets each, on two nodes).
    pub sessions: usize,
    pub notify_sessions: usize,
    pub logout_sessions: usize,
    pub sockets: Sockets,
    /// Creating every session (`GET /` on its home node).
    pub create_s: f64,
    /// Opening the generators' sockets, from the order to the last report.
    pub connect_s: f64,
    pub handshakes_per_s: f64,
    pub rss: Rss,
    pub redis_before: RedisMemory,
    pub redis_full: RedisMemory,
    pub notify: Latency,
    /// The same samples' `POST /incr` answer time on the session's node. The handler
    /// notifies before it answers, so a sample's count may reach the sockets before the
    /// answer reaches the bench.
    pub notify_answer: Latency,
    pub background: Background,
    pub logout: Latency,
    /// CPU while the generators connected.
    pub cpu_connect: Cpu,
    /// CPU while notify and logout were sampled under the background load.
    pub cpu_sampling: Cpu,
    /// CPU with every socket connected and nothing but pings.
    pub cpu_idle: Cpu,
    pub restart: Restart,
    /// Processes of the run still there after it stopped them.
    pub leftovers: Vec<u32>,
    /// Every check that failed (empty when all passed).
    pub failed_checks: Vec<String>,
}

impl Scale {
    /// Server CPU seconds per minute with only pings, summed over the servers.
    pub fn idle_cpu_per_min(&self, seconds: f64) -> f64 {
        if self.cpu_idle.secs > 0.0 {
            seconds * 60.0 / self.cpu_idle.secs
        } else {
            f64::NAN
        }
    }
}
