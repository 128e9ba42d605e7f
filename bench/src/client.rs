//! One Socket.IO client over a raw Engine.IO v4 websocket: connect with the session
//! cookie, answer pings, and report what the load generator measures — the last
//! `"current count"` it received (with the instant), how many it received, and when the
//! server closed it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// What a client's task reports.
pub struct Probe {
    /// (count, when received) of the latest `"current count"`.
    pub count: watch::Receiver<(u64, Instant)>,
    /// When the server ended the socket (disconnect packet, close frame or EOF).
    pub closed: watch::Receiver<Option<Instant>>,
    /// The task; aborting it drops the connection.
    pub task: tokio::task::JoinHandle<()>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counters shared by every client.
#[derive(Default)]
pub struct Totals {
    pub counts_received: AtomicU64,
}

fn ws_config() -> WebSocketConfig {
    // tungstenite's 128 KiB default read buffer would cost the generator 6 GiB at 50k
    // connections; our frames are tiny.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// A websocket past the Socket.IO connect: what [`handshake`] answers.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens one socket: TCP from `source` (for more than ~28k connections per source
/// address), websocket upgrade with `cookie`, Engine.IO open, Socket.IO connect.
pub async fn connect(
    server: SocketAddr,
    source: IpAddr,
    cookie: &str,
    totals: Arc<Totals>,
) -> Result<Probe, String> {
    connect_counting(server, source, cookie, "current count", totals).await
}

/// [`connect`], with the probe's count read from `event`'s argument: a number, or a string
/// of one (`"user message"` with the text `"17"`).
pub async fn connect_counting(
    server: SocketAddr,
    source: IpAddr,
    cookie: &str,
    event: &str,
    totals: Arc<Totals>,
) -> Result<Probe, String> {
    let mut ws = handshake(server, source, cookie).await?;
    let prefix = format!("42[\"{event}\",");

    let (count_tx, count) = watch::channel((0u64, Instant::now()));
    let (closed_tx, closed) = watch::channel(None);
    let task = tokio::spawn(async move {
        while let Some(msg) = ws.next().await {
            let text = match msg {
                Ok(Message::Text(t)) => t,
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let t = text.as_str();
            if t == "2" {
                if ws.send(Message::text("3")).await.is_err() {
                    break;
                }
            } else if let Some(rest) = t.strip_prefix(prefix.as_str()) {
                let at = Instant::now();
                let n = rest.trim_end_matches(']').trim().trim_matches('"');
                if let Ok(n) = n.parse::<u64>() {
                    totals.counts_received.fetch_add(1, Ordering::Relaxed);
                    count_tx.send_replace((n, at));
                }
            } else if t.starts_with("41") {
                break;
            }
        }
        closed_tx.send_replace(Some(Instant::now()));
    });
    Ok(Probe {
        count,
        closed,
        task,
    })
}

/// TCP from `source`, websocket upgrade with `cookie`, Engine.IO open and Socket.IO
/// connect on the main namespace: the websocket, ready for events.
pub async fn handshake(server: SocketAddr, source: IpAddr, cookie: &str) -> Result<Ws, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    // Lets a port whose last connection is in TIME_WAIT be bound again.
    sock.set_reuseaddr(true)
        .map_err(|e| format!("socket: {e}"))?;
    // Choose the source port at connect time, not at bind: bind(port 0) scans the port
    // range and slows down to ~1k/s once thousands of ports are taken.
    bind_address_no_port(&sock);
    sock.bind(SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let tcp = sock
        .connect(server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut req = format!("ws://{server}/socket.io/?EIO=4&transport=websocket")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut()
        .insert("cookie", cookie.parse().map_err(|_| "bad cookie")?);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, tcp, Some(ws_config()))
        .await
        .map_err(|e| format!("websocket: {e}"))?;

    let deadline = Duration::from_secs(30);
    let mut connected = false;
    let opened = tokio::time::timeout(deadline, async {
        while let Some(msg) = ws.next().await {
            let Message::Text(text) = msg.map_err(|e| e.to_string())? else {
                continue;
            };
            let t = text.as_str();
            if t.starts_with('0') {
                ws.send(Message::text("40"))
                    .await
                    .map_err(|e| e.to_string())?;
            } else if t.starts_with("40") {
                connected = true;
                return Ok(());
            } else if let Some(err) = t.strip_prefix("44") {
                return Err(format!("connect_error {err}"));
            } else if t == "2" {
                ws.send(Message::text("3"))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Err("closed during handshake".to_owned())
    })
    .await;
    match opened {
        Ok(Ok(())) if connected => {}
        Ok(Err(e)) => return Err(e),
        _ => return Err("handshake timed out".into()),
    }

    Ok(ws)
}

/// Waits until `probe` received a count ≥ `n`; returns when it arrived.
pub async fn wait_count(probe: &Probe, n: u64, timeout: Duration) -> Result<Instant, String> {
    let mut rx = probe.count.clone();
    let r = tokio::time::timeout(timeout, rx.wait_for(|(c, _)| *c >= n)).await;
    match r {
        Ok(Ok(v)) => Ok(v.1),
        Ok(Err(_)) => Err("socket task ended".into()),
        Err(_) => Err(format!("count {n} not received within {timeout:?}")),
    }
}

fn bind_address_no_port(sock: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a valid int option value. Failing only
    // makes binding slower, so the result is ignored.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
