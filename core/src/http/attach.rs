//! Socket.IO on a host's own HTTP server (Node's `http.Server`, an ASGI app): one port for
//! the app and its sockets, without CORS. The host hands the engine what is under the
//! engine path ([`Attached::serves`]):
//!
//! - a websocket upgrade: the connection itself, with the bytes the host already read of
//!   it ([`Attached::adopt`]). The engine serves it from then on exactly as on its own port
//!   (the same guards, deadlines and stall timeout), so no message of it costs the host
//!   any work;
//! - any other request (Engine.IO polling): its head and body in, the status, headers and
//!   body out ([`Attached::forward`]); a long-poll resolves when the engine has something
//!   to send, as it would on its own port;
//! - a websocket whose connection the host keeps (an ASGI server's): its messages,
//!   relayed through a [`Bridge`](super::Bridge) ([`Attached::bridge`], see `bridge.rs`).
//!
//! Everything else stays with the host's app.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::serve::ListenerExt;
use bytes::Bytes;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tower::ServiceExt;

use super::layer::is_engine_path;
use super::listener::Guarded;
use crate::engine::SessionIo;
use crate::error::{Error, Result};

/// How long a host waits for a new connection's first bytes before its own HTTP server
/// takes it anyway (its header timeouts then apply, as to any connection): the first bytes
/// decide whether the engine takes the connection whole ([`Attached::takes_connection`]).
pub const FIRST_BYTES_WAIT: Duration = Duration::from_secs(1);

/// A connection the engine serves for a host: a TCP connection it adopted, or the engine's
/// end of an in-memory pipe whose other end a [`Bridge`](super::Bridge) drives.
pub(super) enum AdoptedIo {
    Tcp(Guarded),
    Bridged(tokio::io::DuplexStream),
}

type Adopted = (AdoptedIo, SocketAddr);

/// The engine attached to a host's HTTP server; see the module docs and
/// [`SessionIo::attach`].
pub struct Attached {
    io: SessionIo,
    app: axum::Router,
    /// Forwarded requests that the host may give up, by its id for them: dropping the
    /// sender gives the request up.
    waiting: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    adopted: mpsc::UnboundedSender<Adopted>,
    runtime: tokio::runtime::Handle,
    stall: Duration,
    stop: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
    /// Set by `close`: stops every acceptor of a host's listening socket.
    closed: tokio::sync::watch::Sender<bool>,
}

/// The engine's answer to a forwarded request: what the host writes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The HTTP status.
    pub status: u16,
    /// The response headers, in order (`Set-Cookie` and the like may repeat).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

impl Forwarded {
    /// A plain-text answer of the engine's own (a request it could not parse, …).
    pub(super) fn text(status: u16, body: &'static str) -> Forwarded {
        Forwarded {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    pub(super) fn new(status: StatusCode, headers: &http::HeaderMap, body: Bytes) -> Forwarded {
        Forwarded {
            status: status.as_u16(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body,
        }
    }
}

impl SessionIo {
    /// Serves Socket.IO through a host's own HTTP server: the host passes what is under
    /// the engine path to the returned [`Attached`]. Call it inside a Tokio runtime (the
    /// serving runs there; outside one it is an `ERR_SERVER` error), after
    /// [`ready`](Self::ready) when the engine has a Redis store or adapter. Can be used
    /// with [`serve`](Self::serve) (the engine's own port) or without it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let io = sessionio::SessionIo::builder().secret([7u8; 32]).build().unwrap();
    /// let attached = io.attach().unwrap();
    /// assert!(attached.serves("/socket.io/?EIO=4&transport=polling"));
    /// assert!(!attached.serves("/socket.iox"));
    /// let peer = "127.0.0.1:50000".parse().unwrap();
    /// let handshake = attached
    ///     .forward(1, "GET", "/socket.io/?EIO=4&transport=polling", [("host", "127.0.0.1:3000")], bytes::Bytes::new(), peer)
    ///     .await;
    /// assert_eq!(handshake.status, 200);
    /// assert!(handshake.body.starts_with(b"0{\"sid\":"));
    /// attached.close().await;
    /// # }
    /// ```
    pub fn attach(&self) -> Result<Attached> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Server("attach() needs a Tokio runtime".into()))?;
        let (adopted, incoming) = mpsc::unbounded_channel();
        // `with_state` turns the layered fallback into a service once: called as is, a
        // `Router` applies its layers again on every call, and every application of the
        // Socket.IO layer is an Engine.IO server of its own (a new session table).
        let app = axum::Router::new()
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(self.layer())
            .with_state(());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        // The (empty) tap makes axum's `ConnectInfo<SocketAddr>` available, as for the
        // engine's own listener.
        fn untouched(_: &mut AdoptedIo) {}
        let serve = axum::serve(
            AdoptedConnections { incoming }.tap_io(untouched as fn(&mut AdoptedIo)),
            app.clone()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop_rx.await;
        });
        let task = runtime.spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sessionio attached server stopped");
            }
        });
        let t = &self.0.config.transport;
        Ok(Attached {
            io: self.clone(),
            app,
            waiting: Mutex::default(),
            adopted,
            runtime,
            stall: t.ping_interval + t.ping_timeout,
            stop: Mutex::new(Some((stop_tx, task))),
            closed: tokio::sync::watch::Sender::new(false),
        })
    }
}

