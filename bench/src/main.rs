//! `sessionio-bench`: runs the same measurements against sessionio's Rust example and
//! the Node reference app (express + express-session + socket.io, the seed guide's
//! code), each on a fresh process, and writes BENCHMARKS.md with both side by side.
//!
//! ```text
//! sessionio-bench suite --server ours='<cmd>' --server node='<cmd>' --out results.json [--quick] [--rounds N]
//! sessionio-bench report --results results.json [--include part.md]... [--cluster cluster.json] --markdown BENCHMARKS.md --svg bench/rss.svg
//! sessionio-bench cluster --command '<cmd>' --out cluster.json [--quick]
//! sessionio-bench compare --results results.json --markdown part.md [--title T] [--command C] [--pair a:b]...
//! sessionio-bench soak --command '<cmd>' --secs 1800 [--rate 1000] --out soak.json
//! sessionio-bench users --command '<cmd>' --out users.json [--markdown users.md] [--quick]
//! sessionio-bench scale --command '<cmd>' --out scale.json [--markdown scale.md] [--quick] [--servers 8] [--sockets 140000]
//! ```

mod client;
mod cluster;
mod compare;
mod http;
mod output;
mod report;
mod rounds;
mod scale;
mod scenario;
mod server;
mod soak;
mod users;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use scenario::{Curve, Expiry, Fanout, Main};
use server::Server;

/// Everything measured on one server.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Results {
    pub command: String,
    pub main: Main,
    pub fanout: Fanout,
    pub curve: Curve,
    pub expiry: Expiry,
    /// RLIMIT_NOFILE in force (it bounds the connections one process can hold).
    #[serde(default)]
    pub fd_limit: usize,
    /// How many rounds each figure is the median of (`suite --rounds`; 1 for older files).
    #[serde(default = "one_round")]
    pub rounds: usize,
}

fn one_round() -> usize {
    1
}

/// Reads what `suite --out` wrote: every server's results by name.
pub fn read_results(path: &str) -> Result<BTreeMap<String, Results>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

