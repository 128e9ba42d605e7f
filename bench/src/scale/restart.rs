//! Redis killed under a full cluster: SIGKILL with every socket connected, a
//! `POST /incr` to every node while it is down, then `redis-server` again on the same
//! port from its append-only file. What stayed connected, how soon a notification
//! crosses nodes again, and what became of those sent into the outage.

use std::time::{Duration, Instant};

use super::census::Census;
use super::fleet::Fleet;
use super::nodes::Nodes;
use super::probes::{Probes, REACH_BOUND};
use super::results::{DownPosts, Restart};
use crate::cluster;

/// Redis stays down at least this long after the posts sent into the outage answered,
/// so that a notification sent anyway would have had time to arrive.
const QUIET_DOWN: Duration = Duration::from_millis(500);
/// Cross-node notify must work again within this of Redis's restart.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// One recovery attempt answered 200 waits this long for its notification before the
/// next attempt.
const ATTEMPT_WAIT: Duration = Duration::from_millis(100);
/// Between a refused recovery attempt and the next.
const ATTEMPT_GAP: Duration = Duration::from_millis(10);
/// The body of the 503 the README promises for HTTP session access while Redis is down.
const STORE_UNAVAILABLE: &str = "store unavailable";

/// Runs the step; what went against expectations is pushed to `failed`. Needs a probe
/// session per node and one more (`probes` numbered from 0, so that session `j < n` has
/// its home on node `j`).
pub async fn run(
    nodes: &mut Nodes,
    fleet: &mut Fleet,
    probes: &mut Probes,
    settle: Duration,
    failed: &mut Vec<String>,
) -> Result<Restart, String> {
    let n = nodes.servers.len();
    if probes.sessions.len() <= n {
        return Err(format!("the restart step needs {} probe sessions", n + 1));
    }
    let down: Vec<usize> = (0..n).collect();
    let recovery = n;
    let counts_before: Vec<u64> = down
        .iter()
        .map(|&i| probes.sessions[i].count_seen())
        .collect();
    let before = Census::take(nodes, fleet, &[&*probes]).await?;
    let keys_before = nodes.redis_memory().await?.keys;
    probes.reconnect().await?;

    eprintln!(
        "  SIGKILL redis-server with {} sockets connected",
        before.total()
    );
    let killed = Instant::now();
    nodes.redis.kill().await;
    let answers = probes.incr_at_once(&down).await;
    tokio::time::sleep(QUIET_DOWN).await;
    let events_seen = down
        .iter()
        .zip(&counts_before)
        .map(|(&i, &c)| {
            let s = &probes.sessions[i];
            s.sockets.iter().filter(|p| p.count.borrow().0 > c).count()
        })
        .sum();
    let mut down_posts = tally(&answers);
    down_posts.events_seen = events_seen;

    let started = Instant::now();
    let down_s = (started - killed).as_secs_f64();
    nodes.redis.restart().await?;
    let pong_s = started.elapsed().as_secs_f64();
    let (back, attempts) = notify_again(probes, recovery, started).await?;
    eprintln!(
        "  redis-server back: PONG after {pong_s:.3} s, cross-node notify after {:.3} s",
        back.as_secs_f64()
    );

    // Those sessions were kept, and the refused increments left nothing behind.
    let mut counts_kept = true;
    for (&i, &c) in down.iter().zip(&counts_before) {
        let home = probes.sessions[i].place.home;
        let cookie = probes.sessions[i].cookie.clone();
        let t0 = Instant::now();
        let got = probes.conn(home).incr(&cookie).await?;
        let reached = tokio::time::timeout(
            REACH_BOUND,
            cluster::all_received(&probes.sessions[i].sockets, got, t0),
        )
        .await;
        if got != c + 1 || !matches!(reached, Ok(Ok(_))) {
            counts_kept = false;
            failed.push(format!(
                "after the restart, POST /incr on node {home} answered {got} for a session \
                 whose count was {c} before the outage (delivered: {})",
                matches!(reached, Ok(Ok(_)))
            ));
        }
    }
    down_posts.counts_kept = counts_kept;

    tokio::time::sleep(settle).await;
    let after = Census::take(nodes, fleet, &[&*probes]).await?;
    let keys_after = nodes.redis_memory().await?.keys;
    let handshake_after = new_socket(nodes, probes, recovery).await;

    check_down_posts(&down_posts, failed);
    if after.total() != before.total() {
        failed.push(format!(
            "Redis restart: {} sockets connected before the kill, {} after",
            before.total(),
            after.total()
        ));
    }
    if let Some(d) = after.disagreement() {
        failed.push(format!("after the Redis restart, {d}"));
    }
    if keys_after != keys_before {
        failed.push(format!(
            "Redis restart: {keys_before} keys before the kill, {keys_after} after (the append-only file should keep them all)"
        ));
    }
    if let Err(e) = &handshake_after {
        failed.push(format!("after the Redis restart, a new socket failed: {e}"));
    }
    Ok(Restart {
        sockets_before: before.total(),
        sockets_after: after.total(),
        sockets_after_reported: after.reported_total(),
        keys_before,
        keys_after,
        down_s,
        pong_s,
        notify_back_s: back.as_secs_f64(),
        notify_attempts: attempts.0,
        notify_undelivered: attempts.1,
        down_posts,
        handshake_after: handshake_after.is_ok(),
    })
}

