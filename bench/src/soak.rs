//! Soak: hours of ordinary churn on one server process, then the bill — does memory stay
//! flat, does every closed socket and destroyed session leave nothing behind, is every
//! acknowledged increment still there?
//!
//! ```text
//! sessionio-bench soak --command '<shell cmd of the server>' --secs 1800 [--rate 1000] --out soak.json
//! ```
//!
//! For `--secs` seconds a working set of `--sessions` sessions lives on the server:
//!
//! * sockets are opened at `--rate` per second on random sessions of the set, each for a
//!   random short life (90 %: 0.1–2 s, 10 %: 2–20 s, so some are still open when their
//!   session logs out); a socket that reaches the end of its life closes itself, a third
//!   each with a Socket.IO disconnect packet, a websocket close frame, or by dropping the
//!   TCP connection (`--close` picks among fewer);
//! * increments come from both sides: `POST /incr` (`--http-rate` per second, four
//!   keep-alive clients) and socket `"incr"` events with an ack (`--socket-incr-rate`
//!   per second in all, spread over the sockets' lives);
//! * sessions are logged out (`POST /logout`, `--logout-rate` per second) and replaced by
//!   new ones, so the set keeps its size while thousands of sessions are destroyed;
//! * every session is logged in (`POST /login`, which gives it a new id) as a user that
//!   owns two sessions of the set (slots `2k` and `2k + 1`: user `soak-user-<k>`); a quarter
//!   of the logouts are `POST /logout-everywhere`, which must answer 2 and destroys both
//!   of the user's sessions (their sockets are kicked), both then replaced by new logins.
//!
//! **Lost updates.** Each session counts the increments the server acknowledged (a
//! `200` answer to `POST /incr`, a numeric ack to `"incr"`). Before its logout, and for
//! the sessions left at the end, the count the page shows (`GET /`, `<span
//! id="count">N</span>`, which reads without incrementing) must equal it. A
//! read-write lock per session makes that exact: every increment holds a read guard
//! from its request until its answer, the check and the logout hold the write guard,
//! so no increment is in flight while the count is read.
//!
//! **Memory.** The server's VmRSS is sampled every `--sample-secs` seconds; the
//! sample at the end of the warm-up (the first `--warmup` fraction of the run) is the
//! reference, and every later sample must stay within `±--tolerance` % of it.
//!
//! **Leftovers.** When the churn stops the sockets are frozen (no new sockets, no
//! closes, no increments) and `GET /metrics` must agree with what the clients hold:
//! `sessionio_sockets_connected` = sockets open, `sessionio_sessions_with_sockets` (the
//! expiry timers) = sessions with a socket open, and `sessionio_rooms` = those sessions
//! plus the users with a socket open (each has a room) — nothing is left
//! for the closed sockets and destroyed sessions of the run, and no socket of a
//! destroyed session is still open on the client side. Then every client closes, and
//! two seconds later all three gauges must be 0.
//!
//! **The user index.** Frozen, `sessionio_indexed_user_sessions` must be the working
//! set's size and `sessionio_indexed_users` the number of users; once every client has
//! closed, every user logs out everywhere, and both gauges must then be 0: no index entry
//! outlives its session. The server runs with a one-day
//! `SESSION_TTL_MS`, so no session expires during the run.
//!
//! Also checked: no client error (connect, HTTP answer, ack, unexpected close by the
//! server), the server's `sessionio_handshakes_accepted_total` and
//! `sessionio_sessions_destroyed_total` equal to the clients' connects and logouts + logins, at
//! least 90 % of the connect rate asked reached, and the RSS read being the server's (the
//! command must `exec` it). The process exits non-zero if any check fails, after one
//! summary line (stdout) and the JSON (`--out`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{watch, OwnedRwLockReadGuard, RwLock};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Ws};
use crate::http::HttpConn;
use crate::scenario::Rng;
use crate::server::{self, own_cpu_seconds, Server};

/// Handshakes in flight at most; a connect tick finding this many still running is
/// skipped (and counted) rather than queued, so that the rate reported is the real one.
const MAX_CONNECTING: usize = 256;
/// How long an increment may wait for its answer before it counts as an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Loopback source addresses the sockets rotate over (127.1.0.1 …): closed connections
/// keep their ports in TIME_WAIT for a minute.
const SOURCES: usize = 200;
/// Pooled HTTP connections idle longer than this are not reused: the server may have
/// closed them, and a `POST /incr` must never be retried blindly.
const POOL_IDLE: Duration = Duration::from_secs(5);
const HTTP_WORKERS: usize = 4;

struct Options {
    command: String,
    secs: f64,
    rate: f64,
    sessions: usize,
    http_rate: f64,
    socket_incr_rate: f64,
    logout_rate: f64,
    sample_secs: f64,
    warmup: f64,
    tolerance_pct: f64,
    /// How sockets end their life, picked at random among these.
    close_modes: Vec<CloseMode>,
    out: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: sessionio-bench soak --command '<shell command>' [--secs 120] [--rate 1000] \
         [--sessions 500] [--http-rate 500] [--socket-incr-rate 500] [--logout-rate 20] \
         [--sample-secs 5] [--warmup 0.25] [--tolerance 5] [--close socketio,websocket,drop] \
         [--out soak.json]"
    );
    std::process::exit(2)
}

