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

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::attach::{Attached, ConnectionSorter, FIRST_BYTES_WAIT};
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
        let failed =
            |e: std::io::Error| Error::Server(format!("accepting on the host's socket: {e}"));
        listener.set_nonblocking(true).map_err(failed)?;
        let listener = {
            let _runtime = self.runtime().enter();
            TcpListener::from_std(listener).map_err(failed)?
        };
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let mut closed = self.closed();
        let sorter = self.connection_sorter();
        let to_host = std::sync::Arc::new(to_host);
        self.runtime().spawn(async move {
            let engine_closed = async move {
                let _ = closed.wait_for(|closed| *closed).await;
            };
            tokio::pin!(engine_closed);
            loop {
                tokio::select! {
                    _ = &mut stop_rx => return,
                    _ = &mut engine_closed => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => {
                            let (sorter, to_host) = (sorter.clone(), to_host.clone());
                            tokio::spawn(async move {
                                if let Some(stream) = sort(&sorter, stream, peer).await {
                                    to_host(stream);
                                }
                            });
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "accepting on the host's socket failed");
                            tokio::time::sleep(ACCEPT_RETRY).await;
                        }
                    },
                }
            }
        });
        Ok(Accepting {
            stop: Some(stop_tx),
        })
    }
}

/// Serves `stream` when its first bytes are the engine's; otherwise gives it back, unread,
/// for the host (also when it says nothing within [`FIRST_BYTES_WAIT`]).
async fn sort(
    sorter: &ConnectionSorter,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<std::net::TcpStream> {
    let mut first = vec![0u8; PEEK_BYTES];
    let peeked = tokio::time::timeout(FIRST_BYTES_WAIT, stream.peek(&mut first)).await;
    if let Ok(Ok(n)) = peeked {
        if n > 0 && sorter.takes(&first[..n]) {
            if let Err(e) = sorter.adopt(stream, peer) {
                tracing::debug!(error = %e, "a websocket connection was not served");
            }
            return None;
        }
    }
    match stream.into_std() {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::debug!(error = %e, "a connection for the host was lost");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use crate::SessionIo;

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
        let mut ws = exchange(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
        let answer = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 256];
            let n = ws.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");

        // An app request: passed to the host with its bytes unread.
        let _app = exchange("GET /page HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut passed = tokio::time::timeout(std::time::Duration::from_secs(5), to_host.recv())
            .await
            .unwrap()
            .unwrap();
        let head = tokio::task::spawn_blocking(move || {
            passed.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 64];
            let n = passed.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
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
