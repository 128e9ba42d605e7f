//! Several worker processes behind one port — `gunicorn -w 4`, `uvicorn --workers 4`,
//! `node:cluster` — each with its own engine, linked by the Redis adapter
//! ([`Builder::workers`](crate::Builder::workers)).
//!
//! A websocket is one connection: it stays with the worker that accepted it. An Engine.IO
//! polling session is a series of requests, which the port spreads over the workers as it
//! pleases (the kernel or the cluster's primary picks a worker per connection), but the
//! session lives in one worker's memory. So each worker also listens on a private loopback
//! port, and tags every polling session id it hands out with that port and a MAC of it
//! (only a holder of the secret names a port, so a client cannot make a worker connect
//! where it likes). A request of another worker's session is passed to that worker's
//! private port — a websocket upgrade too, spliced both ways — so polling and the upgrade
//! work whatever worker each request reaches. When that worker is gone the answer is the
//! engine's own for an unknown session (HTTP 400), and the client starts a new one.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use crate::cookie::Signer;
use crate::error::{Error, Result};

/// Characters of a tag's port: two bytes, URL-safe base64.
const PORT_CHARS: usize = 3;
/// Characters of a tag's MAC: 6 bytes (whole bytes: a multiple of 4 characters).
const MAC_CHARS: usize = 8;
/// A tag: the private port, then the MAC of it.
const TAG_CHARS: usize = PORT_CHARS + MAC_CHARS;
/// An engine's own session id: 12 random bytes, URL-safe base64.
const ENGINE_SID_CHARS: usize = 16;
/// How long a worker waits to reach another's private port.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest handshake answer read to tag it (an open packet is ~120 bytes).
const OPEN_PACKET_LIMIT: usize = 16 * 1024;

/// This worker's private port and its tag; see the module docs.
pub(crate) struct Workers {
    /// The private listener, until the engine starts serving it.
    listener: Mutex<Option<std::net::TcpListener>>,
    tag: String,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Whose an Engine.IO session is, by its tagged id.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Owner<'a> {
    /// This worker's: the engine's own id.
    This(&'a str),
    /// Another worker's, on this private port.
    Other(u16),
    /// No valid tag: the engine answers it as it answers any unknown id.
    Unknown,
}

fn tag(signer: &Signer, port: u16) -> String {
    let port_chars = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(port.to_be_bytes());
    format!("{port_chars}{}", signer.worker_mac(port, MAC_CHARS))
}

impl Workers {
    /// Binds this worker's private port (127.0.0.1, any free port); served once the
    /// engine runs ([`serve_private`](Self::serve_private)).
    pub(crate) fn bind(signer: &Signer) -> Result<Workers> {
        let failed = |e: std::io::Error| Error::Server(format!("workers: private port: {e}"));
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(failed)?;
        listener.set_nonblocking(true).map_err(failed)?;
        let port = listener.local_addr().map_err(failed)?.port();
        Ok(Workers {
            listener: Mutex::new(Some(listener)),
            tag: tag(signer, port),
            stop: tokio::sync::watch::channel(false).0,
        })
    }

    /// Whose session `sid` names.
    pub(crate) fn owner<'a>(&self, signer: &Signer, sid: &'a str) -> Owner<'a> {
        if sid.len() != TAG_CHARS + ENGINE_SID_CHARS || !sid.is_ascii() {
            return Owner::Unknown;
        }
        let (tag_part, own_id) = sid.split_at(TAG_CHARS);
        if tag_part == self.tag {
            return Owner::This(own_id);
        }
        let Ok(port) = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&tag_part[..PORT_CHARS])
            .map_err(|_| ())
            .and_then(|b| <[u8; 2]>::try_from(b).map_err(|_| ()))
        else {
            return Owner::Unknown;
        };
        let port = u16::from_be_bytes(port);
        // The MAC is what keeps clients from naming ports.
        if signer.verify_worker_mac(port, &tag_part[PORT_CHARS..]) {
            Owner::Other(port)
        } else {
            Owner::Unknown
        }
    }

    /// The polling handshake's answer with this worker's tag before the session id
    /// (`0{"sid":"<tag><id>",…}`).
    pub(crate) async fn tag_handshake(&self, res: Response) -> Response {
        let (mut parts, body) = res.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, OPEN_PACKET_LIMIT).await else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        const SID_FIELD: &[u8] = b"\"sid\":\"";
        let tagged = match bytes.windows(SID_FIELD.len()).position(|w| w == SID_FIELD) {
            Some(at) => {
                let at = at + SID_FIELD.len();
                let mut out = Vec::with_capacity(bytes.len() + TAG_CHARS);
                out.extend_from_slice(&bytes[..at]);
                out.extend_from_slice(self.tag.as_bytes());
                out.extend_from_slice(&bytes[at..]);
                Bytes::from(out)
            }
            None => bytes,
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, Body::from(tagged))
    }

    /// Serves `engine` (the engine's path only, behind its layer) on the private port,
    /// inside the runtime, for requests of this worker's sessions only; stopped by
    /// [`stop`](Self::stop).
    pub(crate) fn serve_private(&self, engine: axum::Router) {
        let Some(listener) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "workers: the private port cannot be served");
                return;
            }
        };
        let own = self.tag.clone();
        let app = engine.layer(axum::middleware::from_fn(
            move |req: Request<Body>, next: axum::middleware::Next| {
                // Another worker passes only its clients' requests of this worker's
                // sessions here; nothing else is served on this port.
                let ours = query_sid(req.uri().query()).is_some_and(|sid| {
                    sid.len() == TAG_CHARS + ENGINE_SID_CHARS && sid.starts_with(&own)
                });
                async move {
                    if ours {
                        next.run(req).await
                    } else {
                        StatusCode::FORBIDDEN.into_response()
                    }
                }
            },
        ));
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "workers: the private port stopped");
            }
        });
    }

    /// Stops serving the private port.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// The query's first `sid`, as engineioxide reads it: the Engine.IO session a request