impl Attached {
    /// Whether a request target (`/path?query`) is the engine's: under the engine path
    /// (`/socket.io` by default), as the engine routes it.
    pub fn serves(&self, target: &str) -> bool {
        is_engine_target(target, &self.io.0.config.transport.path)
    }

    /// Whether a connection whose first bytes are `first_bytes` is the engine's to take
    /// whole, before the host parses anything: a complete request head of a websocket
    /// upgrade (`GET`, HTTP/1.1, `Upgrade: websocket`) under the engine path. Anything
    /// else — another path, a polling request, a head not complete in these bytes — is
    /// the host's to parse (its own upgrade path still reaches [`adopt`](Self::adopt)).
    /// A keep-alive connection that starts with a polling request is never taken: the
    /// client may send the app's requests on it next.
    pub fn takes_connection(&self, first_bytes: &[u8]) -> bool {
        takes_connection(first_bytes, &self.io.0.config.transport.path)
    }

    /// What the acceptor of a host's listening socket needs (`host_listener.rs`): the
    /// engine path, the stall timeout of its connections and the service that serves them.
    pub(super) fn host_socket_parts(&self) -> (String, Duration, axum::Router) {
        (
            self.io.0.config.transport.path.clone(),
            self.stall,
            self.app.clone(),
        )
    }