/// Counts the answers to the posts sent while Redis was down.
fn tally(answers: &[Result<(u16, String, f64), String>]) -> DownPosts {
    let mut d = DownPosts {
        sent: answers.len(),
        ..Default::default()
    };
    for a in answers {
        let (status, body) = match a {
            Ok((status, body, ms)) => {
                d.max_answer_ms = d.max_answer_ms.max(*ms);
                (status.to_string(), body.trim().to_owned())
            }
            Err(e) => ("error".to_owned(), e.clone()),
        };
        match d
            .answers
            .iter_mut()
            .find(|(s, b, _)| *s == status && *b == body)
        {
            Some(entry) => entry.2 += 1,
            None => d.answers.push((status, body, 1)),
        }
    }
    d
}

/// The README's promise: 503 `store unavailable`, and nothing reaches any socket.
fn check_down_posts(d: &DownPosts, failed: &mut Vec<String>) {
    let promised = d
        .answers
        .iter()
        .all(|(s, b, _)| s == "503" && b == STORE_UNAVAILABLE);
    if !promised {
        failed.push(format!(
            "POST /incr while Redis was down answered {:?}, not 503 `{STORE_UNAVAILABLE}`",
            d.answers
        ));
    }
    if d.events_seen > 0 {
        failed.push(format!(
            "{} sockets received a count for a POST /incr sent while Redis was down",
            d.events_seen
        ));
    }
}

/// `POST /incr` for probe session `i` on its home node until its sockets (on two other
/// nodes) receive the new count: how long after `since` that was, and the attempts before
/// it (all of them, and those answered 200 whose count had not arrived
/// [`ATTEMPT_WAIT`] later).
async fn notify_again(
    probes: &mut Probes,
    i: usize,
    since: Instant,
) -> Result<(Duration, (usize, usize)), String> {
    let (home, cookie) = (
        probes.sessions[i].place.home,
        probes.sessions[i].cookie.clone(),
    );
    let (mut attempts, mut undelivered) = (0, 0);
    loop {
        if since.elapsed() > RECOVERY_BOUND {
            return Err(format!(
                "cross-node notify did not work again within {RECOVERY_BOUND:?} of Redis's \
                 restart ({attempts} attempts)"
            ));
        }
        let t0 = Instant::now();
        let r = probes
            .conn(home)
            .request("POST", "/incr", Some(&cookie))
            .await?;
        let count = (r.status == 200)
            .then(|| String::from_utf8_lossy(&r.body).trim().parse::<u64>().ok())
            .flatten();
        if let Some(n) = count {
            let sockets = &probes.sessions[i].sockets;
            if let Ok(Ok(ms)) =
                tokio::time::timeout(ATTEMPT_WAIT, cluster::all_received(sockets, n, t0)).await
            {
                let arrived = t0 + Duration::from_secs_f64(ms / 1e3);
                return Ok((arrived - since, (attempts, undelivered)));
            }
            undelivered += 1;
        } else {
            tokio::time::sleep(ATTEMPT_GAP).await;
        }
        attempts += 1;
    }
}

/// Opens (and drops) one more socket for probe session `i` on its first socket node: new
/// handshakes read the session from Redis, so this proves Redis serves them again.
async fn new_socket(nodes: &Nodes, probes: &Probes, i: usize) -> Result<(), String> {
    let s = &probes.sessions[i];
    let server = nodes.servers[s.place.sockets[0]].socket;
    let totals = std::sync::Arc::new(crate::client::Totals::default());
    crate::client::connect(server, super::topology::PROBE_SOURCE, &s.cookie, totals)
        .await
        .map(drop)
}
