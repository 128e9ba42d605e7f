//! Accepting on the host server's own listening socket in the host's place: the engine
//! takes the websocket upgrades under its path without the host touching them, and hands
//! every other connection to the host untouched.
//!
//! An attached host (Node's `http.Server`) otherwise accepts every connection itself and
//! hands the engine's over ([`Attached::adopt`]): an accept, a socket object and a
//! hand-over in the host's language for each websocket. With [`Attached::accept_on`] the
//! engine accepts on a duplicate of the host's listening socket, and the host closes its
//! own handle on it (two acceptors of one socket would share its connections as the
//! kernel pleases). The engine peeks at the first bytes of each connection
//! ([`Attached::takes_connection`]), serves the engine's, and passes the rest, their bytes
//! unread, to the host's callback. A head that comes in pieces goes to the host, which
//! hands it over once parsed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::attach::{takes_connection, Attached, FIRST_BYTES_WAIT};
use super::listener::Guarded;
use crate::error::{Error, Result};

/// The most bytes peeked at to sort a connection: a websocket upgrade's head whose first
/// bytes hold less than a complete head goes to the host, which hands it over after parsing.
const PEEK_BYTES: usize = 8 * 1024;

/// Pause after an accept error (out of descriptors): new connections wait in the backlog.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// The engine accepting on one host listening socket (see [`Attached::accept_on`]).
/// Dropping it stops accepting and releases the engine's duplicate of the socket.
#[must_use = "dropping it stops accepting"]
pub struct Accepting {
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Accepting {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Where the connections that are not the engine's go: the host's callback.
type ToHost = Arc<dyn Fn(std::net::TcpStream) + Send + Sync>;

impl Attached {
    /// Accepts on `listener`, a duplicate of the host server's listening socket, until the
    /// returned [`Accepting`] is dropped or the engine [closes](Self::close). Websocket
    /// upgrades under the engine path are served here; every other connection is passed
    /// to `to_host` with nothing read from it, for the host's HTTP server. The host stops
    /// accepting on the socket itself, and drops the `Accepting` when its server closes:
    /// the duplicate would otherwise keep the socket listening. One engine may accept on
    /// the sockets of several servers.
    pub fn accept_on(
        &self,
        listener: std::net::TcpListener,
        to_host: impl Fn(std::net::TcpStream) + Send + Sync + 'static,
    ) -> Result<Accepting> {
        let failed = |e: io::Error| Error::Server(format!("accepting on the host's socket: {e}"));
        listener.set_nonblocking(true).map_err(failed)?;
        let listener = {
            let _runtime = self.runtime().enter();
            TcpListener::from_std(listener).map_err(failed)?
        };
        let (engine_path, stall, app) = self.host_socket_parts();
        let host_socket = HostSocket {
            listener,
            sorting: FuturesUnordered::new(),
            engine_path: engine_path.into(),
            to_host: Arc::new(to_host),
            stall,
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let mut closed = self.closed();
        // The same serving as the engine's own port: axum's accept loop over this socket.
        fn untouched(_: &mut Guarded) {}
        let serve = axum::serve(
            host_socket.tap_io(untouched as fn(&mut Guarded)),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = stop_rx => {}
                _ = closed.wait_for(|closed| *closed) => {}
            }
        });
        self.runtime().spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "accepting on the host's socket stopped");
            }
        });
        Ok(Accepting {
            stop: Some(stop_tx),
        })
    }
}

/// A connection being sorted: the engine's comes out, the host's has been passed on.
type Sorting = Pin<Box<dyn Future<Output = Option<(TcpStream, SocketAddr)>> + Send>>;

/// The host's listening socket as axum's listener: it accepts, sorts each connection on
/// its first bytes, and yields only the engine's.
struct HostSocket {
    listener: TcpListener,
    sorting: FuturesUnordered<Sorting>,
    engine_path: Arc<str>,
    to_host: ToHost,
    stall: Duration,
}

impl axum::serve::Listener for HostSocket {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let sorting = sort(stream, peer, self.engine_path.clone(), self.to_host.clone());
                        self.sorting.push(Box::pin(sorting));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "accepting on the host's socket failed");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                },
                Some(sorted) = self.sorting.next(), if !self.sorting.is_empty() => {
                    if let Some((stream, peer)) = sorted {
                        return (Guarded::new(stream, self.stall), peer);
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Gives `stream` back for the engine when its first bytes are the engine's; otherwise
/// passes it, unread, to the host (also when it says nothing within
/// [`FIRST_BYTES_WAIT`]).
async fn sort(
    stream: TcpStream,
    peer: SocketAddr,
    engine_path: Arc<str>,
    to_host: ToHost,
) -> Option<(TcpStream, SocketAddr)> {
    let first_bytes = async {
        stream.readable().await?;
        // Allocated once there is something to read: a silent connection costs no buffer.
        let mut first = vec![0u8; PEEK_BYTES];
        let n = stream.peek(&mut first).await?;
        first.truncate(n);
        Ok::<_, io::Error>(first)
    };
    if let Ok(Ok(first)) = tokio::time::timeout(FIRST_BYTES_WAIT, first_bytes).await {
        if !first.is_empty() && takes_connection(&first, &engine_path) {
            return Some((stream, peer));
        }
    }
    match stream.into_std() {
        Ok(stream) => to_host(stream),
        Err(e) => tracing::debug!(error = %e, "a connection for the host was lost"),
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use crate::SessionIo;

    /// What one blocking read of `stream` gets (its descriptor may be non-blocking).
    fn first_read(mut stream: std::net::TcpStream) -> String {
        stream.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_engines_upgrades_are_served_and_other_connections_reach_the_host_unread() {
        let io = SessionIo::builder()
            .secret([7u8; 32])
            .allow_anonymous(true)
            .build()
            .unwrap();
        let attached = io.attach().unwrap();
        // The host's listening socket; nobody accepts on it but the engine here.
        let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = host.local_addr().unwrap();
        let (tx, mut to_host) = tokio::sync::mpsc::unbounded_channel();
        let accepting = attached
            .accept_on(host.try_clone().unwrap(), move |stream| {
                let _ = tx.send(stream);
            })
            .unwrap();

        let exchange = move |request: &'static str| {
            tokio::task::spawn_blocking(move || {
                let mut client = std::net::TcpStream::connect(addr).unwrap();
                client.write_all(request.as_bytes()).unwrap();
                client
            })
        };
        // A websocket upgrade under the engine path: the engine answers it.
        let ws = exchange(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
        let answer = tokio::task::spawn_blocking(move || first_read(ws))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");

        // An app request: passed to the host with its bytes unread.
        let _app = exchange("GET /page HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let passed = tokio::time::timeout(std::time::Duration::from_secs(5), to_host.recv())
            .await
            .unwrap()
            .unwrap();
        let head = tokio::task::spawn_blocking(move || first_read(passed))
            .await
            .unwrap();
        assert!(head.starts_with("GET /page HTTP/1.1\r\n"), "{head}");

        // Stopped: a new connection is no longer accepted by the engine.
        drop(accepting);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let _late = exchange("GET /late HTTP/1.1\r\n\r\n").await.unwrap();
        let (stream, _) = host.accept().unwrap();
        assert!(stream.peer_addr().is_ok());
        assert!(to_host.try_recv().is_err());
        attached.close().await;
    }
}