/// names (without one the engine opens a new session).
pub(crate) fn query_sid(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|pair| pair.strip_prefix("sid="))
}

/// `uri` with its first `sid` replaced by `sid`.
pub(crate) fn with_sid(uri: &Uri, sid: &str) -> Option<Uri> {
    let query = uri.query()?;
    let mut replaced = false;
    let pairs: Vec<String> = (query.split('&'))
        .map(|pair| {
            if !replaced && pair.starts_with("sid=") {
                replaced = true;
                format!("sid={sid}")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), pairs.join("&")).parse().ok()
}

/// The engine's own answer to a request of an unknown session.
fn unknown_session() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"code":"1","message":"Session ID unknown"}"#,
    )
        .into_response()
}

/// Passes `req` to the worker whose private port is `port`, and its answer back; a
/// websocket upgrade is then spliced both ways. When that worker cannot be reached, the
/// answer is the engine's own for an unknown session, and why is logged at `warn`.
pub(crate) async fn forward<B>(req: Request<B>, port: u16) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    match pass_on(req, port).await {
        Ok(res) => res,
        Err(Unreachable { what, cause }) => {
            tracing::warn!(port, error = %cause, "workers: {what}");
            unknown_session()
        }
    }
}

/// Why a request could not be passed to its session's worker.
struct Unreachable {
    what: &'static str,
    cause: String,
}

impl Unreachable {
    fn new(what: &'static str, cause: impl std::fmt::Display) -> Self {
        Unreachable {
            what,
            cause: cause.to_string(),
        }
    }
}

async fn pass_on<B>(mut req: Request<B>, port: u16) -> std::result::Result<Response, Unreachable>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let upgrade = req
        .headers()
        .contains_key(header::UPGRADE)
        .then(|| hyper::upgrade::on(&mut req));
    let connect = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port));
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| {
            Unreachable::new(
                "the session's worker did not answer",
                format_args!("no connection within {CONNECT_TIMEOUT:?}"),
            )
        })?
        .map_err(|e| Unreachable::new("the session's worker is gone", e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Unreachable::new("the session's worker cannot be reached", e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "workers: forwarded connection ended");
        }
    });
    let mut res = sender
        .send_request(req.map(Body::new))
        .await
        .map_err(|e| Unreachable::new("forwarding to the session's worker failed", e))?;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = upgrade {
            let worker = hyper::upgrade::on(&mut res);
            tokio::spawn(async move {
                let (Ok(client), Ok(worker)) = tokio::join!(client, worker) else {
                    return;
                };
                let (mut client, mut worker) = (TokioIo::new(client), TokioIo::new(worker));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut worker).await;
            });
        }
    }
    Ok(res.map(Body::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_a_port_only_with_the_secret() {
        let signer = Signer::new(&[vec![7u8; 32]]);
        let workers = Workers::bind(&signer).unwrap();
        let own_id = "AAAAAAAAAAAAAAAA";
        let mine = format!("{}{own_id}", workers.tag);
        assert_eq!(workers.owner(&signer, &mine), Owner::This(own_id));
        let other = format!("{}{own_id}", tag(&signer, 4242));
        assert_eq!(workers.owner(&signer, &other), Owner::Other(4242));
        let forged = format!("{}{own_id}", tag(&Signer::new(&[vec![8u8; 32]]), 4242));
        assert_eq!(workers.owner(&signer, &forged), Owner::Unknown);
        assert_eq!(workers.owner(&signer, own_id), Owner::Unknown);
    }

    #[test]
    fn the_sid_of_a_query_is_replaced() {
        let uri: Uri = "/socket.io/?EIO=4&transport=polling&sid=abc&t=1"
            .parse()
            .unwrap();
        assert_eq!(
            with_sid(&uri, "xyz").unwrap(),
            "/socket.io/?EIO=4&transport=polling&sid=xyz&t=1"
        );
    }
}
