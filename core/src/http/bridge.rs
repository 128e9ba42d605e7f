//! A websocket whose connection the host keeps (an ASGI server's): the host relays its
//! messages, the engine serves it as any other websocket.
//!
//! The engine serves one end of an in-memory pipe as an adopted connection; the
//! [`Bridge`] is a websocket client on the other end that opened it with the client's own
//! request head (path, query, `Cookie`, `Origin`, `Host`, …). Every guard and check runs
//! as on the engine's own port; the host only moves text and binary messages between its
//! connection and the bridge.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::attach::{AdoptedIo, Attached, Forwarded};

/// Bytes the in-memory pipe holds in each direction before a writer waits.
const PIPE_BYTES: usize = 64 * 1024;

/// The headers the bridge's own websocket handshake sets; the client's are not passed.
const HANDSHAKE_HEADERS: [&str; 6] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
];

/// A message of a bridged websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeMessage {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

/// One websocket relayed by the host; see the module docs. `send` and `recv` may run
/// at the same time (from two tasks).
pub struct Bridge {
    to_engine: Mutex<SplitSink<WebSocketStream<DuplexStream>, Message>>,
    from_engine: Mutex<SplitStream<WebSocketStream<DuplexStream>>>,
}

impl Attached {
    /// Opens a websocket to the engine for a client whose connection the host keeps:
    /// `target` is the request target (`/socket.io/?EIO=4&transport=websocket…`),
    /// `headers` the client's request headers, `peer` its address. `Err` carries the
    /// engine's refusal (403 `origin not allowed`, 400 for an unknown session, 429 …),
    /// which the host answers instead of accepting the websocket.
    pub async fn bridge<N, V>(
        &self,
        target: &str,
        headers: impl IntoIterator<Item = (N, V)>,
        peer: SocketAddr,
    ) -> Result<Bridge, Forwarded>
    where
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let bad_request = || Forwarded::text(400, "bad request");
        let mut host = None;
        let path = http::uri::PathAndQuery::try_from(target).map_err(|_| bad_request())?;
        // The websocket client wants an absolute `ws://` URI; the engine sees only its
        // path and query, and the `Host` header below.
        let uri = http::Uri::builder()
            .scheme("ws")
            .authority("bridge")
            .path_and_query(path)
            .build()
            .map_err(|_| bad_request())?;
        let mut request = http::Request::builder().method(http::Method::GET).uri(uri);
        for (name, value) in headers {
            let Ok(name) = http::HeaderName::from_bytes(name.as_ref()) else {
                return Err(bad_request());
            };
            let Ok(value) = http::HeaderValue::from_bytes(value.as_ref()) else {
                return Err(bad_request());
            };
            if name == http::header::HOST {
                host = Some(value);
            } else if !HANDSHAKE_HEADERS.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        let request = request
            .header(
                http::header::HOST,
                host.unwrap_or(http::HeaderValue::from_static("localhost")),
            )
            .header(http::header::CONNECTION, "Upgrade")
            .header(http::header::UPGRADE, "websocket")
            .header(http::header::SEC_WEBSOCKET_VERSION, "13")
            .header(http::header::SEC_WEBSOCKET_KEY, generate_key())
            .body(())
            .map_err(|_| bad_request())?;

        let (engine_end, host_end) = tokio::io::duplex(PIPE_BYTES);
        self.serve_io(AdoptedIo::Bridged(engine_end), peer)
            .map_err(|_| Forwarded::text(503, "server closed"))?;
        match tokio_tungstenite::client_async(request, host_end).await {
            Ok((websocket, _)) => {
                let (to_engine, from_engine) = websocket.split();
                Ok(Bridge {
                    to_engine: Mutex::new(to_engine),
                    from_engine: Mutex::new(from_engine),
                })
            }
            Err(tungstenite::Error::Http(response)) => {
                let (parts, body) = response.into_parts();
                let body = body.map(Bytes::from).unwrap_or_default();
                Err(Forwarded::new(parts.status, &parts.headers, body))
            }
            Err(e) => {
                tracing::debug!(error = %e, "a bridged websocket handshake failed");
                Err(bad_request())
            }
        }
    }
}

impl Bridge {
    /// Passes a message from the client to the engine. Fails once the engine closed the
    /// websocket (the host then closes its connection).
    pub async fn send(&self, message: BridgeMessage) -> Result<(), crate::Error> {
        let message = match message {
            BridgeMessage::Text(text) => Message::text(text),
            BridgeMessage::Binary(data) => Message::binary(data),
        };
        self.to_engine
            .lock()
            .await
            .send(message)
            .await
            .map_err(|e| crate::Error::Server(format!("the websocket is closed: {e}")))
    }

    /// The engine's next message for the client; `None` once the engine closed the
    /// websocket (the host then closes its connection).
    pub async fn recv(&self) -> Option<BridgeMessage> {
        let mut from_engine = self.from_engine.lock().await;
        loop {
            match from_engine.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(BridgeMessage::Text(text.as_str().to_owned()))
                }
                Ok(Message::Binary(data)) => return Some(BridgeMessage::Binary(data)),
                // Pings are answered by the client side itself; frames are whole here.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Close(_)) | Err(_) => return None,
            }
        }
    }

    /// Closes the websocket from the client's side (the client went away).
    pub async fn close(&self) {
        let _ = self.to_engine.lock().await.close().await;
    }
}