fn parse(args: &[String]) -> Options {
    let mut o = Options {
        command: String::new(),
        secs: 120.0,
        rate: 1000.0,
        sessions: 500,
        http_rate: 500.0,
        socket_incr_rate: 500.0,
        logout_rate: 20.0,
        sample_secs: 5.0,
        warmup: 0.25,
        tolerance_pct: 5.0,
        close_modes: vec![CloseMode::SocketIo, CloseMode::Websocket, CloseMode::Drop],
        out: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        let num = |v: String| v.parse::<f64>().unwrap_or_else(|_| usage());
        match a.as_str() {
            "--command" => o.command = value(),
            "--secs" => o.secs = num(value()),
            "--rate" => o.rate = num(value()),
            "--sessions" => o.sessions = num(value()) as usize,
            "--http-rate" => o.http_rate = num(value()),
            "--socket-incr-rate" => o.socket_incr_rate = num(value()),
            "--logout-rate" => o.logout_rate = num(value()),
            "--sample-secs" => o.sample_secs = num(value()),
            "--warmup" => o.warmup = num(value()),
            "--tolerance" => o.tolerance_pct = num(value()),
            "--close" => {
                o.close_modes = (value().split(','))
                    .map(|m| match m {
                        "socketio" => CloseMode::SocketIo,
                        "websocket" => CloseMode::Websocket,
                        "drop" => CloseMode::Drop,
                        _ => usage(),
                    })
                    .collect()
            }
            "--out" => o.out = Some(value()),
            _ => usage(),
        }
    }
    if o.command.is_empty() || o.secs <= 0.0 || o.sessions == 0 || o.rate <= 0.0 {
        usage()
    }
    o
}

/// One session of the working set, as the clients know it.
struct Sess {
    cookie: String,
    /// The user it is logged in as.
    user: String,
    /// Increments hold it shared from request to answer; the count check and the logout
    /// hold it exclusively.
    lock: Arc<RwLock<()>>,
    /// Set (under the write guard) once `POST /logout` answered.
    dead: AtomicBool,
    /// Increments the server acknowledged.
    acked: AtomicU64,
    /// Sockets of this session open on the client side.
    open: AtomicUsize,
    /// When it was logged in.
    made: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Churn.
    Run,
    /// No new sockets, increments or closes; answers still awaited.
    Freeze,
    /// Every socket closes.
    Close,
}

#[derive(Default)]
struct Counters {
    connects: AtomicU64,
    connects_skipped: AtomicU64,
    connecting: AtomicUsize,
    /// Socket tasks alive (from the handshake's start to the socket's end).
    tasks: AtomicUsize,
    closed_by_client: AtomicU64,
    closed_by_server: AtomicU64,
    incr_http: AtomicU64,
    incr_socket: AtomicU64,
    incr_socket_skipped: AtomicU64,
    pending_acks: AtomicUsize,
    notifications: AtomicU64,
    logouts: AtomicU64,
    /// `POST /logout-everywhere` calls (each destroying two sessions, counted in `logouts`).
    logouts_everywhere: AtomicU64,
    /// `POST /login` calls (each destroying the session's id before the login).
    logins: AtomicU64,
    sessions_created: AtomicU64,
    checked: AtomicU64,
    lost: AtomicU64,
    extra: AtomicU64,
    mismatched_sessions: AtomicU64,
    errors: AtomicU64,
    live_sockets: AtomicUsize,
    source: AtomicUsize,
}

struct Ctx {
    server: SocketAddr,
    slots: Vec<Mutex<Arc<Sess>>>,
    /// One per user (a pair of slots): its logouts run one at a time, so that a
    /// logout-everywhere never meets a half-replaced pair.
    users: Vec<tokio::sync::Mutex<()>>,
    /// Every session ever made, to find sockets of destroyed sessions still open.
    all: Mutex<Vec<Weak<Sess>>>,
    c: Counters,
    first_error: Mutex<Option<String>>,
    pool: Pool,
    phase: watch::Receiver<Phase>,
}

impl Ctx {
    fn error(&self, e: String) {
        self.c.errors.fetch_add(1, Ordering::Relaxed);
        let mut f = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            eprintln!("  first error: {e}");
            *f = Some(e);
        }
    }

    fn slot(&self, i: usize) -> Arc<Sess> {
        self.slots[i]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// A random live session of the set, with a read guard (no check or logout can
    /// start until it is dropped).
    async fn pick(&self, rng: &mut Rng) -> Option<(Arc<Sess>, OwnedRwLockReadGuard<()>)> {
        for _ in 0..100 {
            let s = self.slot(rng.below(self.slots.len()));
            let g = s.lock.clone().read_owned().await;
            if !s.dead.load(Ordering::Acquire) {
                return Some((s, g));
            }
        }
        None
    }

    fn next_source(&self) -> IpAddr {
        let i = self.c.source.fetch_add(1, Ordering::Relaxed) % SOURCES;
        IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1 + i as u8))
    }
}

/// Keep-alive HTTP connections, each used by one request at a time.
struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<(HttpConn, Instant)>>,
}

impl Pool {
    async fn get(&self) -> Result<HttpConn, String> {
        loop {
            let c = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match c {
                Some((c, at)) if at.elapsed() < POOL_IDLE => return Ok(c),
                Some(_) => continue,
                None => {
                    return HttpConn::connect(self.addr)
                        .await
                        .map_err(|e| format!("connect {}: {e}", self.addr))
                }
            }
        }
    }

    fn put(&self, c: HttpConn) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((c, Instant::now()));
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
    ) -> Result<crate::http::Response, String> {
        let mut c = self.get().await?;
        let r = c.request(method, path, cookie).await?;
        self.put(c);
        Ok(r)
    }
}

/// The count `GET /` shows for `cookie` (the page's `<span id="count">N</span>`).
async fn visible_count(pool: &Pool, cookie: &str) -> Result<u64, String> {
    let r = pool.request("GET", "/", Some(cookie)).await?;
    if r.status != 200 {
        return Err(format!("GET / answered {}", r.status));
    }
    if let Some(c) = &r.cookie {
        if c != cookie {
            return Err(format!("GET / replaced the session's cookie: {c}"));
        }
    }
    let body = String::from_utf8_lossy(&r.body);
    let marker = "<span id=\"count\">";
    let at = body
        .find(marker)
        .ok_or("GET / page has no <span id=\"count\">")?;
    let digits: String = body[at + marker.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .map_err(|_| format!("GET / count is not a number: {digits:?}"))
}

/// The user of slot `i`: slots `2k` and `2k + 1` are user `k`'s.
fn user_of(i: usize) -> String {
    format!("soak-user-{}", i / 2)
}

/// A new session (`GET /`) logged in as `user` (`POST /login`: a new id and cookie).
async fn new_session(ctx: &Ctx, user: &str) -> Result<Arc<Sess>, String> {
    let r = ctx.pool.request("GET", "/", None).await?;
    if r.status != 200 {
        return Err(format!("GET / answered {}", r.status));
    }
    let before = r.cookie.ok_or("GET / set no cookie")?;
    let mut conn = ctx.pool.get().await?;
    let cookie = conn.login(&before, user).await?;
    ctx.pool.put(conn);
    ctx.c.logins.fetch_add(1, Ordering::Relaxed);
    let s = Arc::new(Sess {
        cookie,
        user: user.to_owned(),
        lock: Arc::new(RwLock::new(())),
        dead: AtomicBool::new(false),
        acked: AtomicU64::new(0),
        open: AtomicUsize::new(0),
        made: Instant::now(),
    });
    ctx.c.sessions_created.fetch_add(1, Ordering::Relaxed);
    ctx.all
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Arc::downgrade(&s));
    Ok(s)
}

