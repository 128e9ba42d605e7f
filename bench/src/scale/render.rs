//! The BENCHMARKS.md section of a scale run.

use std::fmt::Write as _;

use super::results::{Cpu, Scale};

/// The goal of issue 21: cross-node notify p99 at 140k sockets on this 2-core machine.
pub const NOTIFY_P99_GOAL_MS: f64 = 5.0;
/// Engine.IO's default ping interval, which the servers keep.
const PING_INTERVAL_S: f64 = 25.0;

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / (1024.0 * 1024.0))
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1024.0)
}

fn cpu_row(md: &mut String, phase: &str, c: &Cpu) {
    let share = |s: f64| format!("{s:.2} ({:.0} %)", 100.0 * c.share(s));
    let (busiest, top) = c.busiest_server();
    let ours = c.servers_total() + c.redis + c.workers_total() + c.bench;
    let _ = writeln!(
        md,
        "| {phase} | {:.1} | {} | {} (node {busiest}) | {} | {} | {} | {} | {:.0} % |",
        c.secs,
        share(c.servers_total()),
        share(top),
        share(c.redis),
        share(c.workers_total()),
        share(c.bench),
        share((c.machine - ours).max(0.0)),
        100.0 * c.share(c.waiting),
    );
}

/// The section: setup, one table of figures, CPU per phase, the servers one by one, the
/// checks that failed.
pub fn section(r: &Scale) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Scale-out: {} processes on one Redis\n", r.servers);
    let _ = writeln!(
        md,
        "Command: `{}`{}\n",
        r.bench_command,
        if r.quick {
            " (a quick run: small sizes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "{} processes of `{}` on one `redis-server` {} (started by the bench on a loopback \
         port, append-only file fsynced at every write, so that the restart step finds the \
         sessions again; the file is under `{}`{}), each with `REDIS_URL`, `PORT=0` and the \
         same `SESSION_SECRET`. \
         {} load-generator processes (`sessionio-bench scale-worker`, one loopback source \
         address each, {} handshakes in flight each: below the servers' default admission \
         bounds of 256 pending handshakes per address and 4096 in all, which are left as \
         they are) hold {} sessions × 2 sockets: session *i* is created with `GET /` on \
         node *i* mod {}, its sockets open there and on the next node. They run at \
         niceness {}{}. The bench itself holds {} notify and {} logout probe sessions, each \
         created on one node with its two sockets on two others. Everything shares this \
         machine's {} CPUs.\n",
        r.servers,
        r.command,
        r.redis_version,
        r.redis_dir,
        if r.redis_dir == "/dev/shm" {
            ", tmpfs: it outlives the killed process, and the fsync costs no disk round trip"
        } else {
            ""
        },
        r.workers,
        r.connect_concurrency,
        r.sessions,
        r.servers,
        r.generators_nice,
        if r.generators_nice > 0 {
            " (`--generators-nice`): they stand for clients on other machines, which \
             would take none of the servers' CPU, so here they get what the servers, Redis \
             and the probes leave; the servers, Redis and the bench run at 0"
        } else {
            ", as the servers, Redis and the bench"
        },
        r.notify_sessions,
        r.logout_sessions,
        r.cpus,
    );
    let p99 = r.notify.p99_ms;
    let _ = writeln!(
        md,
        "Goal: cross-node notify p99 ≤ {NOTIFY_P99_GOAL_MS} ms at this size on this machine: \
         {p99:.2} ms, {}.\n",
        if p99 <= NOTIFY_P99_GOAL_MS {
            "met"
        } else {
            "**not met**"
        }
    );

    let s = &r.sockets;
    let same = s.per_server.windows(2).all(|w| w[0] == w[1]);
    let per_server = if same {
        format!("{} on each", s.per_server.first().copied().unwrap_or(0))
    } else {
        format!("{:?}", s.per_server)
    };
    let agree = if s.per_server == s.per_server_reported {
        "each server's own count (`sessionio_sockets_connected`) agrees".to_owned()
    } else {
        format!("the servers count {:?}", s.per_server_reported)
    };
    let sum = |v: &[u64]| v.iter().sum::<u64>() as f64;
    let (b, f) = (&r.redis_before, &r.redis_full);
    let rs = &r.restart;
    let d = &rs.down_posts;
    let answers = d
        .answers
        .iter()
        .map(|(status, body, n)| format!("{n} × {status} `{body}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(md, "| figure | measured |\n|---|---|");
    let rows = [
        (
            "sockets held".to_owned(),
            format!(
                "{} ({} by the load generators, {} by the probes); per server process: \
                 {per_server}; {agree}",
                s.total, s.workers, s.probes
            ),
        ),
        (
            format!("time to connect the load generators' {} sockets", s.workers),
            format!(
                "{:.1} s ({:.0} handshakes/s); creating their {} sessions before: {:.1} s",
                r.connect_s, r.handshakes_per_s, r.sessions, r.create_s
            ),
        ),
        (
            format!(
                "server RSS per connection, summed over the {} processes",
                r.servers
            ),
            format!(
                "{} ((Σ RSS at full size {} − Σ RSS idle {}) ÷ {} sockets); the sockets \
                 alone (over Σ RSS with every session created, {}): {}",
                kb(r.rss.per_conn),
                mb(sum(&r.rss.full)),
                mb(sum(&r.rss.idle)),
                s.total,
                mb(sum(&r.rss.sessions)),
                kb(r.rss.per_conn_marginal)
            ),
        ),
        (
            "load generators' RSS at full size (the client side, for scale)".to_owned(),
            format!(
                "{} in all, {} per socket held",
                mb(sum(&r.rss.workers_full)),
                kb(sum(&r.rss.workers_full) / s.workers.max(1) as f64)
            ),
        ),
        (
            "Redis memory (`INFO memory`): used_memory / used_memory_rss".to_owned(),
            format!(
                "{} / {} before ({} keys) → {} / {} at full size ({} keys)",
                mb(b.used_memory as f64),
                mb(b.used_memory_rss as f64),
                b.keys,
                mb(f.used_memory as f64),
                mb(f.used_memory_rss as f64),
                f.keys
            ),
        ),
        (
            "cross-node notify p50 / p99 / max (`POST /incr` on the session's node → its \
             sockets on two other nodes)"
                .to_owned(),
            format!(
                "{:.2} / {:.2} / {:.2} ms ({} samples); the same requests' own answer \
                 (the handler notifies before it answers, so a count may reach the sockets \
                 first): {:.2} / {:.2} / {:.2} ms",
                r.notify.p50_ms,
                r.notify.p99_ms,
                r.notify.max_ms,
                r.notify.samples,
                r.notify_answer.p50_ms,
                r.notify_answer.p99_ms,
                r.notify_answer.max_ms
            ),
        ),
        (
            "logout reach p50 / p99 / max (`POST /logout` on the session's node → its last \
             socket disconnected, on other nodes)"
                .to_owned(),
            format!(
                "{:.2} / {:.2} / {:.2} ms ({} samples)",
                r.logout.p50_ms, r.logout.p99_ms, r.logout.max_ms, r.logout.samples
            ),
        ),
        (
            "background load during both".to_owned(),
            format!(
                "`POST /incr` from the load generators on random sessions of theirs to random \
                 nodes: {:.0}/s asked, {:.0}/s done, {} failed",
                r.background.rate, r.background.rate_done, r.background.errors
            ),
        ),
        (
            "idle cost: server CPU per minute, summed over the processes (every socket \
             connected, nothing but pings)"
                .to_owned(),
            format!(
                "{:.2} CPU-s/min (measured over {:.0} s{}; redis-server {:.2}, load generators \
                 {:.2} CPU-s/min)",
                r.idle_cpu_per_min(r.cpu_idle.servers_total()),
                r.cpu_idle.secs,
                // A socket is first pinged a ping interval after its handshake.
                if r.cpu_idle.secs < PING_INTERVAL_S {
                    ", less than the 25 s ping interval and right after the connect: few \
                     sockets were pinged in it"
                } else {
                    ""
                },
                r.idle_cpu_per_min(r.cpu_idle.redis),
                r.idle_cpu_per_min(r.cpu_idle.workers_total())
            ),
        ),
        (
            "Redis restart (SIGKILL, same port, append-only file): sockets still connected"
                .to_owned(),
            format!(
                "{} of {} (the servers count {}); a new handshake after it: {}",
                rs.sockets_after,
                rs.sockets_before,
                rs.sockets_after_reported,
                if rs.handshake_after {
                    "accepted"
                } else {
                    "**failed**"
                }
            ),
        ),
        (
            "Redis restart: until it works again".to_owned(),
            format!(
                "down {:.2} s; after the restart, PONG at {:.3} s, cross-node notify \
                 delivered at {:.3} s ({} `POST /incr` before it: refused, or answered 200 \
                 but not delivered within 100 ms: {})",
                rs.down_s, rs.pong_s, rs.notify_back_s, rs.notify_attempts, rs.notify_undelivered
            ),
        ),
        (
            "`POST /incr` sent while Redis was down (one per node, all at once)".to_owned(),
            format!(
                "{answers}; slowest answer {:.0} ms; sockets that saw an event for them: {}; \
                 afterwards their counts went on from where they were: {}; keys in Redis {} \
                 before the kill, {} after the restart",
                d.max_answer_ms,
                d.events_seen,
                if d.counts_kept { "yes" } else { "**no**" },
                rs.keys_before,
                rs.keys_after
            ),
        ),
        (
            "processes of the run left after it".to_owned(),
            if r.leftovers.is_empty() {
                "none".to_owned()
            } else {
                format!("**{:?}**", r.leftovers)
            },
        ),
    ];
    for (what, value) in rows {
        let _ = writeln!(md, "| {what} | {value} |");
    }

    let _ = writeln!(
        md,
        "\nCPU seconds per phase (and the share of one core over the phase); \"other\" is \
         every other process on the machine (from /proc/stat), \"waiting\" the share of the \
         phase during which some runnable task waited for a CPU (the kernel's CPU pressure, \
         /proc/pressure/cpu `some`):\n\n\
         | phase | wall s | servers, summed | busiest server | redis-server | load generators, summed | bench (probes) | other | waiting |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    cpu_row(
        &mut md,
        "connecting the load generators' sockets",
        &r.cpu_connect,
    );
    cpu_row(&mut md, "idle (pings only)", &r.cpu_idle);
    cpu_row(
        &mut md,
        "notify and logout samples, background load",
        &r.cpu_sampling,
    );

    let _ = writeln!(
        md,
        "\n| server | sockets | RSS idle | RSS with the sessions | RSS full | CPU s while sampling |\n\
         |---|---|---|---|---|---|"
    );
    for i in 0..r.servers {
        let at = |v: &[u64]| v.get(i).map_or("–".into(), |b| mb(*b as f64));
        let _ = writeln!(
            md,
            "| {i} | {} | {} | {} | {} | {:.2} |",
            s.per_server.get(i).copied().unwrap_or(0),
            at(&r.rss.idle),
            at(&r.rss.sessions),
            at(&r.rss.full),
            r.cpu_sampling.servers.get(i).copied().unwrap_or(f64::NAN)
        );
    }
    if !r.failed_checks.is_empty() {
        let _ = writeln!(md, "\n**Failed checks:**\n");
        for c in &r.failed_checks {
            let _ = writeln!(md, "- {c}");
        }
    }
    md.push('\n');
    md
}
