//! The parent's own sessions, whose sockets time what crosses nodes: `POST /incr` on a
//! session's home node until each of its sockets (on two other nodes) received the new
//! count, and `POST /logout` there until each of them was disconnected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::populate::{self, Socket};
use super::topology::{self, Place, PROBE_SOURCE};
use crate::client::{Probe, Totals};
use crate::cluster::{self, Latency};
use crate::http::HttpConn;
use crate::scenario::Rng;

/// Handshakes in flight while the probes open: few sockets, one source address.
const PROBE_CONCURRENCY: usize = 32;
/// A notification or a logout that has not reached every socket by then is a failure.
pub const REACH_BOUND: Duration = Duration::from_secs(5);
/// Between two samples, so that they spread over the background load rather than make
/// most of it.
const SAMPLE_GAP: Duration = Duration::from_millis(5);

/// One probe session.
pub struct ProbeSession {
    pub cookie: String,
    pub place: Place,
    pub sockets: Vec<Probe>,
}

impl ProbeSession {
    /// The highest count any of its sockets has received.
    pub fn count_seen(&self) -> u64 {
        self.sockets
            .iter()
            .map(|p| p.count.borrow().0)
            .max()
            .unwrap_or(0)
    }
}

/// Probe sessions and a keep-alive HTTP connection to every node.
pub struct Probes {
    pub sessions: Vec<ProbeSession>,
    conns: Vec<HttpConn>,
    http: Vec<SocketAddr>,
}

async fn connect_all(http: &[SocketAddr]) -> Result<Vec<HttpConn>, String> {
    let mut conns = Vec::with_capacity(http.len());
    for &addr in http {
        conns.push(
            HttpConn::connect(addr)
                .await
                .map_err(|e| format!("connect {addr}: {e}"))?,
        );
    }
    Ok(conns)
}

