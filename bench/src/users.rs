//! Users across sessions: `notify_user` and `destroy_user` for one user with 10 sessions
//! × 2 sockets, on one node (its memory store) and across two nodes on one Redis (each
//! session has one socket on A and one on B; the calls are made on A).
//!
//! ```text
//! sessionio-bench users --command '<shell cmd of the server>' --out users.json [--markdown users.md] [--quick]
//! ```
//!
//! Each round logs 10 new sessions in as a fresh user (`GET /`, `POST /login`) and opens
//! their 20 sockets; then `POST /notify-user` is timed from the request until the last of
//! the 20 sockets received the `"user message"` (5 samples per round), and `POST
//! /logout-everywhere` from the request until the last socket was disconnected by the
//! server (1 sample per round; it must answer 10). Meanwhile 100 other users with two
//! sessions and a socket each are connected, so that the user's rooms are not the only
//! ones.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::{self, Probe, Totals};
use crate::cluster::{self, Latency, Redis};
use crate::http::HttpConn;
use crate::server::{self, Server};

const SESSIONS: usize = 10;
const SOCKETS_PER_SESSION: usize = 2;
const NOTIFIES_PER_ROUND: usize = 5;
const OTHER_USERS: usize = 100;
const WAIT: Duration = Duration::from_secs(10);

/// One topology's figures.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Case {
    /// `POST /notify-user` → every socket of the user's sessions received it.
    pub notify_user: Latency,
    /// `POST /logout-everywhere` → every socket of the user's sessions disconnected.
    pub destroy_user: Latency,
    /// `POST /notify-user`'s own answer time (the sockets this node reached).
    pub notify_user_answer: Latency,
}

/// Everything `users` measured (bench/out/users.json).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Users {
    pub command: String,
    pub bench_command: String,
    pub quick: bool,
    pub redis_version: String,
    pub sessions_per_user: usize,
    pub sockets_per_session: usize,
    pub rounds: usize,
    pub one_node: Case,
    pub two_nodes: Case,
}

/// A socket of the measured user: its probe counts the `"user message"`s (their text is a
/// number).
async fn open(server: SocketAddr, cookie: &str) -> Result<Probe, String> {
    let source = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let totals = Arc::new(Totals::default());
    client::connect_counting(server, source, cookie, "user message", totals).await
}

/// A new session on `conn`'s server logged in as `user`: its cookie (`name=value`).
async fn login(conn: &mut HttpConn, user: &str) -> Result<String, String> {
    let before = conn.new_session().await?;
    conn.login(&before, user).await
}

/// `POST <path>` with a text body: the answer's body, which must come with a 200.
async fn post(conn: &mut HttpConn, path: &str, cookie: &str, body: &str) -> Result<String, String> {
    let r = conn
        .request_with_body("POST", path, Some(cookie), Some(("text/plain", body)))
        .await?;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    if r.status != 200 {
        return Err(format!("POST {path} answered {}: {text}", r.status));
    }
    Ok(text)
}

fn ms_since(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1e3
}

/// The rounds on `nodes` (1 or 2): sessions logged in on the first, their sockets spread
/// over all of them, every call made on the first.
async fn measure(nodes: &[&Server], rounds: usize) -> Result<Case, String> {
    let first = nodes[0];
    let mut conn = HttpConn::connect(first.http)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // The other users, connected for the whole run.
    let mut others = Vec::new();
    for u in 0..OTHER_USERS {
        for k in 0..2 {
            let cookie = login(&mut conn, &format!("other-{u}")).await?;
            others.push(open(nodes[k % nodes.len()].socket, &cookie).await?);
        }
    }
    let (mut notify, mut answer, mut destroy) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0u64;
    for round in 0..rounds {
        let user = format!("measured-{round}");
        let mut cookies = Vec::with_capacity(SESSIONS);
        let mut probes = Vec::with_capacity(SESSIONS * SOCKETS_PER_SESSION);
        for _ in 0..SESSIONS {
            let cookie = login(&mut conn, &user).await?;
            for k in 0..SOCKETS_PER_SESSION {
                probes.push(open(nodes[k % nodes.len()].socket, &cookie).await?);
            }
            cookies.push(cookie);
        }
        for _ in 0..NOTIFIES_PER_ROUND {
            n += 1;
            let t0 = Instant::now();
            post(&mut conn, "/notify-user", &cookies[0], &n.to_string()).await?;
            answer.push(ms_since(t0, Instant::now()));
            let mut last = t0;
            for p in &probes {
                let mut rx = p.count.clone();
                let got = tokio::time::timeout(WAIT, rx.wait_for(|(m, _)| *m >= n))
                    .await
                    .map_err(|_| format!("message {n} not received within {WAIT:?}"))?
                    .map_err(|_| "a socket ended before the message".to_owned())?;
                last = last.max(got.1);
            }
            notify.push(ms_since(t0, last));
        }
        let t0 = Instant::now();
        let destroyed = post(&mut conn, "/logout-everywhere", &cookies[0], "").await?;
        if destroyed.trim() != SESSIONS.to_string() {
            return Err(format!(
                "POST /logout-everywhere answered {destroyed:?}, not {SESSIONS}"
            ));
        }
        let mut last = t0;
        for p in &probes {
            let mut rx = p.closed.clone();
            let closed = tokio::time::timeout(WAIT, rx.wait_for(Option::is_some))
                .await
                .map_err(|_| format!("a socket was not disconnected within {WAIT:?}"))?
                .map_err(|_| "a socket task vanished".to_owned())?;
            last = last.max(closed.expect("waited for Some"));
        }
        destroy.push(ms_since(t0, last));
    }
    drop(others);
    Ok(Case {
        notify_user: Latency::of(notify),
        destroy_user: Latency::of(destroy),
        notify_user_answer: Latency::of(answer),
    })
}