/// With the session's write guard held: the page's count against the acknowledged one.
async fn check_count(ctx: &Ctx, s: &Sess) -> Result<(), String> {
    let seen = visible_count(&ctx.pool, &s.cookie).await?;
    let acked = s.acked.load(Ordering::Acquire);
    ctx.c.checked.fetch_add(1, Ordering::Relaxed);
    if seen != acked {
        ctx.c.mismatched_sessions.fetch_add(1, Ordering::Relaxed);
        if seen < acked {
            ctx.c.lost.fetch_add(acked - seen, Ordering::Relaxed);
        } else {
            ctx.c.extra.fetch_add(seen - acked, Ordering::Relaxed);
        }
        eprintln!("  count mismatch: page shows {seen}, {acked} increments were acknowledged");
    }
    Ok(())
}

/// Replaces slot `i`'s session by a new one of the same user, checks the old one's count
/// and logs it out; or, `everywhere`, logs the user out of both of its sessions
/// (`POST /logout-everywhere`) and replaces both.
async fn logout(ctx: Arc<Ctx>, i: usize, everywhere: bool) {
    let _user = ctx.users[i / 2].lock().await;
    let partner = i ^ 1;
    if everywhere && partner < ctx.slots.len() {
        if let Err(e) = logout_everywhere(&ctx, i, partner).await {
            ctx.error(format!("logout-everywhere: {e}"));
        }
        return;
    }
    let r = async {
        let fresh = new_session(&ctx, &user_of(i)).await?;
        let old = std::mem::replace(
            &mut *ctx.slots[i].lock().unwrap_or_else(|p| p.into_inner()),
            fresh,
        );
        let _g = old.lock.clone().write_owned().await;
        check_count(&ctx, &old).await?;
        let r = ctx
            .pool
            .request("POST", "/logout", Some(&old.cookie))
            .await?;
        if r.status != 204 {
            return Err(format!("POST /logout answered {}", r.status));
        }
        old.dead.store(true, Ordering::Release);
        ctx.c.logouts.fetch_add(1, Ordering::Relaxed);
        Ok::<_, String>(())
    }
    .await;
    if let Err(e) = r {
        ctx.error(format!("logout: {e}"));
    }
}

/// The two sessions of one user (slots `i` and `partner`) checked, logged out with one
/// `POST /logout-everywhere` (which must answer 2), then replaced by two new logins.
async fn logout_everywhere(ctx: &Ctx, i: usize, partner: usize) -> Result<(), String> {
    let (old, other) = (ctx.slot(i), ctx.slot(partner));
    let _g = old.lock.clone().write_owned().await;
    let _h = other.lock.clone().write_owned().await;
    check_count(ctx, &old).await?;
    check_count(ctx, &other).await?;
    let r = ctx
        .pool
        .request("POST", "/logout-everywhere", Some(&old.cookie))
        .await?;
    let body = String::from_utf8_lossy(&r.body);
    if r.status != 200 || body.trim() != "2" {
        return Err(format!(
            "answered {} {body:?}, expected 200 \"2\"",
            r.status
        ));
    }
    old.dead.store(true, Ordering::Release);
    other.dead.store(true, Ordering::Release);
    ctx.c.logouts.fetch_add(2, Ordering::Relaxed);
    ctx.c.logouts_everywhere.fetch_add(1, Ordering::Relaxed);
    for slot in [i, partner] {
        let fresh = new_session(ctx, &old.user).await?;
        *ctx.slots[slot].lock().unwrap_or_else(|p| p.into_inner()) = fresh;
    }
    Ok(())
}

/// After every client closed: each user logs out everywhere (`POST /logout-everywhere`
/// from one of its sessions, which must answer its count of sessions).
async fn log_everyone_out(ctx: &Ctx) -> Result<(), String> {
    for k in 0..ctx.users.len() {
        let s = ctx.slot(2 * k);
        let expected = if 2 * k + 1 < ctx.slots.len() { 2 } else { 1 };
        let r = ctx
            .pool
            .request("POST", "/logout-everywhere", Some(&s.cookie))
            .await?;
        let body = String::from_utf8_lossy(&r.body);
        if r.status != 200 || body.trim() != expected.to_string() {
            return Err(format!(
                "POST /logout-everywhere of {} answered {} {body:?}, expected 200 \"{expected}\"",
                s.user, r.status
            ));
        }
        ctx.c.logouts.fetch_add(expected, Ordering::Relaxed);
    }
    Ok(())
}

/// How a socket ends its life when nobody ended it before.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseMode {
    /// Socket.IO disconnect packet, then a websocket close frame.
    SocketIo,
    /// Websocket close frame only.
    Websocket,
    /// The TCP connection dropped, nothing said.
    Drop,
}

struct Plan {
    life: Duration,
    /// Offsets of the socket's increments from its start, ascending.
    incrs: Vec<Duration>,
    close: CloseMode,
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.below(1 << 20) as f64 / (1u64 << 20) as f64
}