impl Probes {
    /// Creates `count` probe sessions (numbered from `first`, which fixes their places)
    /// and opens their sockets; every socket must open.
    pub async fn open(
        http: &[SocketAddr],
        sockets: &[SocketAddr],
        first: usize,
        count: usize,
    ) -> Result<Probes, String> {
        let nodes = http.len();
        let places: Vec<Place> = (first..first + count)
            .map(|p| topology::probe_place(p, nodes))
            .collect();
        let homes: Vec<usize> = places.iter().map(|p| p.home).collect();
        let cookies = populate::create_sessions(http, &homes).await?;
        let jobs = places
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.sockets.map(|node| (i, node)))
            .collect();
        let totals = Arc::new(Totals::default());
        let opened = populate::open_sockets(
            sockets,
            &cookies,
            jobs,
            PROBE_SOURCE,
            PROBE_CONCURRENCY,
            &totals,
        )
        .await;
        if let Some(e) = opened.first_error {
            return Err(format!(
                "{} probe sockets failed to open; first: {e}",
                opened.failed
            ));
        }
        let mut per: Vec<Vec<Probe>> = (0..count).map(|_| Vec::new()).collect();
        for Socket { session, probe, .. } in opened.sockets {
            per[session].push(probe);
        }
        let sessions = cookies
            .into_iter()
            .zip(places)
            .zip(per)
            .map(|((cookie, place), sockets)| ProbeSession {
                cookie,
                place,
                sockets,
            })
            .collect();
        Ok(Probes {
            sessions,
            conns: connect_all(http).await?,
            http: http.to_vec(),
        })
    }

    /// New keep-alive connections to every node: the servers close an HTTP connection
    /// left idle for a while (45 s with the default heartbeat), as it is during the idle
    /// phase.
    pub async fn reconnect(&mut self) -> Result<(), String> {
        self.conns = connect_all(&self.http).await?;
        Ok(())
    }

    /// Sockets still open on each node (`nodes` of them).
    pub fn open_per_node(&self, nodes: usize) -> Vec<usize> {
        let mut per = vec![0; nodes];
        for s in &self.sessions {
            for (p, &node) in s.sockets.iter().zip(&s.place.sockets) {
                if p.closed.borrow().is_none() {
                    per[node] += 1;
                }
            }
        }
        per
    }

    /// The keep-alive connection to `node`.
    pub fn conn(&mut self, node: usize) -> &mut HttpConn {
        &mut self.conns[node]
    }

    /// `POST /incr` for each of `sessions` on its home node, all at once (each on its
    /// node's connection, so the homes must differ): (status, body, milliseconds to the
    /// answer) of each, or the transport error.
    pub async fn incr_at_once(
        &mut self,
        sessions: &[usize],
    ) -> Vec<Result<(u16, String, f64), String>> {
        let mut by_node: Vec<Option<&mut HttpConn>> = self.conns.iter_mut().map(Some).collect();
        let posts = sessions.iter().map(|&i| {
            let s = &self.sessions[i];
            let conn = by_node[s.place.home].take();
            async move {
                let conn = conn.ok_or("two sessions of one home node")?;
                let t0 = Instant::now();
                let r = conn.request("POST", "/incr", Some(&s.cookie)).await?;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                Ok((r.status, String::from_utf8_lossy(&r.body).into_owned(), ms))
            }
        });
        futures_util::future::join_all(posts.collect::<Vec<_>>()).await
    }

    /// `samples` times: `POST /incr` on a random probe session's home node, timed until
    /// every socket of it (on other nodes) received the new count; and the same requests'
    /// answer time.
    pub async fn notify_samples(&mut self, samples: usize) -> Result<(Latency, Latency), String> {
        self.reconnect().await?;
        let mut rng = Rng::new(42);
        let mut ms = Vec::with_capacity(samples);
        let mut answered = Vec::with_capacity(samples);
        for _ in 0..samples {
            let s = &self.sessions[rng.below(self.sessions.len())];
            let t0 = Instant::now();
            let n = self.conns[s.place.home].incr(&s.cookie).await?;
            answered.push(t0.elapsed().as_secs_f64() * 1e3);
            let took = tokio::time::timeout(REACH_BOUND, cluster::all_received(&s.sockets, n, t0))
                .await
                .map_err(|_| {
                    format!(
                        "a notification (POST /incr on node {}) did not reach the session's \
                         sockets on nodes {:?} within {REACH_BOUND:?}",
                        s.place.home, s.place.sockets
                    )
                })??;
            ms.push(took);
            tokio::time::sleep(SAMPLE_GAP).await;
        }
        Ok((Latency::of(ms), Latency::of(answered)))
    }

    /// Logs every probe session out, one at a time, each with `POST /logout` on its home
    /// node: timed until the last of its sockets (on other nodes) was disconnected.
    pub async fn logout_samples(&mut self) -> Result<Latency, String> {
        self.reconnect().await?;
        let mut ms = Vec::with_capacity(self.sessions.len());
        for s in &self.sessions {
            let t0 = Instant::now();
            let r = self.conns[s.place.home]
                .request("POST", "/logout", Some(&s.cookie))
                .await?;
            if r.status != 204 {
                return Err(format!("POST /logout answered {}", r.status));
            }
            let mut last = t0;
            for p in &s.sockets {
                let mut rx = p.closed.clone();
                let closed = tokio::time::timeout(REACH_BOUND, rx.wait_for(Option::is_some))
                    .await
                    .map_err(|_| {
                        format!(
                            "a logout (POST /logout on node {}) did not disconnect the \
                             session's sockets on nodes {:?} within {REACH_BOUND:?}",
                            s.place.home, s.place.sockets
                        )
                    })?
                    .map_err(|_| "a socket task vanished".to_owned())?;
                last = last.max(closed.expect("waited for Some"));
            }
            ms.push((last - t0).as_secs_f64() * 1e3);
            tokio::time::sleep(SAMPLE_GAP).await;
        }
        Ok(Latency::of(ms))
    }
}