/// The suite's sizes; `--quick` shrinks them for a smoke run.
struct Sizes {
    main_sessions: usize,
    samples: usize,
    fanout_sockets: usize,
    fanout_secs: f64,
    curve: Vec<usize>,
    expiry_sessions: usize,
    expiry_ttl_ms: u64,
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn env_for(extra: &[(&str, String)]) -> Result<Vec<(String, String)>, String> {
    let mut env = vec![
        ("PORT".to_owned(), free_port()?.to_string()),
        ("SOCKET_PORT".to_owned(), free_port()?.to_string()),
        ("RUST_LOG".to_owned(), "error".to_owned()),
        ("NODE_ENV".to_owned(), "production".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Ok(env)
}

async fn measure(command: &str, sizes: &Sizes, only: &[String]) -> Result<Results, String> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let hour = ("SESSION_TTL_MS", "3600000".to_owned());
    let mut r = Results {
        command: command.to_owned(),
        ..Default::default()
    };

    if wanted("main") {
        eprintln!("  main: {} sessions x 2 sockets", sizes.main_sessions);
        let s = Server::start(command, &env_for(std::slice::from_ref(&hour))?).await?;
        r.main = scenario::main_run(&s, sizes.main_sessions, sizes.samples).await?;
        s.stop().await;
    }
    if wanted("fanout") {
        eprintln!("  fan-out: 1 session x {} sockets", sizes.fanout_sockets);
        let cap = (
            "MAX_CONNECTIONS_PER_SESSION",
            sizes.fanout_sockets.to_string(),
        );
        let s = Server::start(command, &env_for(&[hour.clone(), cap])?).await?;
        r.fanout = scenario::fanout_run(&s, sizes.fanout_sockets, sizes.fanout_secs).await?;
        s.stop().await;
    }
    if wanted("curve") {
        eprintln!(
            "  RSS curve up to {} connections",
            sizes.curve.last().unwrap_or(&0)
        );
        let s = Server::start(command, &env_for(std::slice::from_ref(&hour))?).await?;
        r.curve = scenario::curve_run(&s, &sizes.curve).await?;
        s.stop().await;
    }
    if wanted("expiry") {
        eprintln!(
            "  expiry: {} sessions, ttl {} ms",
            sizes.expiry_sessions, sizes.expiry_ttl_ms
        );
        let ttl = ("SESSION_TTL_MS", sizes.expiry_ttl_ms.to_string());
        let s = Server::start(command, &env_for(&[ttl])?).await?;
        r.expiry = scenario::expiry_run(&s, sizes.expiry_sessions, sizes.expiry_ttl_ms).await?;
        s.stop().await;
    }
    Ok(r)
}

fn usage() -> ! {
    eprintln!(
        "usage:\n  sessionio-bench suite --server NAME='<shell command>'... --out results.json [--quick] [--only main,fanout,curve,expiry] [--rounds N]\n  \
         sessionio-bench report --results results.json [--include part.md]... [--cluster cluster.json] --markdown OUT.md --svg OUT.svg\n  \
         sessionio-bench cluster --command '<shell command>' --out cluster.json [--quick]\n  \
         sessionio-bench compare --results results.json --markdown OUT.md [--title T] [--command C] [--pair a:b]...\n  \
         sessionio-bench soak --command '<shell command>' [--secs 120] [--rate 1000] [--out soak.json] (see soak.rs for more)\n  \
         sessionio-bench users --command '<shell command>' --out users.json [--markdown users.md] [--quick]\n  \
         sessionio-bench scale --command '<shell command>' --out scale.json [--markdown scale.md] [--quick] [--servers 8] [--sockets 140000]"
    );
    std::process::exit(2)
}

async fn suite(args: &[String]) -> Result<(), String> {
    let mut servers = Vec::new();
    let mut out = None;
    let mut quick = false;
    let mut only = Vec::new();
    let mut rounds = 1usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--server" => {
                let v = it.next().unwrap_or_else(|| usage());
                let (name, cmd) = v.split_once('=').unwrap_or_else(|| usage());
                servers.push((name.to_owned(), cmd.to_owned()));
            }
            "--out" => out = it.next().cloned(),
            "--quick" => quick = true,
            "--rounds" => {
                let v = it.next().unwrap_or_else(|| usage());
                rounds = v.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| usage());
            }
            "--only" => {
                let v = it.next().unwrap_or_else(|| usage());
                only.extend(v.split(',').map(str::to_owned));
            }
            _ => usage(),
        }
    }
    let out = out.unwrap_or_else(|| usage());
    let sizes = if quick {
        Sizes {
            main_sessions: 250,
            samples: 100,
            fanout_sockets: 500,
            fanout_secs: 1.0,
            curve: vec![500, 1000],
            expiry_sessions: 20,
            expiry_ttl_ms: 1500,
        }
    } else {
        Sizes {
            main_sessions: 2500,
            samples: 1000,
            fanout_sockets: 5000,
            fanout_secs: 5.0,
            curve: vec![1000, 2000, 5000, 10_000, 20_000, 30_000, 40_000, 50_000],
            expiry_sessions: 200,
            expiry_ttl_ms: 3000,
        }
    };
    // The server and the generator each hold one descriptor per connection: the curve
    // stops below the open-file limit (a hard limit cannot be raised without
    // CAP_SYS_RESOURCE, which some sandboxes lack).
    let limit = server::raise_fd_limit() as usize;
    let reachable = (limit.saturating_sub(1000) / 1000 * 1000).min(50_000);
    let mut sizes = sizes;
    if sizes.curve.last().is_some_and(|&m| m > reachable) {
        sizes.curve.retain(|&c| c < reachable);
        sizes.curve.push(reachable);
        eprintln!(
            "open-file limit {limit}: the RSS curve stops at {reachable} connections instead of 50000"
        );
    }
    let mut measured: BTreeMap<String, Vec<Results>> = BTreeMap::new();
    for round in 1..=rounds {
        for (name, cmd) in &servers {
            eprintln!("== {name} (round {round} of {rounds}): {cmd}");
            let mut r = measure(cmd, &sizes, &only).await?;
            r.fd_limit = limit;
            eprintln!("{}", serde_json::to_string(&r).unwrap_or_default());
            measured.entry(name.clone()).or_default().push(r);
            // Let the kernel reap the previous server's sockets (TIME_WAIT on the
            // generator's side does not block new ports, but be gentle).
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let mut all = BTreeMap::new();
    for (name, results) in measured {
        all.insert(name, rounds::median_of(&results)?);
    }
    let json = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("write {out}: {e}"))?;
    eprintln!("wrote {out}");
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("suite") => suite(&args[1..]).await,
        Some("report") => report::run(&args[1..]),
        Some("compare") => compare::run(&args[1..]),
        Some("cluster") => cluster::run(&args[1..]).await,
        Some("soak") => soak::run(&args[1..]).await,
        Some("users") => users::run(&args[1..]).await,
        Some("scale") => scale::run(&args[1..]).await,
        // The scale bench's load generators: started by `scale`, not by hand.
        Some("scale-worker") => scale::worker(&args[1..]).await,
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("sessionio-bench: {e}");
        std::process::exit(1);
    }
}