fn plan(rng: &mut Rng, incrs_per_socket: f64, modes: &[CloseMode]) -> Plan {
    let life = if rng.below(10) == 0 {
        uniform(rng, 2.0, 20.0)
    } else {
        uniform(rng, 0.1, 2.0)
    };
    let whole = incrs_per_socket.floor();
    let n = whole as usize + usize::from(uniform(rng, 0.0, 1.0) < incrs_per_socket - whole);
    let mut incrs: Vec<Duration> = (0..n)
        .map(|_| Duration::from_secs_f64(uniform(rng, 0.0, life)))
        .collect();
    incrs.sort();
    let close = modes[rng.below(modes.len())];
    Plan {
        life: Duration::from_secs_f64(life),
        incrs,
        close,
    }
}

/// Opens a socket on a random live session and runs its life.
async fn socket(ctx: Arc<Ctx>, plan: Plan, seed: u64) {
    ctx.c.tasks.fetch_add(1, Ordering::Relaxed);
    ctx.c.connecting.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::new(seed);
    let opened = async {
        let (s, g) = ctx.pick(&mut rng).await.ok_or("no live session")?;
        let ws = client::handshake(ctx.server, ctx.next_source(), &s.cookie).await?;
        s.open.fetch_add(1, Ordering::AcqRel);
        ctx.c.live_sockets.fetch_add(1, Ordering::Relaxed);
        drop(g);
        Ok::<_, String>((s, ws))
    }
    .await;
    ctx.c.connecting.fetch_sub(1, Ordering::Relaxed);
    match opened {
        Ok((s, ws)) => {
            ctx.c.connects.fetch_add(1, Ordering::Relaxed);
            live(&ctx, &s, ws, plan).await;
        }
        Err(e) => ctx.error(format!("socket connect: {e}")),
    }
    ctx.c.tasks.fetch_sub(1, Ordering::Relaxed);
}

/// Parses an ack packet `43<id>[<n>]`.
fn parse_ack(t: &str) -> Option<(u64, Result<u64, String>)> {
    let rest = t.strip_prefix("43")?;
    let split = rest.find('[')?;
    let id = rest[..split].parse().ok()?;
    let body = &rest[split..];
    let n = body
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .and_then(|b| b.trim().parse::<u64>().ok());
    Some((id, n.ok_or_else(|| format!("ack {body}"))))
}

async fn live(ctx: &Ctx, s: &Arc<Sess>, mut ws: Ws, plan: Plan) {
    let born = tokio::time::Instant::now();
    let far = born + Duration::from_secs(86_400);
    let mut incrs = plan.incrs.into_iter().peekable();
    // (ack id, guard, deadline) of the increment awaiting its ack.
    let mut pending: Option<(u64, OwnedRwLockReadGuard<()>, tokio::time::Instant)> = None;
    let mut next_id = 0u64;
    let mut phase_rx = ctx.phase.clone();
    // How the server ended the socket, when it did.
    let mut by_server: Option<String> = None;
    loop {
        let phase = *phase_rx.borrow_and_update();
        let incr_at = match (phase, incrs.peek(), &pending) {
            (Phase::Run, Some(d), None) => born + *d,
            _ => far,
        };
        let close_at = match phase {
            Phase::Run => born + plan.life,
            Phase::Freeze => far,
            Phase::Close => born,
        };
        let answer_by = pending.as_ref().map_or(far, |p| p.2);
        tokio::select! {
            biased;
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(frame))) => {
                        by_server = Some(match frame {
                            Some(f) => format!("close frame {} {:?}", u16::from(f.code), f.reason.as_str()),
                            None => "close frame without code".into(),
                        });
                        break;
                    }
                    Some(Err(e)) => {
                        by_server = Some(format!("read error: {e}"));
                        break;
                    }
                    None => {
                        by_server = Some("end of stream".into());
                        break;
                    }
                    Some(Ok(_)) => continue,
                };
                let t = text.as_str();
                if t == "2" {
                    if let Err(e) = ws.send(Message::text("3")).await {
                        by_server = Some(format!("pong write error: {e}"));
                        break;
                    }
                } else if t.starts_with("42[\"current count\"") {
                    ctx.c.notifications.fetch_add(1, Ordering::Relaxed);
                } else if let Some((id, n)) = parse_ack(t) {
                    if pending.as_ref().is_some_and(|p| p.0 == id) {
                        pending = None;
                        ctx.c.pending_acks.fetch_sub(1, Ordering::Relaxed);
                        match n {
                            Ok(_) => {
                                s.acked.fetch_add(1, Ordering::AcqRel);
                                ctx.c.incr_socket.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => ctx.error(format!("socket incr: {e}")),
                        }
                    } else {
                        ctx.error(format!("unexpected ack {t}"));
                    }
                } else if t.starts_with("41") {
                    by_server = Some("Socket.IO disconnect packet".into());
                    break;
                }
            }
            _ = tokio::time::sleep_until(answer_by), if pending.is_some() => {
                pending = None;
                ctx.c.pending_acks.fetch_sub(1, Ordering::Relaxed);
                ctx.error(format!("socket incr: no ack within {ANSWER_TIMEOUT:?}"));
            }
            _ = tokio::time::sleep_until(incr_at), if incr_at < far => {
                incrs.next();
                match s.lock.clone().try_read_owned() {
                    Ok(g) if !s.dead.load(Ordering::Acquire) => {
                        let id = next_id;
                        next_id += 1;
                        if let Err(e) = ws.send(Message::text(format!("42{id}[\"incr\"]"))).await {
                            by_server = Some(format!("incr write error: {e}"));
                            break;
                        }
                        ctx.c.pending_acks.fetch_add(1, Ordering::Relaxed);
                        pending = Some((id, g, tokio::time::Instant::now() + ANSWER_TIMEOUT));
                    }
                    // A check or logout of the session is under way.
                    _ => {
                        ctx.c.incr_socket_skipped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = tokio::time::sleep_until(close_at), if pending.is_none() && close_at < far => {
                break;
            }
            r = phase_rx.changed() => {
                if r.is_err() {
                    break;
                }
            }
        }
    }
    if pending.take().is_some() {
        ctx.c.pending_acks.fetch_sub(1, Ordering::Relaxed);
        ctx.error("socket closed by the server with an increment awaiting its ack".into());
    }
    s.open.fetch_sub(1, Ordering::AcqRel);
    ctx.c.live_sockets.fetch_sub(1, Ordering::Relaxed);
    if let Some(how) = by_server {
        ctx.c.closed_by_server.fetch_add(1, Ordering::Relaxed);
        // Only a logout may end a socket from the server's side here (no session
        // expires): its write guard is held or awaited until the session is marked dead.
        if !s.dead.load(Ordering::Acquire) && s.lock.try_read().is_ok() {
            let in_slot = (ctx.slots.iter())
                .any(|slot| Arc::ptr_eq(&slot.lock().unwrap_or_else(|p| p.into_inner()), s));
            ctx.error(format!(
                "the server closed a socket of a live session ({how}, {:.1} s after it opened; \
                 the session of {} made {:.1} s ago, {} its slot)",
                born.elapsed().as_secs_f64(),
                s.user,
                s.made.elapsed().as_secs_f64(),
                if in_slot { "in" } else { "out of" },
            ));
        }
        return;
    }
    ctx.c.closed_by_client.fetch_add(1, Ordering::Relaxed);
    let say = match plan.close {
        CloseMode::Drop => return,
        CloseMode::SocketIo => ws.send(Message::text("41")).await.is_ok(),
        CloseMode::Websocket => true,
    };
    if say && ws.close(None).await.is_ok() {
        // Wait for the server's close frame (or EOF), briefly.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
}

/// One of the `POST /incr` clients: `rate` requests per second on random live sessions.
async fn http_worker(ctx: Arc<Ctx>, rate: f64, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut conn: Option<HttpConn> = None;
    let started = Instant::now();
    let mut done = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while ctx.phase() == Phase::Run {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while done < due && ctx.phase() == Phase::Run {
            done += 1;
            let Some((s, g)) = ctx.pick(&mut rng).await else {
                ctx.error("POST /incr: no live session".into());
                continue;
            };
            let c = match conn.take() {
                Some(c) => c,
                None => match HttpConn::connect(ctx.server).await {
                    Ok(c) => c,
                    Err(e) => {
                        ctx.error(format!("connect: {e}"));
                        continue;
                    }
                },
            };
            let mut c = c;
            match tokio::time::timeout(ANSWER_TIMEOUT, c.incr(&s.cookie)).await {
                Ok(Ok(_)) => {
                    s.acked.fetch_add(1, Ordering::AcqRel);
                    ctx.c.incr_http.fetch_add(1, Ordering::Relaxed);
                    conn = Some(c);
                }
                Ok(Err(e)) => ctx.error(e),
                Err(_) => ctx.error(format!("POST /incr: no answer within {ANSWER_TIMEOUT:?}")),
            }
            drop(g);
        }
    }
}

/// Reads `GET /metrics` and answers the value of each metric asked.
async fn metrics(pool: &Pool, names: &[&str]) -> Result<Vec<u64>, String> {
    let r = pool.request("GET", "/metrics", None).await?;
    crate::http::metric_values(&r, names)
}

const GAUGES: [&str; 5] = [
    "sessionio_sockets_connected",
    "sessionio_sessions_with_sockets",
    "sessionio_rooms",
    "sessionio_indexed_users",
    "sessionio_indexed_user_sessions",
];

#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct Gauges {
    pub sockets: u64,
    pub timers: u64,
    pub rooms: u64,
    /// The user index: users, and sessions logged in as one.
    pub indexed_users: u64,
    pub indexed_user_sessions: u64,
}