fn usage() -> ! {
    eprintln!(
        "usage: sessionio-bench users --command '<shell command of the server>' --out users.json [--markdown users.md] [--quick]"
    );
    std::process::exit(2)
}

pub async fn run(args: &[String]) -> Result<(), String> {
    let (mut command, mut out, mut markdown, mut quick) = (None, None, None, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--command" => command = it.next().cloned(),
            "--out" => out = it.next().cloned(),
            "--markdown" => markdown = it.next().cloned(),
            "--quick" => quick = true,
            _ => usage(),
        }
    }
    let (Some(command), Some(out)) = (command, out) else {
        usage()
    };
    let rounds = if quick { 10 } else { 100 };
    server::raise_fd_limit();
    let bench_command = std::iter::once("target/release/sessionio-bench users".to_owned())
        .chain(args.iter().map(|a| cluster::shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");

    eprintln!("== users: one node, `{command}`");
    let hour = ("SESSION_TTL_MS", "3600000".to_owned());
    let one = Server::start(&command, &crate::env_for(std::slice::from_ref(&hour))?).await?;
    let nodes = [&one];
    let one_node = tokio::select! {
        r = measure(&nodes, rounds) => r,
        _ = cluster::interrupted() => Err("interrupted".into()),
    };
    one.stop().await;
    let one_node = one_node?;

    let redis = Redis::start().await?;
    eprintln!(
        "== users: two nodes on redis-server {}",
        cluster::redis_version()
    );
    let two_nodes = async {
        let shared = [
            ("SESSION_SECRET", cluster::random_secret()?),
            ("REDIS_URL", redis.url()),
            hour.clone(),
        ];
        let a = Server::start(&command, &crate::env_for(&shared)?).await?;
        let b = Server::start(&command, &crate::env_for(&shared)?).await?;
        let nodes = [&a, &b];
        let r = tokio::select! {
            r = measure(&nodes, rounds) => r,
            _ = cluster::interrupted() => Err("interrupted".into()),
        };
        a.stop().await;
        b.stop().await;
        r
    }
    .await;
    redis.stop().await;
    let r = Users {
        command: command.clone(),
        bench_command,
        quick,
        redis_version: cluster::redis_version(),
        sessions_per_user: SESSIONS,
        sockets_per_session: SOCKETS_PER_SESSION,
        rounds,
        one_node,
        two_nodes: two_nodes?,
    };
    let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    eprintln!("{json}");
    crate::output::write(&out, &json)?;
    if let Some(md) = markdown {
        crate::output::write(&md, &render(&r))?;
    }
    Ok(())
}

/// The BENCHMARKS.md section.
fn render(r: &Users) -> String {
    let row = |what: &str, l: &Latency| {
        format!(
            "| {what} | {} | {:.2} | {:.2} | {:.2} |\n",
            l.samples, l.p50_ms, l.p99_ms, l.max_ms
        )
    };
    let mut s = format!(
        "## Users across sessions: notify_user and destroy_user\n\n\
         One user with {} sessions × {} sockets, while {OTHER_USERS} other users (two sessions \
         and a socket each) are connected. On one node (rust-counter, memory store), and on two \
         nodes on one Redis {} (each session has one socket on A and one on B; the calls are \
         made on A). Timed from the HTTP request until the last of the {} sockets received \
         the message (`POST /notify-user`) or was disconnected by the server (`POST \
         /logout-everywhere`, which answers {}); {} rounds, each with a fresh user.\n\n\
         Command: `{}`\n\n\
         | case | samples | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n",
        r.sessions_per_user,
        r.sockets_per_session,
        r.redis_version,
        r.sessions_per_user * r.sockets_per_session,
        r.sessions_per_user,
        r.rounds,
        r.bench_command,
    );
    s += &row("notify_user, one node", &r.one_node.notify_user);
    s += &row("notify_user, two nodes", &r.two_nodes.notify_user);
    s += &row("destroy_user, one node", &r.one_node.destroy_user);
    s += &row("destroy_user, two nodes", &r.two_nodes.destroy_user);
    s += &row(
        "`POST /notify-user` answered, one node",
        &r.one_node.notify_user_answer,
    );
    s += &row(
        "`POST /notify-user` answered, two nodes",
        &r.two_nodes.notify_user_answer,
    );
    s.push('\n');
    s
}