    /// The runtime the engine serves on.
    pub(super) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// Becomes true when the engine closes.
    pub(super) fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closed.subscribe()
    }
    /// The most body bytes a forwarded request needs read: the engine's `max_payload`.
    /// A host reads at most one byte more and forwards what it read; the engine answers a
    /// body past its limit as it does on its own port.
    pub fn max_body_bytes(&self) -> usize {
        usize::try_from(self.io.0.config.transport.max_payload).unwrap_or(usize::MAX)
    }

    /// Serves a connection the host accepted (a websocket upgrade under the engine path)
    /// from now on. `stream` is the engine's own descriptor of it (on Unix, a duplicate of
    /// the host's, which the host then closes without shutting the connection down);
    /// `already_read` is what the host read from it: the request head (as the client sent
    /// it, or rebuilt from the host's parse) and any bytes after it. The client's address
    /// is the connection's peer. Fails only when the engine is closed or `stream` is not
    /// a connected TCP socket; the host then closes its connection.
    pub fn adopt(&self, stream: std::net::TcpStream, already_read: Bytes) -> Result<()> {
        let peer = stream
            .peer_addr()
            .map_err(|e| Error::Server(format!("adopting a connection: {e}")))?;
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::Server(format!("adopting a connection: {e}")))?;
        // The stream registers with the runtime's reactor and its deadlines with its
        // timer: whatever thread the host calls from.
        let _runtime = self.runtime.enter();
        let stream = TcpStream::from_std(stream)
            .map_err(|e| Error::Server(format!("adopting a connection: {e}")))?;
        let guarded = Guarded::adopted(stream, already_read, self.stall);
        self.serve_io(AdoptedIo::Tcp(guarded), peer)
    }

    /// Hands `io` to the serving task.
    pub(super) fn serve_io(&self, io: AdoptedIo, peer: SocketAddr) -> Result<()> {
        self.adopted
            .send((io, peer))
            .map_err(|_| Error::Server("the engine is closed".into()))
    }

    /// Answers one request the host received under the engine path (Engine.IO polling):
    /// `request_id` is the host's id for it (see [`give_up`](Self::give_up)), `target`
    /// the request target (`/socket.io/?EIO=4&…`), `headers` the request's headers as
    /// received, `peer` the client's address. Resolves with the engine's response; a
    /// long-poll resolves when there is something to send. A request that does not parse
    /// (bad method, target or header) is answered `400 bad request`. When the host gives
    /// the request up (its client went away), or the engine closes, a long-poll takes
    /// nothing — what it would have carried goes with the next poll — and the answer is a
    /// 499 nobody reads.
    pub async fn forward<N, V>(
        &self,
        request_id: u64,
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (N, V)>,
        body: Bytes,
        peer: SocketAddr,
    ) -> Forwarded
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let Some(request) = build_request(method, target, headers, body) else {
            return Forwarded::text(400, "bad request");
        };
        let (give_up, given_up) = oneshot::channel();
        self.waiting().insert(request_id, give_up);
        let forwarded = tokio::select! {
            forwarded = self.answer(request, peer) => forwarded,
            _ = given_up => Forwarded { status: 499, headers: Vec::new(), body: Bytes::new() },
        };
        self.waiting().remove(&request_id);
        forwarded
    }

    async fn answer(
        &self,
        mut request: http::Request<axum::body::Body>,
        peer: SocketAddr,
    ) -> Forwarded {
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = match self.app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(error = %e, "a forwarded response's body failed");
                Bytes::new()
            }
        };
        Forwarded::new(parts.status, &parts.headers, body)
    }

    /// Gives up the forwarded request `request_id` (see [`forward`](Self::forward));
    /// nothing if it is done.
    pub fn give_up(&self, request_id: u64) {
        self.waiting().remove(&request_id);
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Disconnects every socket of the engine and stops serving adopted connections.
    /// Calling it again does nothing.
    pub async fn close(&self) {
        self.closed.send_replace(true);
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.waiting().clear();
        if let Some((tx, task)) = stop {
            self.io.close().await;
            let _ = tx.send(());
            let _ = task.await;
        }
    }
}

/// See [`Attached::takes_connection`].
pub(super) fn takes_connection(first_bytes: &[u8], engine_path: &str) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(
        request.parse(first_bytes),
        Ok(httparse::Status::Complete(_))
    ) {
        return false;
    }
    let (Some("GET"), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return false;
    };
    is_engine_target(target, engine_path)
        && request.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("upgrade")
                && h.value
                    .split(|b| *b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"websocket"))
        })
}

/// Whether a request target (`/path?query`) is under the engine path.
fn is_engine_target(target: &str, engine_path: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    is_engine_path(path, engine_path)
}

fn build_request<N, V>(
    method: &str,
    target: &str,
    headers: impl IntoIterator<Item = (N, V)>,
    body: Bytes,
) -> Option<http::Request<axum::body::Body>>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).ok()?)
        .uri(http::Uri::try_from(target).ok()?);
    let map = builder.headers_mut()?;
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_ref()).ok()?;
        let value = http::HeaderValue::from_bytes(value.as_ref()).ok()?;
        map.append(name, value);
    }
    builder.body(axum::body::Body::from(body)).ok()
}

/// The listener `axum::serve` takes adopted connections from.
struct AdoptedConnections {
    incoming: mpsc::UnboundedReceiver<Adopted>,
}

