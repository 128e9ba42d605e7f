//! The run, phase by phase: start Redis and the servers, fill them through the load
//! generators, then measure memory, idle cost, cross-node notify and logout under a
//! background load, and the Redis restart; stop everything and make sure nothing is left.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::census::Census;
use super::fleet::Fleet;
use super::nodes::Nodes;
use super::options::{Options, CONNECT_CONCURRENCY};
use super::probes::Probes;
use super::protocol::{Order, Report};
use super::results::{Background, Cpu, Rss, Scale, Sockets};
use super::topology::{self, SOCKETS_PER_SESSION};
use super::{machine, procs, restart};
use crate::server;

/// Load generators get this long to close their sockets and exit before they are killed.
const QUIT_BOUND: Duration = Duration::from_secs(20);

/// What the run is doing, for the message when it is interrupted or runs out of time.
#[derive(Default)]
pub struct Phase(Mutex<&'static str>);

impl Phase {
    fn set(&self, what: &'static str) {
        eprintln!("  {what}");
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = what;
    }

    /// The phase the run is in.
    pub fn get(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// CPU seconds of every process of the run at one instant.
struct Mark {
    at: Instant,
    servers: Vec<f64>,
    redis: f64,
    workers: Vec<f64>,
    bench: f64,
    machine: f64,
    waiting: Option<f64>,
}

impl Mark {
    fn now(nodes: &Nodes, fleet: &Fleet) -> Mark {
        Mark {
            at: Instant::now(),
            servers: nodes.cpu_seconds(),
            redis: nodes.redis_cpu_seconds(),
            workers: fleet.cpu_seconds(),
            bench: server::own_cpu_seconds(),
            machine: machine::busy_seconds(),
            waiting: machine::cpu_wait_seconds(),
        }
    }

    /// What each process used from `earlier` to now.
    fn since(earlier: &Mark, nodes: &Nodes, fleet: &Fleet) -> Cpu {
        let now = Mark::now(nodes, fleet);
        let minus = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect();
        Cpu {
            secs: (now.at - earlier.at).as_secs_f64(),
            servers: minus(&now.servers, &earlier.servers),
            redis: now.redis - earlier.redis,
            workers: minus(&now.workers, &earlier.workers),
            bench: now.bench - earlier.bench,
            machine: now.machine - earlier.machine,
            waiting: match (now.waiting, earlier.waiting) {
                (Some(b), Some(a)) => b - a,
                _ => f64::NAN,
            },
        }
    }
}

/// Load generator `w`'s sessions: `(first, count)` of `sessions` shared as evenly as
/// possible among `workers`.
fn share(w: usize, workers: usize, sessions: usize) -> (usize, usize) {
    let (base, extra) = (sessions / workers, sessions % workers);
    (w * base + w.min(extra), base + usize::from(w < extra))
}

/// The whole run. Returns what it measured, with the checks that failed; an error when
/// something made the rest meaningless. Everything it started is killed when the
/// returned future is dropped (an interruption, the deadline).
pub async fn run(o: &Options, phase: &Phase) -> Result<Scale, String> {
    let n = o.servers;
    let settle = Duration::from_secs(if o.quick { 1 } else { 2 });
    let mut failed = Vec::new();

    phase.set("starting redis-server (append-only, fsync always) and the servers");
    let mut nodes = Nodes::start(&o.command, n, &o.redis_dir).await?;
    let (http, sockets) = (nodes.http(), nodes.socket());
    let mut fleet = Fleet::spawn(o.workers(), o.generators_nice)?;
    let workers = fleet.len();
    // Both processes were just started: let them finish starting before the idle reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = nodes.rss();
    let redis_before = nodes.redis_memory().await?;

    let sessions = o.sockets / SOCKETS_PER_SESSION;
    phase.set("creating the load generators' sessions over HTTP");
    let t = Instant::now();
    fleet
        .ask_each(
            |w| {
                let (first, count) = share(w, workers, sessions);
                Order::Create {
                    http: http.clone(),
                    first,
                    count,
                }
            },
            o.deadline,
        )
        .await?;
    let create_s = t.elapsed().as_secs_f64();
    let rss_sessions = nodes.rss();

    phase.set("opening the load generators' sockets");
    let cpu0 = Mark::now(&nodes, &fleet);
    let t = Instant::now();
    let mut sources = Vec::with_capacity(workers);
    for w in 0..workers {
        sources.push(topology::worker_source(w)?);
    }
    let opened = fleet
        .ask_each(
            |w| Order::Open {
                sockets: sockets.clone(),
                source: sources[w],
                concurrency: CONNECT_CONCURRENCY,
            },
            o.deadline,
        )
        .await?;
    let connect_s = t.elapsed().as_secs_f64();
    let cpu_connect = Mark::since(&cpu0, &nodes, &fleet);
    let (mut not_opened, mut first_error) = (0, None);
    for r in opened {
        if let Report::Opened {
            failed: f,
            first_error: e,
            ..
        } = r
        {
            not_opened += f;
            first_error = first_error.or(e);
        }
    }
    if not_opened > 0 {
        failed.push(format!(
            "{not_opened} of {} sockets did not connect; first: {}",
            o.sockets,
            first_error.unwrap_or_default()
        ));
    }

    phase.set("opening the probes' sessions and sockets");
    let mut notify = Probes::open(&http, &sockets, 0, o.notify_sessions).await?;
    let mut logout = Probes::open(&http, &sockets, o.notify_sessions, o.logout_sessions).await?;
    let probe_sockets = (o.notify_sessions + o.logout_sessions) * SOCKETS_PER_SESSION;

    // Let every server finish its accounting of the last handshakes.
    tokio::time::sleep(settle).await;
    let full = Census::take(&nodes, &mut fleet, &[&notify, &logout]).await?;
    if full.total() != o.sockets + probe_sockets {
        failed.push(format!(
            "{} sockets open at full size, not {}",
            full.total(),
            o.sockets + probe_sockets
        ));
    }
    if let Some(d) = full.disagreement() {
        failed.push(format!("at full size, {d}"));
    }
    let (rss_full, workers_rss) = (nodes.rss(), fleet.rss());
    let redis_full = nodes.redis_memory().await?;
    eprintln!(
        "  {} sockets open ({:?} per server), {:.1} s to connect the generators'",
        full.total(),
        full.per_node(),
        connect_s
    );

    phase.set("idle: every socket connected, nothing but pings");
    let cpu0 = Mark::now(&nodes, &fleet);
    tokio::time::sleep(o.idle).await;
    let cpu_idle = Mark::since(&cpu0, &nodes, &fleet);

    phase.set("cross-node notify samples under the background load");
    let cpu0 = Mark::now(&nodes, &fleet);
    let per_worker = o.background_rate / workers as f64;
    fleet
        .ask_each(
            |_| Order::Background { rate: per_worker },
            Duration::from_secs(10),
        )
        .await?;
    let notify_latency = notify.notify_samples(o.notify_samples).await;
    let (notify_latency, notify_answer) = match notify_latency {
        Ok((l, a)) => (Ok(l), a),
        Err(e) => (Err(e), Default::default()),
    };
    let logout_latency = match &notify_latency {
        Ok(_) => {
            phase.set("logout samples under the background load");
            logout.logout_samples().await
        }
        Err(_) => Err("not measured".to_owned()),
    };
    let stopped = fleet
        .ask_each(|_| Order::StopBackground, Duration::from_secs(30))
        .await?;
    let cpu_sampling = Mark::since(&cpu0, &nodes, &fleet);
    let (notify_latency, logout_latency) = (notify_latency?, logout_latency?);
    let background = background_of(o.background_rate, &stopped);
    if background.errors > 0 {
        failed.push(format!(
            "{} of {} background POST /incr failed; first: {}",
            background.errors,
            background.posts,
            background.first_error.clone().unwrap_or_default()
        ));
    }
    // Every logout probe is logged out: nothing of theirs is left to count.
    drop(logout);

    phase.set("Redis restart: SIGKILL with every socket connected, then the same port again");
    let restart = restart::run(&mut nodes, &mut fleet, &mut notify, settle, &mut failed).await?;

    phase.set("stopping everything");
    let mut started = procs::descendants();
    started.extend(nodes.pids());
    started.extend(fleet.pids());
    started.sort_unstable();
    started.dedup();
    drop(notify);
    fleet.quit(QUIT_BOUND).await;
    nodes.stop().await;
    let mut leftovers = procs::still_there(&started);
    leftovers.extend(procs::descendants());
    leftovers.sort_unstable();
    leftovers.dedup();
    if !leftovers.is_empty() {
        failed.push(format!(
            "processes of the run still there after it stopped them: {leftovers:?}"
        ));
    }

    let total = full.total();
    let sum = |v: &[u64]| v.iter().sum::<u64>() as f64;
    Ok(Scale {
        command: o.command.clone(),
        quick: o.quick,
        redis_version: crate::cluster::redis_version(),
        redis_dir: o.redis_dir.display().to_string(),
        cpus: std::thread::available_parallelism().map_or(0, |c| c.get()),
        servers: n,
        workers,
        connect_concurrency: CONNECT_CONCURRENCY,
        generators_nice: o.generators_nice,
        sessions,
        notify_sessions: o.notify_sessions,
        logout_sessions: o.logout_sessions,
        sockets: Sockets {
            workers: full.workers.iter().sum(),
            probes: full.probes.iter().sum(),
            total,
            per_server: full.per_node(),
            per_server_reported: full.reported.clone(),
        },
        create_s,
        connect_s,
        handshakes_per_s: o.sockets as f64 / connect_s,
        rss: Rss {
            per_conn: (sum(&rss_full) - sum(&rss_idle)) / total as f64,
            per_conn_marginal: (sum(&rss_full) - sum(&rss_sessions)) / total as f64,
            idle: rss_idle,
            sessions: rss_sessions,
            full: rss_full,
            workers_full: workers_rss,
        },
        redis_before,
        redis_full,
        notify: notify_latency,
        notify_answer,
        background,
        logout: logout_latency,
        cpu_connect,
        cpu_sampling,
        cpu_idle,
        restart,
        leftovers,
        failed_checks: failed,
        ..Default::default()
    })
}

/// The generators' background reports, summed.
fn background_of(rate: f64, reports: &[Report]) -> Background {
    let mut b = Background {
        rate,
        ..Default::default()
    };
    let mut secs: f64 = 0.0;
    for r in reports {
        if let Report::BackgroundStopped {
            posts,
            errors,
            first_error,
            secs: s,
        } = r
        {
            b.posts += posts;
            b.errors += errors;
            if b.first_error.is_none() {
                b.first_error.clone_from(first_error);
            }
            secs = secs.max(*s);
        }
    }
    b.rate_done = b.posts as f64 / secs;
    b
}