async fn gauges(pool: &Pool) -> Result<Gauges, String> {
    let v = metrics(pool, &GAUGES).await?;
    Ok(Gauges {
        sockets: v[0],
        timers: v[1],
        rooms: v[2],
        indexed_users: v[3],
        indexed_user_sessions: v[4],
    })
}

#[derive(Debug, Default, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub rss: u64,
    pub client_sockets: usize,
    pub server: Gauges,
}

#[derive(Debug, Default, Serialize)]
pub struct Soak {
    pub command: String,
    pub secs: f64,
    pub target_rate: f64,
    pub working_set: usize,
    pub target_http_rate: f64,
    pub target_socket_incr_rate: f64,
    pub target_logout_rate: f64,
    pub fd_limit: u64,
    pub close_modes: Vec<CloseMode>,
    /// The process whose RSS is sampled (`/proc/<pid>/comm`).
    pub measured_process: String,

    pub connects: u64,
    pub connects_per_s: f64,
    /// Connect ticks dropped because `MAX_CONNECTING` handshakes were in flight.
    pub connects_skipped: u64,
    pub disconnects: u64,
    pub disconnects_by_client: u64,
    pub disconnects_by_server: u64,
    pub incr_http: u64,
    pub incr_socket: u64,
    /// Socket increments not sent because the session was being checked or logged out.
    pub incr_socket_skipped: u64,
    pub notifications_received: u64,
    pub sessions_created: u64,
    pub logouts: u64,
    pub logouts_everywhere: u64,
    pub logins: u64,
    pub counts_checked: u64,
    pub lost_updates: u64,
    pub extra_updates: u64,
    pub mismatched_sessions: u64,
    pub errors: u64,
    pub first_error: Option<String>,

    pub sample_secs: f64,
    pub warmup_s: f64,
    pub rss_start: u64,
    pub rss_warm: u64,
    pub rss_min_after_warmup: u64,
    pub rss_max_after_warmup: u64,
    pub rss_last: u64,
    /// Largest deviation from `rss_warm` after the warm-up, in % (signed).
    pub rss_drift_pct: f64,
    pub rss_last_drift_pct: f64,
    pub rss_tolerance_pct: f64,
    pub rss_after_close: u64,
    pub samples: Vec<Sample>,

