//! The scale bench's command line and the sizes it implies (`--quick` shrinks them to a
//! test that finishes in well under a minute).

use std::path::PathBuf;
use std::time::Duration;

/// At most this many sockets per load-generator process: each holds one descriptor per
/// socket, and a process may hold 20 000 here (the hard RLIMIT_NOFILE).
pub const MAX_SOCKETS_PER_WORKER: usize = 15_000;

/// Handshakes in flight per load generator. With one source address per generator this is
/// also the most Engine.IO sessions one client address has pending on any server, and it
/// stays below the servers' default admission bounds (256 per address, 4096 in all), so
/// no handshake is refused and no bound needs raising.
pub const CONNECT_CONCURRENCY: usize = 64;

/// The load generators' default niceness ([`Options::generators_nice`]).
pub const GENERATORS_NICE: i32 = 10;

/// Everything one run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's shell command (run by `sh -c`; it should `exec` the server).
    pub command: String,
    pub out: String,
    pub markdown: Option<String>,
    pub quick: bool,
    /// Server processes on the one Redis.
    pub servers: usize,
    /// Sockets the load generators hold, in all (two per session).
    pub sockets: usize,
    /// Sessions of the parent whose sockets time the cross-node notify.
    pub notify_sessions: usize,
    pub notify_samples: usize,
    /// Sessions of the parent logged out one at a time (one sample each).
    pub logout_sessions: usize,
    /// Background `POST /incr` per second from the load generators, in all.
    pub background_rate: f64,
    /// How long the idle cost is measured (only pings on every socket).
    pub idle: Duration,
    /// The whole run's bound: past it the run fails and everything is killed.
    pub deadline: Duration,
    /// Where Redis's append-only file goes (in a new directory, removed at the end).
    pub redis_dir: PathBuf,
    /// The load generators' niceness (`setpriority`, 0 to 19). They stand for clients
    /// on other machines, which would take none of the servers' CPU; here they share it,
    /// and at the default 10 they get what the servers, Redis and the probes leave.
    pub generators_nice: i32,
}

impl Options {
    /// Load-generator processes: enough to keep each under [`MAX_SOCKETS_PER_WORKER`],
    /// and at least two, so that the quick run goes through the same spreading as the full one.
    pub fn workers(&self) -> usize {
        self.sockets.div_ceil(MAX_SOCKETS_PER_WORKER).max(2)
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: sessionio-bench scale --command '<shell command of the server>' --out scale.json \
         [--markdown scale.md] [--quick] [--servers 8] [--sockets 140000] [--rate 200] \
         [--idle-secs 60] [--deadline-secs 1200] [--redis-dir /dev/shm] [--generators-nice 10]"
    );
    std::process::exit(2)
}

/// Parses `scale`'s arguments (after the subcommand); a bad one prints the usage and
/// exits with 2.
pub fn parse(args: &[String]) -> Options {
    let (mut command, mut out, mut markdown, mut quick) = (None, None, None, false);
    let (mut servers, mut sockets, mut rate, mut idle, mut deadline) =
        (None, None, None, None, None);
    let (mut redis_dir, mut generators_nice) = (None, None);
    let mut it = args.iter();
    let number = |v: Option<&String>| -> f64 {
        v.and_then(|v| v.parse::<f64>().ok())
            .filter(|n| *n > 0.0)
            .unwrap_or_else(|| usage())
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--command" => command = it.next().cloned(),
            "--out" => out = it.next().cloned(),
            "--markdown" => markdown = it.next().cloned(),
            "--quick" => quick = true,
            "--servers" => servers = Some(number(it.next()) as usize),
            "--sockets" => sockets = Some(number(it.next()) as usize),
            "--rate" => rate = Some(number(it.next())),
            "--idle-secs" => idle = Some(number(it.next())),
            "--deadline-secs" => deadline = Some(number(it.next())),
            "--redis-dir" => redis_dir = it.next().map(PathBuf::from),
            "--generators-nice" => {
                generators_nice = Some(
                    it.next()
                        .and_then(|v| v.parse::<i32>().ok())
                        .filter(|n| (0..=19).contains(n))
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    let (Some(command), Some(out)) = (command, out) else {
        usage()
    };
    let servers = servers.unwrap_or(if quick { 4 } else { 8 });
    // Probe sessions put their sockets on two nodes other than the one they are sent to.
    if servers < 2 {
        eprintln!("--servers must be at least 2: the bench measures across nodes");
        std::process::exit(2);
    }
    let sockets = sockets.unwrap_or(if quick { 8_000 } else { 140_000 });
    let sockets = sockets.div_ceil(2) * 2;
    Options {
        command,
        out,
        markdown,
        quick,
        servers,
        sockets,
        notify_sessions: if quick { 40 } else { 200 },
        notify_samples: if quick { 200 } else { 1000 },
        logout_sessions: if quick { 40 } else { 200 },
        background_rate: rate.unwrap_or(200.0),
        idle: Duration::from_secs_f64(idle.unwrap_or(if quick { 5.0 } else { 60.0 })),
        deadline: Duration::from_secs_f64(deadline.unwrap_or(if quick { 60.0 } else { 1200.0 })),
        redis_dir: redis_dir.unwrap_or_else(default_redis_dir),
        generators_nice: generators_nice.unwrap_or(GENERATORS_NICE),
    }
}

/// tmpfs when there is one: the append-only file still outlives the `redis-server` the
/// restart step kills (SIGKILL ends the process, not the machine), but its fsync at
/// every write costs no disk round trip, which would otherwise be part of every
/// `POST /incr` the latencies time (on this machine's disk: p50 ×2.5, p99 ×4 in quick
/// runs). `--redis-dir` puts it elsewhere.
fn default_redis_dir() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}
