//! Scale-out: N server processes on one Redis holding ~140 000 websockets, held by
//! load-generator child processes; what it costs and how fast things cross nodes.
//!
//! ```text
//! sessionio-bench scale --command '<shell cmd of the server>' --out scale.json [--markdown scale.md]
//!                       [--quick] [--servers 8] [--sockets 140000] [--rate 200] [--idle-secs 60]
//! ```
//!
//! The bench starts its own `redis-server` (free loopback port, append-only file fsynced
//! at every write), N processes of the command (`REDIS_URL`, `PORT=0`, one
//! `SESSION_SECRET`), and load generators: this binary again as `scale-worker`, told what
//! to do over JSON lines on its stdin ([`protocol`]), each holding at most 15 000 sockets
//! (the open-file limit is per process) from a loopback source address of its own. It
//! measures, at full size: the sockets held and the time to connect them; server RSS per
//! connection and Redis's memory; cross-node notify and logout latency from probe
//! sessions the bench holds itself, under a background of `POST /incr` from the
//! generators; the servers' idle CPU; then Redis killed with SIGKILL and started again on
//! its port ([`restart`]). Every process it started is stopped at the end, or killed on
//! an error, Ctrl-C or the deadline, and the run checks that none is left.
//!
//! `--quick` is the test command's smoke run (4 servers, 8000 sockets, under a minute).
//! Any failed check (sockets missing, a notification or logout not delivered, sockets
//! lost across the restart, a process left behind) makes it exit non-zero, after writing
//! what it measured.

mod census;
mod fleet;
mod machine;
mod measure;
mod nodes;
mod options;
mod populate;
mod probes;
mod procs;
mod protocol;
mod render;
mod restart;
mod results;
mod topology;
mod worker;

use crate::cluster;
use crate::server;

/// `sessionio-bench scale-worker`: a load generator (the parent starts them).
pub use worker::run as worker;

/// `sessionio-bench scale …`: the whole run, its JSON and markdown written, the markdown
/// printed; an error when it could not finish or a check failed.
pub async fn run(args: &[String]) -> Result<(), String> {
    let o = options::parse(args);
    server::raise_fd_limit();
    let program = std::env::args()
        .next()
        .unwrap_or_else(|| "sessionio-bench".into());
    let bench_command = [program, "scale".to_owned()]
        .into_iter()
        .chain(args.iter().map(|a| cluster::shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!(
        "== scale: {} processes of `{}` on one redis-server {}, {} sockets from {} load \
         generators (deadline {:?})",
        o.servers,
        o.command,
        cluster::redis_version(),
        o.sockets,
        o.workers(),
        o.deadline
    );
    let phase = measure::Phase::default();
    let started = std::time::Instant::now();
    let result = tokio::select! {
        r = tokio::time::timeout(o.deadline, measure::run(&o, &phase)) => r.unwrap_or_else(|_| {
            Err(format!("the run passed its deadline of {:?} while {}", o.deadline, phase.get()))
        }),
        _ = cluster::interrupted() => Err(format!("interrupted while {}", phase.get())),
    };
    let mut r = result?;
    r.bench_command = bench_command;
    let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    crate::output::write(&o.out, &json)?;
    let md = render::section(&r);
    if let Some(path) = &o.markdown {
        crate::output::write(path, &md)?;
    }
    println!("{md}");
    eprintln!("scale: {:.1} s in all", started.elapsed().as_secs_f64());
    if r.failed_checks.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} checks failed:\n  {}",
            r.failed_checks.len(),
            r.failed_checks.join("\n  ")
        ))
    }
}