    /// Frozen churn: what the clients hold, and what the server reports.
    pub frozen_client_sockets: u64,
    pub frozen_client_sessions_with_sockets: u64,
    /// Sockets of destroyed sessions the clients still hold open (the logout should
    /// have closed them).
    pub frozen_sockets_of_destroyed_sessions: u64,
    pub frozen_server: Gauges,
    /// Server minus client, frozen: what closed sockets and destroyed sessions left.
    pub frozen_left: Gauges,
    /// Two seconds after every client closed.
    pub final_server: Gauges,
    /// After every user logged out everywhere.
    pub after_logout_everywhere: Gauges,
    pub handshakes_accepted_total: u64,
    pub sessions_destroyed_total: u64,
    pub sockets_kicked_total: u64,
    pub notifications_sent_total: u64,
    /// Notifications and acks the server could not queue (a socket that fell behind: it is
    /// then disconnected by the server).
    pub notifications_dropped_total: u64,
    pub acks_dropped_total: u64,

    pub server_cpu_s: f64,
    pub generator_cpu_s: f64,

    pub checks: Vec<(String, bool)>,
    pub pass: bool,
    pub summary: String,
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

pub async fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args);
    let fd_limit = server::raise_fd_limit();
    let env = vec![
        ("PORT".to_owned(), "0".to_owned()),
        ("RUST_LOG".to_owned(), "error".to_owned()),
        ("SESSION_TTL_MS".to_owned(), "86400000".to_owned()),
        ("MAX_CONNECTIONS_PER_SESSION".to_owned(), "256".to_owned()),
        ("NODE_ENV".to_owned(), "production".to_owned()),
    ];
    let server = Server::start(&o.command, &env).await?;
    let result = soak(&o, &server, fd_limit).await;
    server.stop().await;
    let r = result?;
    let json = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    if let Some(out) = &o.out {
        if let Some(dir) = std::path::Path::new(out).parent() {
            if !dir.as_os_str().is_empty() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        std::fs::write(out, json).map_err(|e| format!("write {out}: {e}"))?;
        eprintln!("wrote {out}");
    }
    println!("{}", r.summary);
    if r.pass {
        Ok(())
    } else {
        let failed: Vec<&str> = (r.checks.iter())
            .filter(|(_, ok)| !ok)
            .map(|(n, _)| n.as_str())
            .collect();
        Err(format!("soak failed: {}", failed.join("; ")))
    }
}

