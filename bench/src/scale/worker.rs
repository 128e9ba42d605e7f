//! One load-generator process (`sessionio-bench scale-worker`, started by the parent):
//! holds up to [`MAX_SOCKETS_PER_WORKER`](super::options::MAX_SOCKETS_PER_WORKER)
//! sockets, answers their pings, sends background increments, and counts what is still
//! open, as the parent's [`Order`]s say.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::populate::{self, Socket};
use super::protocol::{self, Order, Report};
use super::topology::{self, SOCKETS_PER_SESSION};
use crate::client::Totals;
use crate::http::HttpConn;
use crate::scenario::Rng;
use crate::server;

/// Everything the process holds between orders.
#[derive(Default)]
struct Generator {
    http: Vec<SocketAddr>,
    first: usize,
    cookies: Arc<Vec<String>>,
    sockets: Vec<Socket>,
    totals: Arc<Totals>,
    background: Option<Background>,
}

/// The background `POST /incr` task and its stop flag.
struct Background {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Report>,
}

/// The `scale-worker` subcommand: obeys orders from stdin until it closes.
pub async fn run(_args: &[String]) -> Result<(), String> {
    server::raise_fd_limit();
    let mut orders = orders();
    let mut g = Generator::default();
    while let Some(line) = orders.recv().await {
        let report = match protocol::decode::<Order>(&line) {
            Ok(order) => g.obey(order).await,
            Err(e) => Err(e),
        }
        .unwrap_or_else(|error| Report::Failed { error });
        // One short line per order: a blocking write is fine here.
        let mut out = std::io::stdout().lock();
        out.write_all(protocol::encode(&report)?.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("write: {e}"))?;
    }
    // The parent is done (or gone): every socket closes as the process ends.
    Ok(())
}

/// Stdin's lines, read by a thread of their own (blocking reads; tokio's stdin is a
/// feature this crate does without); the channel closes when stdin does.
fn orders() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Generator {
    async fn obey(&mut self, order: Order) -> Result<Report, String> {
        match order {
            Order::Create { http, first, count } => {
                let started = Instant::now();
                let homes: Vec<usize> = (first..first + count)
                    .map(|s| topology::worker_place(s, http.len()).home)
                    .collect();
                self.cookies = Arc::new(populate::create_sessions(&http, &homes).await?);
                self.http = http;
                self.first = first;
                Ok(Report::Created {
                    sessions: count,
                    secs: started.elapsed().as_secs_f64(),
                })
            }
            Order::Open {
                sockets,
                source,
                concurrency,
            } => {
                let nodes = sockets.len();
                let jobs = (0..self.cookies.len())
                    .flat_map(|i| {
                        let place = topology::worker_place(self.first + i, nodes);
                        place.sockets.map(|node| (i, node))
                    })
                    .collect::<Vec<_>>();
                debug_assert_eq!(jobs.len(), self.cookies.len() * SOCKETS_PER_SESSION);
                let opened = populate::open_sockets(
                    &sockets,
                    &self.cookies,
                    jobs,
                    source,
                    concurrency,
                    &self.totals,
                )
                .await;
                self.sockets.extend(opened.sockets);
                Ok(Report::Opened {
                    per_node: populate::open_per_node(&self.sockets, nodes),
                    failed: opened.failed,
                    first_error: opened.first_error,
                    secs: opened.took.as_secs_f64(),
                })
            }
            Order::Background { rate } => {
                if self.background.is_some() {
                    return Err("the background load is already running".into());
                }
                self.background = Some(self.start_background(rate)?);
                Ok(Report::BackgroundStarted)
            }
            Order::StopBackground => {
                let b = self
                    .background
                    .take()
                    .ok_or("no background load is running")?;
                b.stop.store(true, Ordering::Relaxed);
                b.task.await.map_err(|e| format!("background task: {e}"))
            }
            Order::Census => Ok(Report::Census {
                open_per_node: populate::open_per_node(&self.sockets, self.http.len()),
            }),
        }
    }

    /// One task posting `/incr` for a random session of this generator to a random node,
    /// every `1/rate` s; a slow answer delays the next tick rather than bunching them.
    fn start_background(&self, rate: f64) -> Result<Background, String> {
        if self.cookies.is_empty() || rate.is_nan() || rate <= 0.0 {
            return Err(format!(
                "no background load possible: {} sessions, rate {rate}",
                self.cookies.len()
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (cookies, http, flag) = (self.cookies.clone(), self.http.clone(), stop.clone());
        let seed = self.first as u64 + 1;
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut conns: Vec<Option<HttpConn>> = http.iter().map(|_| None).collect();
            let mut rng = Rng::new(seed);
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut posts, mut errors, mut first_error) = (0u64, 0u64, None);
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                let (s, node) = (rng.below(cookies.len()), rng.below(http.len()));
                let result = match &mut conns[node] {
                    Some(conn) => conn.incr(&cookies[s]).await,
                    slot => match HttpConn::connect(http[node]).await {
                        Ok(conn) => slot.insert(conn).incr(&cookies[s]).await,
                        Err(e) => Err(format!("connect {}: {e}", http[node])),
                    },
                };
                posts += 1;
                if let Err(e) = result {
                    errors += 1;
                    first_error.get_or_insert(e);
                    // The connection may be broken: the next post to this node opens another.
                    conns[node] = None;
                }
            }
            Report::BackgroundStopped {
                posts,
                errors,
                first_error,
                secs: started.elapsed().as_secs_f64(),
            }
        });
        Ok(Background { stop, task })
    }
}
