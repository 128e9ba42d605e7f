//! The measurements, each on a fresh server process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::client::{self, Probe, Totals};
use crate::http::HttpConn;
use crate::server::{own_cpu_seconds, Server};

/// Connections per loopback source address: the ephemeral port range holds ~28k, and
/// picking a free port slows down as it fills.
const CONNS_PER_SOURCE: usize = 5_000;
const CONNECT_CONCURRENCY: usize = 128;
const HTTP_CONCURRENCY: usize = 8;

/// First loopback source address (last octet) of the current scenario.
static SOURCE_BASE: AtomicUsize = AtomicUsize::new(2);

/// Gives the next scenario source addresses of its own: the previous scenario's closed
/// connections hold their ports in TIME_WAIT for a minute.
pub fn fresh_sources() {
    let next = SOURCE_BASE.load(Ordering::Relaxed) + 11;
    SOURCE_BASE.store(if next > 240 { 2 } else { next }, Ordering::Relaxed);
}

fn source_for(index: usize) -> IpAddr {
    let octet = SOURCE_BASE.load(Ordering::Relaxed) + index / CONNS_PER_SOURCE;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, octet as u8))
}

/// A small xorshift generator: reproducible picks without a dependency.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Creates `n` sessions with `GET /`, on a few keep-alive connections.
pub async fn create_sessions(http: SocketAddr, n: usize) -> Result<Vec<String>, String> {
    let per = n.div_ceil(HTTP_CONCURRENCY);
    let mut tasks = Vec::new();
    for w in 0..HTTP_CONCURRENCY {
        let count = per.min(n.saturating_sub(w * per));
        tasks.push(tokio::spawn(async move {
            let mut conn = HttpConn::connect(http).await.map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                out.push(conn.new_session().await?);
            }
            Ok::<_, String>(out)
        }));
    }
    let mut cookies = Vec::with_capacity(n);
    for t in tasks {
        cookies.extend(t.await.map_err(|e| e.to_string())??);
    }
    Ok(cookies)
}