async fn soak(o: &Options, server: &Server, fd_limit: u64) -> Result<Soak, String> {
    let (phase_tx, phase_rx) = watch::channel(Phase::Run);
    let pool = Pool {
        addr: server.http,
        idle: Mutex::new(Vec::new()),
    };
    let mut ctx = Ctx {
        server: server.socket,
        slots: Vec::new(),
        users: (0..o.sessions.div_ceil(2))
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
        all: Mutex::new(Vec::new()),
        c: Counters::default(),
        first_error: Mutex::new(None),
        pool,
        phase: phase_rx,
    };
    let rss_start = server.rss_bytes();
    let measured = std::fs::read_to_string(format!("/proc/{}/comm", server.pid()))
        .unwrap_or_default()
        .trim()
        .to_owned();
    for i in 0..o.sessions {
        let s = new_session(&ctx, &user_of(i)).await?;
        ctx.slots.push(Mutex::new(s));
    }
    let ctx = Arc::new(ctx);
    eprintln!(
        "soak: {} s, {} sockets/s, {} sessions, POST /incr {}/s, socket incr {}/s, logout {}/s (server pid rss {:.1} MB)",
        o.secs, o.rate, o.sessions, o.http_rate, o.socket_incr_rate, o.logout_rate, mb(rss_start)
    );
    let cpu0 = (server.cpu_seconds(), own_cpu_seconds());
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(o.secs);

    let mut workers = JoinSet::new();
    for w in 0..HTTP_WORKERS {
        workers.spawn(http_worker(
            ctx.clone(),
            o.http_rate / HTTP_WORKERS as f64,
            0x5eed + w as u64,
        ));
    }
    // Logouts.
    {
        let (ctx, rate) = (ctx.clone(), o.logout_rate);
        workers.spawn(async move {
            let mut rng = Rng::new(0x10_9047);
            let mut jobs = JoinSet::new();
            let mut done = 0u64;
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while ctx.phase() == Phase::Run && rate > 0.0 {
                tick.tick().await;
                let due = (t0.elapsed().as_secs_f64() * rate) as u64;
                while done < due {
                    done += 1;
                    let everywhere = rng.below(4) == 0;
                    jobs.spawn(logout(ctx.clone(), rng.below(ctx.slots.len()), everywhere));
                }
                while jobs.try_join_next().is_some() {}
            }
            while jobs.join_next().await.is_some() {}
        });
    }
    // Sockets.
    {
        let (ctx, rate) = (ctx.clone(), o.rate);
        let incrs_per_socket = o.socket_incr_rate / o.rate;
        let modes = o.close_modes.clone();
        workers.spawn(async move {
            let mut rng = Rng::new(0xc0_22ec7);
            let mut done = 0u64;
            let t0 = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while ctx.phase() == Phase::Run {
                tick.tick().await;
                let due = (t0.elapsed().as_secs_f64() * rate) as u64;
                while done < due {
                    done += 1;
                    if ctx.c.connecting.load(Ordering::Relaxed) >= MAX_CONNECTING {
                        ctx.c.connects_skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let p = plan(&mut rng, incrs_per_socket, &modes);
                    let seed = rng.below(usize::MAX) as u64;
                    tokio::spawn(socket(ctx.clone(), p, seed));
                }
            }
        });
    }

    // RSS and gauges every sample_secs until the end of the churn.
    let mut samples = Vec::new();
    let mut next = started;
    let mut last_log = started;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now >= next {
            let g = gauges(&ctx.pool).await?;
            samples.push(Sample {
                t_s: now.duration_since(started).as_secs_f64(),
                rss: server.rss_bytes(),
                client_sockets: ctx.c.live_sockets.load(Ordering::Relaxed),
                server: g,
            });
            next += Duration::from_secs_f64(o.sample_secs);
            if now.duration_since(last_log) >= Duration::from_secs(30) || samples.len() == 1 {
                last_log = now;
                let s = samples.last().expect("pushed");
                eprintln!(
                    "  t={:>5.0}s rss={:.1} MB sockets={} (server {}) connects={} incr={}+{} logouts={} errors={}",
                    s.t_s,
                    mb(s.rss),
                    s.client_sockets,
                    s.server.sockets,
                    ctx.c.connects.load(Ordering::Relaxed),
                    ctx.c.incr_http.load(Ordering::Relaxed),
                    ctx.c.incr_socket.load(Ordering::Relaxed),
                    ctx.c.logouts.load(Ordering::Relaxed),
                    ctx.c.errors.load(Ordering::Relaxed),
                );
            }
        }
        tokio::time::sleep_until(next.min(end).into()).await;
    }
    // The last sample, at the end of the churn.
    samples.push(Sample {
        t_s: started.elapsed().as_secs_f64(),
        rss: server.rss_bytes(),
        client_sockets: ctx.c.live_sockets.load(Ordering::Relaxed),
        server: gauges(&ctx.pool).await?,
    });
    let churn_secs = started.elapsed().as_secs_f64();

    // Freeze: the pacers stop, handshakes, logouts and answers in flight finish.
    phase_tx.send_replace(Phase::Freeze);
    while workers.join_next().await.is_some() {}
    let freeze_deadline = Instant::now() + Duration::from_secs(30);
    while (ctx.c.connecting.load(Ordering::Relaxed) > 0
        || ctx.c.pending_acks.load(Ordering::Relaxed) > 0)
        && Instant::now() < freeze_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the server finish the closes and kicks it was told about.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen_server = gauges(&ctx.pool).await?;
    let (mut client_sockets, mut client_sessions, mut of_destroyed) = (0u64, 0u64, 0u64);
    let mut client_users = std::collections::HashSet::new();
    for w in ctx.all.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let Some(s) = w.upgrade() else { continue };
        let open = s.open.load(Ordering::Acquire) as u64;
        client_sockets += open;
        client_sessions += u64::from(open > 0);
        if open > 0 {
            client_users.insert(s.user.clone());
        }
        if s.dead.load(Ordering::Acquire) {
            of_destroyed += open;
        }
    }
    let left = |server: u64, client: u64| server.saturating_sub(client);
    // A room per session and one per user with a socket open.
    let client_rooms = client_sessions + client_users.len() as u64;
    let frozen_left = Gauges {
        sockets: left(frozen_server.sockets, client_sockets),
        timers: left(frozen_server.timers, client_sessions),
        rooms: left(frozen_server.rooms, client_rooms),
        indexed_users: 0,
        indexed_user_sessions: 0,
    };
    let frozen_agree = frozen_server.sockets == client_sockets
        && frozen_server.timers == client_sessions
        && frozen_server.rooms == client_rooms;
    let frozen_index_agrees = frozen_server.indexed_user_sessions == ctx.slots.len() as u64
        && frozen_server.indexed_users == ctx.users.len() as u64;
    eprintln!(
        "  frozen: clients hold {client_sockets} sockets on {client_sessions} sessions \
         ({of_destroyed} of destroyed sessions); server: sockets={} timers={} rooms={}",
        frozen_server.sockets, frozen_server.timers, frozen_server.rooms
    );

    // The working set's counts.
    for i in 0..ctx.slots.len() {
        let s = ctx.slot(i);
        let _g = s.lock.clone().write_owned().await;
        if let Err(e) = check_count(&ctx, &s).await {
            ctx.error(format!("final count check: {e}"));
        }
    }

    // Every client closes; two seconds later nothing may be left.
    phase_tx.send_replace(Phase::Close);
    let close_deadline = Instant::now() + Duration::from_secs(30);
    while ctx.c.tasks.load(Ordering::Relaxed) > 0 && Instant::now() < close_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let final_server = gauges(&ctx.pool).await?;
    if let Err(e) = log_everyone_out(&ctx).await {
        ctx.error(format!("final logout-everywhere: {e}"));
    }
    let after_logout_everywhere = gauges(&ctx.pool).await?;
    let totals = metrics(
        &ctx.pool,
        &[
            "sessionio_handshakes_accepted_total",
            "sessionio_sessions_destroyed_total",
            "sessionio_sockets_kicked_total",
            "sessionio_notifications_sent_total",
            "sessionio_notifications_dropped_total",
            "sessionio_acks_dropped_total",
        ],
    )
    .await?;
    let rss_after_close = server.rss_bytes();
    let cpu1 = (server.cpu_seconds(), own_cpu_seconds());

    // RSS after the warm-up against its value at the end of the warm-up.
    let warmup_s = o.secs * o.warmup;
    let warm = (samples.iter().rev())
        .find(|s| s.t_s <= warmup_s + 0.5)
        .or(samples.first())
        .map_or(0, |s| s.rss);
    let after: Vec<u64> = (samples.iter())
        .filter(|s| s.t_s > warmup_s + 0.5)
        .map(|s| s.rss)
        .collect();
    let pct = |v: u64| (v as f64 - warm as f64) / warm.max(1) as f64 * 100.0;
    let drift = (after.iter())
        .map(|&v| pct(v))
        .fold(0.0f64, |m, d| if d.abs() > m.abs() { d } else { m });
    let rss_last = samples.last().map_or(0, |s| s.rss);

    let c = &ctx.c;
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let connects = ld(&c.connects);
    let logouts = ld(&c.logouts);
    let mut r = Soak {
        command: o.command.clone(),
        secs: churn_secs,
        target_rate: o.rate,
        working_set: o.sessions,
        target_http_rate: o.http_rate,
        target_socket_incr_rate: o.socket_incr_rate,
        target_logout_rate: o.logout_rate,
        fd_limit,
        close_modes: o.close_modes.clone(),
        measured_process: measured.clone(),
        connects,
        connects_per_s: connects as f64 / churn_secs,
        connects_skipped: ld(&c.connects_skipped),
        disconnects: ld(&c.closed_by_client) + ld(&c.closed_by_server),
        disconnects_by_client: ld(&c.closed_by_client),
        disconnects_by_server: ld(&c.closed_by_server),
        incr_http: ld(&c.incr_http),
        incr_socket: ld(&c.incr_socket),
        incr_socket_skipped: ld(&c.incr_socket_skipped),
        notifications_received: ld(&c.notifications),
        sessions_created: ld(&c.sessions_created),
        logouts,
        logouts_everywhere: ld(&c.logouts_everywhere),
        logins: ld(&c.logins),
        counts_checked: ld(&c.checked),
        lost_updates: ld(&c.lost),
        extra_updates: ld(&c.extra),
        mismatched_sessions: ld(&c.mismatched_sessions),
        errors: ld(&c.errors),
        first_error: ctx
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        sample_secs: o.sample_secs,
        warmup_s,
        rss_start,
        rss_warm: warm,
        rss_min_after_warmup: after.iter().copied().min().unwrap_or(0),
        rss_max_after_warmup: after.iter().copied().max().unwrap_or(0),
        rss_last,
        rss_drift_pct: drift,
        rss_last_drift_pct: pct(rss_last),
        rss_tolerance_pct: o.tolerance_pct,
        rss_after_close,
        samples,
        frozen_client_sockets: client_sockets,
        frozen_client_sessions_with_sockets: client_sessions,
        frozen_sockets_of_destroyed_sessions: of_destroyed,
        frozen_server,
        frozen_left,
        final_server,
        after_logout_everywhere,
        handshakes_accepted_total: totals[0],
        sessions_destroyed_total: totals[1],
        sockets_kicked_total: totals[2],
        notifications_sent_total: totals[3],
        notifications_dropped_total: totals[4],
        acks_dropped_total: totals[5],
        server_cpu_s: cpu1.0 - cpu0.0,
        generator_cpu_s: cpu1.1 - cpu0.1,
        ..Default::default()
    };
    let shell = ["sh", "bash", "dash", "heaptrack", "env", "timeout"].contains(&measured.as_str());
    let checks = vec![
        (
            format!("RSS is the server's (pid {} is {measured:?}; the command must exec it)", server.pid()),
            !shell,
        ),
        (
            format!(
                "no errors ({}: {:?}; the server dropped {} notifications and {} acks)",
                r.errors, r.first_error, r.notifications_dropped_total, r.acks_dropped_total
            ),
            r.errors == 0,
        ),
        (
            format!(
                "no lost updates (lost {}, extra {}, over {} sessions checked)",
                r.lost_updates, r.extra_updates, r.counts_checked
            ),
            r.lost_updates == 0 && r.extra_updates == 0,
        ),
        (
            format!(
                "RSS within ±{}% of {:.1} MB after the warm-up (drift {:+.1}%)",
                o.tolerance_pct,
                mb(warm),
                drift
            ),
            !after.is_empty() && drift.abs() <= o.tolerance_pct,
        ),
        (
            format!(
                "frozen: server gauges = clients' sockets {client_sockets} / sessions {client_sessions} / \
                 rooms {client_rooms} (server sockets={} timers={} rooms={})",
                frozen_server.sockets, frozen_server.timers, frozen_server.rooms
            ),
            frozen_agree,
        ),
        (
            format!("no socket of a destroyed session left open ({of_destroyed})"),
            of_destroyed == 0,
        ),
        (
            format!(
                "nothing left after close (sockets={} timers={} rooms={})",
                final_server.sockets, final_server.timers, final_server.rooms
            ),
            final_server.sockets == 0 && final_server.timers == 0 && final_server.rooms == 0,
        ),
        (
            format!(
                "frozen: the user index holds the working set ({} sessions of {} users; server {} / {})",
                ctx.slots.len(),
                ctx.users.len(),
                frozen_server.indexed_user_sessions,
                frozen_server.indexed_users
            ),
            frozen_index_agrees,
        ),
        (
            format!(
                "the user index is empty once every user logged out everywhere (users={} sessions={})",
                after_logout_everywhere.indexed_users, after_logout_everywhere.indexed_user_sessions
            ),
            after_logout_everywhere.indexed_users == 0
                && after_logout_everywhere.indexed_user_sessions == 0,
        ),
        (
            format!(
                "server counters agree: handshakes accepted {} = connects {connects}, sessions destroyed {} = logouts {logouts} + logins {}",
                r.handshakes_accepted_total, r.sessions_destroyed_total, r.logins
            ),
            r.handshakes_accepted_total == connects
                && r.sessions_destroyed_total == logouts + r.logins,
        ),
        (
            format!(
                "connect rate ≥ 90% of {}/s ({:.0}/s)",
                o.rate, r.connects_per_s
            ),
            r.connects_per_s >= 0.9 * o.rate,
        ),
    ];
    r.pass = checks.iter().all(|(_, ok)| *ok);
    for (name, ok) in &checks {
        eprintln!("  {} {name}", if *ok { "ok  " } else { "FAIL" });
    }
    r.checks = checks;
    r.summary = format!(
        "soak secs={:.0} connects={} disconnects={} incr_http={} incr_socket={} logouts={} (everywhere {}) logins={} lost={} \
         rss_warm={:.1}MB rss_last={:.1}MB drift={:+.1}% left: sockets={} timers={} rooms={} {}",
        r.secs,
        r.connects,
        r.disconnects,
        r.incr_http,
        r.incr_socket,
        r.logouts,
        r.logouts_everywhere,
        r.logins,
        r.lost_updates + r.extra_updates,
        mb(r.rss_warm),
        mb(r.rss_last),
        r.rss_drift_pct,
        final_server.sockets + frozen_left.sockets,
        final_server.timers + frozen_left.timers,
        final_server.rooms + frozen_left.rooms,
        if r.pass { "PASS" } else { "FAIL" }
    );
    Ok(r)
}
