//! Filling the nodes: sessions created over HTTP on their home nodes, then their sockets
//! opened on their nodes, many at a time. The load generators and the parent's probes
//! both go through here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::client::{self, Probe, Totals};
use crate::http::HttpConn;

/// Keep-alive HTTP connections per node while creating sessions: Redis (fsync at every
/// write) is the bottleneck, and a few requests per node in flight keep it busy.
const CREATE_CONNS_PER_NODE: usize = 2;

/// Creates one session per entry of `homes` with `GET /` on node `homes[i]`: the
/// cookies (`name=value`), in the same order.
pub async fn create_sessions(http: &[SocketAddr], homes: &[usize]) -> Result<Vec<String>, String> {
    let mut tasks = Vec::new();
    for (node, &addr) in http.iter().enumerate() {
        let mine: Vec<usize> = (0..homes.len()).filter(|&i| homes[i] == node).collect();
        for part in mine.chunks(mine.len().div_ceil(CREATE_CONNS_PER_NODE).max(1)) {
            let part = part.to_vec();
            tasks.push(tokio::spawn(async move {
                let mut conn = HttpConn::connect(addr)
                    .await
                    .map_err(|e| format!("connect {addr}: {e}"))?;
                let mut out = Vec::with_capacity(part.len());
                for i in part {
                    out.push((i, conn.new_session().await?));
                }
                Ok::<_, String>(out)
            }));
        }
    }
    let mut cookies = vec![String::new(); homes.len()];
    for t in tasks {
        for (i, cookie) in t.await.map_err(|e| e.to_string())?? {
            cookies[i] = cookie;
        }
    }
    Ok(cookies)
}

/// One open socket: its session (an index into the cookies given) and node.
pub struct Socket {
    pub session: usize,
    pub node: usize,
    pub probe: Probe,
}

impl Socket {
    /// Still open: the server has not closed it.
    pub fn is_open(&self) -> bool {
        self.probe.closed.borrow().is_none()
    }
}

/// What [`open_sockets`] did.
pub struct Opened {
    pub sockets: Vec<Socket>,
    /// Sockets that could not be opened, and the first reason.
    pub failed: usize,
    pub first_error: Option<String>,
    pub took: Duration,
}

/// Opens a socket for every `(session, node)` of `jobs` on `servers[node]` with
/// `cookies[session]`, from `source`, `concurrency` handshakes in flight. A socket that
/// fails is counted, not retried: a refused handshake is a finding.
pub async fn open_sockets(
    servers: &[SocketAddr],
    cookies: &[String],
    jobs: Vec<(usize, usize)>,
    source: IpAddr,
    concurrency: usize,
    totals: &Arc<Totals>,
) -> Opened {
    let started = Instant::now();
    let tasks = jobs.into_iter().map(|(session, node)| {
        let (server, cookie, totals) = (servers[node], cookies[session].clone(), totals.clone());
        // A task per handshake, so that every core of this process drives them.
        let task =
            tokio::spawn(async move { client::connect(server, source, &cookie, totals).await });
        async move {
            let probe = task
                .await
                .unwrap_or_else(|e| Err(format!("connect task: {e}")));
            (session, node, probe)
        }
    });
    let mut done = futures_util::stream::iter(tasks).buffer_unordered(concurrency);
    let mut opened = Opened {
        sockets: Vec::new(),
        failed: 0,
        first_error: None,
        took: Duration::ZERO,
    };
    while let Some((session, node, probe)) = done.next().await {
        match probe {
            Ok(probe) => opened.sockets.push(Socket {
                session,
                node,
                probe,
            }),
            Err(e) => {
                opened.failed += 1;
                opened
                    .first_error
                    .get_or_insert_with(|| format!("node {node}: {e}"));
            }
        }
    }
    opened.took = started.elapsed();
    opened
}

/// Sockets still open, per node (`nodes` of them).
pub fn open_per_node(sockets: &[Socket], nodes: usize) -> Vec<usize> {
    let mut per = vec![0; nodes];
    for s in sockets.iter().filter(|s| s.is_open()) {
        per[s.node] += 1;
    }
    per
}