impl axum::serve::Listener for AdoptedConnections {
    type Io = AdoptedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> Adopted {
        match self.incoming.recv().await {
            Some(adopted) => adopted,
            // The Attached is gone: nothing more will come; the graceful shutdown ends it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        // Connections come from the host's server, whose address the engine does not know.
        Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    }
}

impl AsyncRead for AdoptedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AdoptedIo::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            AdoptedIo::Bridged(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AdoptedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AdoptedIo::Tcp(io) => Pin::new(io).poll_write(cx, data),
            AdoptedIo::Bridged(io) => Pin::new(io).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AdoptedIo::Tcp(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            AdoptedIo::Bridged(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            AdoptedIo::Tcp(io) => io.is_write_vectored(),
            AdoptedIo::Bridged(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AdoptedIo::Tcp(io) => Pin::new(io).poll_flush(cx),
            AdoptedIo::Bridged(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AdoptedIo::Tcp(io) => Pin::new(io).poll_shutdown(cx),
            AdoptedIo::Bridged(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> SessionIo {
        SessionIo::builder()
            .secret([7u8; 32])
            .allow_anonymous(true)
            .build()
            .unwrap()
    }

    const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 50000);

    #[tokio::test]
    async fn forwarded_polling_requests_reach_one_engine_io_session() {
        let io = engine();
        let attached = io.attach().unwrap();
        let path = "/socket.io/?EIO=4&transport=polling";
        let open = attached
            .forward(1, "GET", path, [("host", "a")], Bytes::new(), PEER)
            .await;
        assert_eq!(open.status, 200, "{:?}", open.body);
        let open: serde_json::Value = serde_json::from_slice(&open.body[1..]).unwrap();
        let sid = open["sid"].as_str().unwrap();
        let polled = format!("{path}&sid={sid}");
        let connect = attached
            .forward(
                2,
                "POST",
                &polled,
                [("host", "a")],
                Bytes::from_static(b"40"),
                PEER,
            )
            .await;
        assert_eq!((connect.status, &connect.body[..]), (200, &b"ok"[..]));
        let connected = attached
            .forward(3, "GET", &polled, [("host", "a")], Bytes::new(), PEER)
            .await;
        assert!(
            connected.body.starts_with(b"40{\"sid\":"),
            "{:?}",
            connected.body
        );
        attached.close().await;
    }

    #[tokio::test]
    async fn a_bridged_websocket_talks_to_the_engine_and_a_foreign_origin_is_refused() {
        use crate::http::BridgeMessage;
        let io = engine();
        let attached = io.attach().unwrap();
        let target = "/socket.io/?EIO=4&transport=websocket";
        let bridge = attached
            .bridge(
                target,
                [("host", "app.example"), ("origin", "http://app.example")],
                PEER,
            )
            .await
            .map_err(|refused| (refused.status, refused.body))
            .unwrap();
        let Some(BridgeMessage::Text(open)) = bridge.recv().await else {
            panic!("no open packet");
        };
        assert!(open.starts_with("0{\"sid\":"), "{open}");
        bridge.send(BridgeMessage::Text("40".into())).await.unwrap();
        // The engine's first ping ("2") is sent at once and may come before the answer.
        let connected = loop {
            match bridge.recv().await {
                Some(BridgeMessage::Text(ping)) if ping == "2" => continue,
                Some(BridgeMessage::Text(answer)) => break answer,
                other => panic!("no CONNECT answer: {other:?}"),
            }
        };
        assert!(connected.starts_with("40{\"sid\":"), "{connected}");
        bridge.close().await;

        let refused = attached
            .bridge(
                target,
                [("host", "app.example"), ("origin", "https://evil.example")],
                PEER,
            )
            .await
            .err()
            .expect("a foreign Origin is refused");
        assert_eq!(
            (refused.status, &refused.body[..]),
            (403, &b"origin not allowed"[..])
        );
        attached.close().await;
    }

    #[tokio::test]
    async fn only_a_complete_websocket_upgrade_under_the_engine_path_is_taken_whole() {
        let io = engine();
        let attached = io.attach().unwrap();
        let upgrade = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\n\
                       Connection: Upgrade\r\nUpgrade: WebSocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x\r\n\r\n";
        assert!(attached.takes_connection(upgrade.as_bytes()));
        // Frames sent at once after the head do not change the answer.
        assert!(attached.takes_connection(format!("{upgrade}\u{81}\u{2}40").as_bytes()));
        let others = [
            // Not complete in the first bytes: the host parses it (and may still adopt it).
            &upgrade[..upgrade.len() - 2],
            // A polling request: the connection may carry the app's requests next.
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n",
            // The app's websocket, another method, a path that only starts alike.
            "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            "POST /socket.io/ HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            "GET /socket.iox/ HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            "GET /socket.io/ HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            "GET /socket.io/ HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n",
            "\u{16}\u{3}\u{1} TLS hello",
            "",
        ];
        for first in others {
            assert!(!attached.takes_connection(first.as_bytes()), "{first:?}");
        }
        attached.close().await;
    }
}