/// Opens `per_session` sockets for each cookie, `first_index` numbering the
/// connections (for the source address). Returns the probes per session and the
/// time it took.
pub async fn open_sockets(
    server: SocketAddr,
    cookies: &[String],
    per_session: usize,
    first_index: usize,
    totals: &Arc<Totals>,
) -> Result<(Vec<Vec<Probe>>, Duration), String> {
    let started = Instant::now();
    let jobs = cookies
        .iter()
        .enumerate()
        .flat_map(|(s, c)| (0..per_session).map(move |k| (s, c.clone(), k)))
        .enumerate()
        .map(|(i, (s, cookie, _))| {
            let totals = totals.clone();
            // A task per connection, so that both cores drive handshakes.
            let task = tokio::spawn(async move {
                client::connect(server, source_for(first_index + i), &cookie, totals).await
            });
            async move {
                let p = task
                    .await
                    .unwrap_or_else(|e| Err(format!("connect task: {e}")));
                (s, p)
            }
        });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(CONNECT_CONCURRENCY);
    let mut per: Vec<Vec<Probe>> = (0..cookies.len()).map(|_| Vec::new()).collect();
    let mut first_error = None;
    let mut failed = 0usize;
    while let Some((s, p)) = results.next().await {
        match p {
            Ok(p) => per[s].push(p),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(format!("{failed} sockets failed to connect; first: {e}"));
    }
    Ok((per, started.elapsed()))
}

/// Background `POST /incr` load: four clients, each incrementing a random one of the first
/// `half` sessions every 10 ms, until [`finish`](Self::finish).
pub struct BackgroundLoad {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>,
}

impl BackgroundLoad {
    pub fn start(http: SocketAddr, cookies: Arc<Vec<String>>, half: usize) -> BackgroundLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let tasks = (0..4u64)
            .map(|w| {
                let (stop, done, cookies) = (stop.clone(), done.clone(), cookies.clone());
                tokio::spawn(async move {
                    let mut conn = HttpConn::connect(http).await.map_err(|e| e.to_string())?;
                    let mut rng = Rng::new(0x9e37_79b9 + w);
                    let mut tick = tokio::time::interval(Duration::from_millis(10));
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        conn.incr(&cookies[rng.below(half)]).await?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        BackgroundLoad {
            stop,
            done,
            started: Instant::now(),
            tasks,
        }
    }

    /// Stops the load; answers how long it ran (s) and its increments per second.
    pub async fn finish(self) -> Result<(f64, f64), String> {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64();
        for t in self.tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        Ok((elapsed, self.done.load(Ordering::Relaxed) as f64 / elapsed))
    }
}

/// Sockets at 5k: handshake rate, RSS, notify latency under background load, CPU.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Main {
    pub sessions: usize,
    pub conns: usize,
    pub handshakes_per_s: f64,
    /// CPU of the server's main thread while the sockets were opened, per handshake (µs).
    #[serde(default)]
    pub handshake_main_thread_cpu_us: f64,
    pub rss_idle: u64,
    pub rss_sessions: u64,
    pub rss_conns: u64,
    pub notify_samples: usize,
    pub background_rps: f64,
    pub notify_p50_ms: f64,
    pub notify_p99_ms: f64,
    pub notify_max_ms: f64,
    pub server_cpu_s: f64,
    pub generator_cpu_s: f64,
}

impl Main {
    pub fn rss_per_conn(&self) -> f64 {
        self.rss_conns as f64 / self.conns as f64
    }
    pub fn rss_marginal_per_conn(&self) -> f64 {
        (self.rss_conns.saturating_sub(self.rss_sessions)) as f64 / self.conns as f64
    }
}

pub async fn main_run(server: &Server, sessions: usize, samples: usize) -> Result<Main, String> {
    fresh_sources();
    let cpu0 = (server.cpu_seconds(), own_cpu_seconds());
    let rss_idle = server.rss_bytes();
    let cookies = create_sessions(server.http, sessions).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_sessions = server.rss_bytes();
    let totals = Arc::new(Totals::default());
    let main_thread0 = server.main_thread_cpu_seconds();
    let (probes, took) = open_sockets(server.socket, &cookies, 2, 0, &totals).await?;
    let conns = sessions * 2;
    let handshake_main_thread_cpu_us =
        (server.main_thread_cpu_seconds() - main_thread0) * 1e6 / conns as f64;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_conns = server.rss_bytes();

    // Background load on the first half of the sessions; samples on the other half,
    // so that a background increment never stands in for a sampled one.
    let half = sessions / 2;
    let cookies = Arc::new(cookies);
    let background = BackgroundLoad::start(server.http, cookies.clone(), half);
    let mut conn = HttpConn::connect(server.http)
        .await
        .map_err(|e| e.to_string())?;
    let mut rng = Rng::new(42);
    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let s = half + rng.below(sessions - half);
        let t0 = Instant::now();
        let n = conn.incr(&cookies[s]).await?;
        let mut last = t0;
        for p in &probes[s] {
            last = last.max(client::wait_count(p, n, Duration::from_secs(10)).await?);
        }
        lat.push((last - t0).as_secs_f64() * 1e3);
    }
    let (_, background_rps) = background.finish().await?;
    lat.sort_by(f64::total_cmp);
    let cpu1 = (server.cpu_seconds(), own_cpu_seconds());
    drop(probes);
    Ok(Main {
        sessions,
        conns,
        handshakes_per_s: conns as f64 / took.as_secs_f64(),
        handshake_main_thread_cpu_us,
        rss_idle,
        rss_sessions,
        rss_conns,
        notify_samples: samples,
        background_rps,
        notify_p50_ms: percentile(&lat, 0.50),
        notify_p99_ms: percentile(&lat, 0.99),
        notify_max_ms: lat.last().copied().unwrap_or(f64::NAN),
        server_cpu_s: cpu1.0 - cpu0.0,
        generator_cpu_s: cpu1.1 - cpu0.1,
    })
}

/// RSS as connections grow (two sockets per session).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Curve {
    /// (connections, server RSS bytes)
    pub points: Vec<(usize, u64)>,
    pub rss_sessions_at_max: u64,
    pub handshakes_per_s: f64,
}

pub async fn curve_run(server: &Server, steps: &[usize]) -> Result<Curve, String> {
    fresh_sources();
    let totals = Arc::new(Totals::default());
    let mut all: Vec<Vec<Probe>> = Vec::new();
    let mut open = 0usize;
    let mut connect_time = Duration::ZERO;
    let mut curve = Curve {
        points: vec![(0, server.rss_bytes())],
        ..Default::default()
    };
    for &target in steps {
        let sessions = (target - open) / 2;
        let cookies = create_sessions(server.http, sessions).await?;
        let (probes, took) = open_sockets(server.socket, &cookies, 2, open, &totals).await?;
        connect_time += took;
        open += sessions * 2;
        eprintln!(
            "    {open} connections: this step's handshakes at {:.0}/s",
            (sessions * 2) as f64 / took.as_secs_f64()
        );
        all.extend(probes);
        tokio::time::sleep(Duration::from_secs(1)).await;
        curve.points.push((open, server.rss_bytes()));
    }
    curve.handshakes_per_s = open as f64 / connect_time.as_secs_f64();
    drop(all);
    Ok(curve)
}

/// One session with many sockets, increments as fast as the HTTP side allows:
/// messages delivered per second.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Fanout {
    pub sockets: usize,
    pub posts: u64,
    pub delivered: u64,
    pub seconds: f64,
    pub messages_per_s: f64,
    pub server_cpu_s: f64,
}

