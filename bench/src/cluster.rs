//! Cross-node notify latency: two server processes linked by one Redis (their own
//! `redis-server`), sessions created on A, their sockets open on B; `POST /incr` on A
//! until every socket of the session on B received the new count, and the same on B
//! alone as a reference, both sampled in one run under the same background load.
//!
//! ```text
//! sessionio-bench cluster --command '<shell cmd of the server>' --out cluster.json [--quick]
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::client::{self, Probe, Totals};
use crate::http::HttpConn;
use crate::scenario::{self, percentile, Rng};
use crate::server::{self, cpu_seconds_of, own_cpu_seconds, Server};

const REDIS_BIN: &str = "redis-server";
/// How long `redis-server` may take to answer PING after its start.
const REDIS_READY: Duration = Duration::from_secs(15);
const PING_TIMEOUT: Duration = Duration::from_millis(500);
const WAIT_COUNT: Duration = Duration::from_secs(10);

/// One latency distribution.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub(crate) fn of(mut ms: Vec<f64>) -> Latency {
        ms.sort_by(f64::total_cmp);
        Latency {
            samples: ms.len(),
            p50_ms: percentile(&ms, 0.50),
            p99_ms: percentile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Everything the cluster bench measured (bench/out/cluster.json).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Cluster {
    /// The shell command of each server process.
    pub command: String,
    /// This bench's own command line.
    pub bench_command: String,
    pub quick: bool,
    /// `v=` of `redis-server --version`.
    pub redis_version: String,
    pub sessions: usize,
    /// Sockets open on B (two per session).
    pub conns: usize,
    pub handshakes_per_s: f64,
    /// POST /incr on A → every socket of the session on B.
    pub cross_node: Latency,
    /// POST /incr on B → every socket of the session on B (the reference).
    pub same_node: Latency,
    /// Background POST /incr per second on A during the sampling.
    pub background_rps: f64,
    /// Wall seconds of the sampling phase (background load + both kinds of samples).
    pub sampling_s: f64,
    /// CPU seconds (utime + stime) during the sampling phase.
    pub cpu_a_s: f64,
    pub cpu_b_s: f64,
    pub cpu_redis_s: f64,
    pub cpu_generator_s: f64,
}

/// A private `redis-server`: a free loopback port, its own temporary directory, no
/// persistence unless started [`durable`](Redis::start_durable). Dropping it kills the
/// process and removes the directory.
pub(crate) struct Redis {
    child: Child,
    pid: u32,
    port: u16,
    dir: PathBuf,
    durable: bool,
}

impl Redis {
    /// A Redis that keeps nothing on disk (what the benches measure against).
    pub(crate) async fn start() -> Result<Redis, String> {
        Redis::start_with(false, &std::env::temp_dir()).await
    }

    /// A Redis whose every write is in its append-only file, fsynced before it answers
    /// (`--appendonly yes --appendfsync always`), in a new directory under `parent`:
    /// killed with SIGKILL and [restarted](Redis::restart), it still holds every session
    /// it acknowledged.
    pub(crate) async fn start_durable(parent: &Path) -> Result<Redis, String> {
        Redis::start_with(true, parent).await
    }

    async fn start_with(durable: bool, parent: &Path) -> Result<Redis, String> {
        let port = crate::free_port()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = parent.join(format!(
            "sessionio-bench-redis-{}-{port}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let child = match spawn(port, &dir, durable) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let pid = child.id().unwrap_or(0);
        // From here on, dropping `redis` (an early return) kills it and removes `dir`.
        let mut redis = Redis {
            child,
            pid,
            port,
            dir,
            durable,
        };
        redis.wait_ready(Duration::from_millis(50)).await?;
        Ok(redis)
    }

    /// Polls PING every `every` until it answers; fails once the process exited or
    /// [`REDIS_READY`] passed.
    async fn wait_ready(&mut self, every: Duration) -> Result<(), String> {
        let deadline = Instant::now() + REDIS_READY;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{REDIS_BIN} exited ({status}) before answering PING: {}",
                    self.log_tail()
                ));
            }
            let Err(last) = ping(self.port).await else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{REDIS_BIN} on port {} did not answer PING within {REDIS_READY:?} \
                     (last: {last}); log: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(every).await;
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The running `redis-server`'s pid (a new one after [`restart`](Redis::restart)).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// One command (`["INFO", "memory"]`): its reply as text (a status, an integer or a
    /// bulk string), or the error Redis answered.
    pub(crate) async fn command(&self, args: &[&str]) -> Result<String, String> {
        command(self.port, args).await
    }

    /// SIGKILL, as a crash would: nothing is flushed beyond what the append-only file
    /// already holds. Returns once the process is gone.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts `redis-server` again on the same port and directory (after
    /// [`kill`](Redis::kill)), so that a durable one reloads its append-only file; returns
    /// once it answers PING, polled every 10 ms so that the moment is close to the real one.
    pub(crate) async fn restart(&mut self) -> Result<(), String> {
        self.child = spawn(self.port, &self.dir, self.durable)?;
        self.pid = self.child.id().unwrap_or(0);
        self.wait_ready(Duration::from_millis(10)).await
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// SIGTERM, up to 5 s for the exit, then SIGKILL; the directory goes with the drop.
    pub(crate) async fn stop(mut self) {
        if self.pid != 0 {
            // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
            unsafe {
                libc::kill(self.pid as i32, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Already exited after `stop`; otherwise an error path or an interruption.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-server` on `port` with its files in `dir`: an append-only file fsynced at every
/// write when `durable`, else nothing on disk.
fn spawn(port: u16, dir: &Path, durable: bool) -> Result<Child, String> {
    let mut cmd = Command::new(REDIS_BIN);
    cmd.args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", if durable { "yes" } else { "no" }])
        .args(["--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    server::die_with_parent(&mut cmd);
    cmd.spawn().map_err(|e| {
        format!("cannot start {REDIS_BIN} (Debian: apt-get install redis-server): {e}")
    })
}

/// One PING, answered `PONG` within `PING_TIMEOUT`.
async fn ping(port: u16) -> Result<(), String> {
    let answer = tokio::time::timeout(PING_TIMEOUT, command(port, &["PING"]))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {PING_TIMEOUT:?}")))?;
    if answer == "PONG" {
        Ok(())
    } else {
        Err(format!("answered {answer:?}"))
    }
}

/// One command over a fresh RESP connection: a status, an integer or a bulk string as
/// text, or the error Redis answered. No client library: the benches need a handful of
/// commands (PING, INFO, DBSIZE).
async fn command(port: u16, args: &[&str]) -> Result<String, String> {
    let s = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let mut s = tokio::io::BufReader::new(s);
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.get_mut()
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    s.read_line(&mut line).await.map_err(|e| e.to_string())?;
    let line = line.trim_end();
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => Err(format!("redis answered {rest:?}")),
        "$" => {
            let len: usize = rest
                .parse()
                .map_err(|_| format!("bad bulk length {line:?}"))?;
            let mut body = vec![0u8; len + 2];
            s.read_exact(&mut body).await.map_err(|e| e.to_string())?;
            body.truncate(len);
            String::from_utf8(body).map_err(|e| e.to_string())
        }
        _ => Err(format!("unexpected reply {line:?}")),
    }
}

/// `7.0.15` from `Redis server v=7.0.15 sha=…`.
pub(crate) fn redis_version() -> String {
    std::process::Command::new(REDIS_BIN)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace()
                .find_map(|w| w.strip_prefix("v="))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// 32 random bytes as 64 hex characters (the servers require ≥ 32 bytes).
pub(crate) fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: sessionio-bench cluster --command '<shell command of the server>' --out cluster.json [--quick]"
    );
    std::process::exit(2)
}

/// Resolves on Ctrl-C or SIGTERM, so that Redis and the servers are cleaned up.
pub(crate) async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

pub async fn run(args: &[String]) -> Result<(), String> {
    let mut command = None;
    let mut out = None;
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--command" => command = it.next().cloned(),
            "--out" => out = it.next().cloned(),
            "--quick" => quick = true,
            _ => usage(),
        }
    }
    let (Some(command), Some(out)) = (command, out) else {
        usage()
    };
    let (sessions, samples) = if quick { (250, 100) } else { (2500, 1000) };
    server::raise_fd_limit();
    let bench_command = std::iter::once("target/release/sessionio-bench".to_owned())
        .chain(std::iter::once("cluster".to_owned()))
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");

    let redis = Redis::start().await?;
    eprintln!(
        "== cluster: redis-server {} on {}, two servers `{command}`",
        redis_version(),
        redis.url()
    );
    let result = tokio::select! {
        r = measure(&redis, &command, sessions, samples) => r,
        _ = interrupted() => Err("interrupted".into()),
    };
    redis.stop().await;
    let mut r = result?;
    r.bench_command = bench_command;
    r.quick = quick;
    let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    eprintln!("{json}");
    crate::output::write(&out, &json)
}

/// Starts A and B on `redis`, measures, stops them (an error or an interruption drops
/// them instead, which kills them).
async fn measure(
    redis: &Redis,
    command: &str,
    sessions: usize,
    samples: usize,
) -> Result<Cluster, String> {
    let shared = [
        ("SESSION_SECRET", random_secret()?),
        ("REDIS_URL", redis.url()),
        ("SESSION_TTL_MS", "3600000".to_owned()),
    ];
    let a = Server::start(command, &crate::env_for(&shared)?).await?;
    let b = Server::start(command, &crate::env_for(&shared)?).await?;
    let r = sample(&a, &b, redis.pid, sessions, samples).await;
    a.stop().await;
    b.stop().await;
    let mut r = r?;
    r.command = command.to_owned();
    r.redis_version = redis_version();
    Ok(r)
}

/// Waits until every probe got a count ≥ `n`: milliseconds since `t0`.
pub(crate) async fn all_received(probes: &[Probe], n: u64, t0: Instant) -> Result<f64, String> {
    let mut last = t0;
    for p in probes {
        last = last.max(client::wait_count(p, n, WAIT_COUNT).await?);
    }
    Ok((last - t0).as_secs_f64() * 1e3)
}

async fn sample(
    a: &Server,
    b: &Server,
    redis_pid: u32,
    sessions: usize,
    samples: usize,
) -> Result<Cluster, String> {
    scenario::fresh_sources();
    eprintln!("  {sessions} sessions created on A, 2 sockets each opened on B");
    let cookies = scenario::create_sessions(a.http, sessions).await?;
    let totals = Arc::new(Totals::default());
    let (probes, took) = scenario::open_sockets(b.socket, &cookies, 2, 0, &totals).await?;
    let conns = sessions * 2;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // As in the `main` scenario: background increments on A to the first half of the
    // sessions, samples on the other half so that no background increment stands in for
    // a sampled one.
    let half = sessions / 2;
    let cookies = Arc::new(cookies);
    let cpu0 = (
        a.cpu_seconds(),
        b.cpu_seconds(),
        cpu_seconds_of(redis_pid),
        own_cpu_seconds(),
    );
    let background = scenario::BackgroundLoad::start(a.http, cookies.clone(), half);
    let connect = |addr: SocketAddr| async move {
        HttpConn::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))
    };
    let (mut on_a, mut on_b) = (connect(a.http).await?, connect(b.http).await?);
    let mut rng = Rng::new(42);
    let (mut cross, mut same) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    eprintln!("  {samples} samples of each case, interleaved");
    let sampled = async {
        for _ in 0..samples {
            // Cross-node: A's HTTP → B's sockets.
            let s = half + rng.below(sessions - half);
            let t0 = Instant::now();
            let n = on_a.incr(&cookies[s]).await?;
            cross.push(all_received(&probes[s], n, t0).await?);
            // Same node (reference): B's HTTP → B's sockets.
            let s = half + rng.below(sessions - half);
            let t0 = Instant::now();
            let n = on_b.incr(&cookies[s]).await?;
            same.push(all_received(&probes[s], n, t0).await?);
        }
        Ok::<_, String>(())
    }
    .await;
    let (sampling_s, background_rps) = background.finish().await?;
    sampled?;
    let cpu1 = (
        a.cpu_seconds(),
        b.cpu_seconds(),
        cpu_seconds_of(redis_pid),
        own_cpu_seconds(),
    );
    drop(probes);
    Ok(Cluster {
        sessions,
        conns,
        handshakes_per_s: conns as f64 / took.as_secs_f64(),
        cross_node: Latency::of(cross),
        same_node: Latency::of(same),
        background_rps,
        sampling_s,
        cpu_a_s: cpu1.0 - cpu0.0,
        cpu_b_s: cpu1.1 - cpu0.1,
        cpu_redis_s: cpu1.2 - cpu0.2,
        cpu_generator_s: cpu1.3 - cpu0.3,
        ..Default::default()
    })
}