pub async fn fanout_run(server: &Server, sockets: usize, secs: f64) -> Result<Fanout, String> {
    fresh_sources();
    let cookies = create_sessions(server.http, 1).await?;
    let totals = Arc::new(Totals::default());
    let (probes, _) = open_sockets(server.socket, &cookies, sockets, 0, &totals).await?;
    let probes = &probes[0];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = server.cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let cookie = Arc::new(cookies[0].clone());
    let mut posters = Vec::new();
    for _ in 0..4 {
        let (cookie, http) = (cookie.clone(), server.http);
        posters.push(tokio::spawn(async move {
            let mut conn = HttpConn::connect(http).await.map_err(|e| e.to_string())?;
            let (mut posts, mut max) = (0u64, 0u64);
            while Instant::now() < deadline {
                max = max.max(conn.incr(&cookie).await?);
                posts += 1;
            }
            Ok::<_, String>((posts, max))
        }));
    }
    let (mut posts, mut max) = (0u64, 0u64);
    for p in posters {
        let (n, m) = p.await.map_err(|e| e.to_string())??;
        posts += n;
        max = max.max(m);
    }
    // Delivery ends when every socket holds the last count.
    let mut last = started;
    for p in probes {
        last = last.max(client::wait_count(p, max, Duration::from_secs(60)).await?);
    }
    let seconds = (last - started).as_secs_f64();
    let delivered = totals.counts_received.load(Ordering::Relaxed);
    Ok(Fanout {
        sockets,
        posts,
        delivered,
        seconds,
        messages_per_s: delivered as f64 / seconds,
        server_cpu_s: server.cpu_seconds() - cpu0,
    })
}

/// Sessions left alone until they expire: how late their sockets are kicked.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Expiry {
    pub sockets: usize,
    pub ttl_ms: u64,
    pub kicked: usize,
    pub delay_p50_ms: f64,
    pub delay_max_ms: f64,
}

pub async fn expiry_run(server: &Server, sessions: usize, ttl_ms: u64) -> Result<Expiry, String> {
    fresh_sources();
    let totals = Arc::new(Totals::default());
    let mut http = HttpConn::connect(server.http)
        .await
        .map_err(|e| e.to_string())?;
    let mut probes = Vec::new();
    for i in 0..sessions {
        // The session's last activity is its creation or its handshake, both after `t`:
        // measuring from `t + ttl` over-states the delay by at most those two round trips.
        let t = Instant::now();
        let cookie = http.new_session().await?;
        let p = client::connect(server.socket, source_for(i), &cookie, totals.clone()).await?;
        probes.push((t, p));
    }
    let ttl = Duration::from_millis(ttl_ms);
    let mut delays = Vec::new();
    // Expiry instants are whole milliseconds of the wall clock on the server: allow
    // that much rounding before calling a kick early.
    let tolerance = Duration::from_millis(2);
    let mut early = Vec::new();
    for (t, p) in &probes {
        let mut rx = p.closed.clone();
        let waited = tokio::time::timeout_at(
            (*t + ttl + Duration::from_secs(45)).into(),
            rx.wait_for(Option::is_some),
        )
        .await;
        if let Ok(Ok(v)) = waited {
            let closed = v.expect("wait_for returned Some");
            if closed + tolerance < *t + ttl {
                early.push((*t + ttl - closed).as_secs_f64() * 1e3);
            }
            delays.push(closed.saturating_duration_since(*t + ttl).as_secs_f64() * 1e3);
        }
    }
    if !early.is_empty() {
        return Err(format!(
            "{} sockets were closed before their session could expire (by {early:.1?} ms)",
            early.len()
        ));
    }
    delays.sort_by(f64::total_cmp);
    Ok(Expiry {
        sockets: sessions,
        ttl_ms,
        kicked: delays.len(),
        delay_p50_ms: percentile(&delays, 0.5),
        delay_max_ms: delays.last().copied().unwrap_or(f64::NAN),
    })
}
