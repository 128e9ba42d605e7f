//! HTTP: the tower layer for axum (app + sessions + Socket.IO on one port), the
//! [`Session`] extractor, and a standalone server for hosts in other languages.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::serve::{Listener, ListenerExt};
use http::header::{COOKIE, ORIGIN, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use tokio::net::TcpListener;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

use crate::store::BoxFuture;
use crate::{Core, Error, Origins, Refusal, Session, SessionIo};

/// The cookie change an HTTP response must carry, decided while the request runs.
#[derive(Default)]
pub(crate) struct CookieSlot {
    set_cookie: Mutex<Option<String>>,
    /// What the request's cookie resolved to. The id, not the `Session`: a `Session` of
    /// the request holds this slot, so caching one here would make a cycle that leaks the
    /// slot, the session and the engine's core with every request (seen by the soak).
    resolved: tokio::sync::OnceCell<Result<crate::SessionId, Refusal>>,
}

impl CookieSlot {
    pub(crate) fn set(&self, header: String) {
        *self.set_cookie.lock().unwrap_or_else(|p| p.into_inner()) = Some(header);
    }

    fn take(&self) -> Option<String> {
        self.set_cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    pub(crate) fn peek(&self) -> Option<String> {
        self.set_cookie
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Request extension placed by the layer for the extractors.
#[derive(Clone)]
struct RequestContext {
    core: Arc<Core>,
    slot: Arc<CookieSlot>,
}

impl SessionIo {
    /// The tower layer that serves Socket.IO under the configured path, gives handlers
    /// their [`Session`], answers CORS (credentials for listed origins only) and writes
    /// `Set-Cookie`. Add it to an axum `Router` with `.layer(io.layer())`.
    pub fn layer(&self) -> SessionIoLayer {
        SessionIoLayer {
            core: self.0.clone(),
        }
    }

    /// Serves Socket.IO alone on `addr` (port 0 picks a free port), for hosts whose HTTP
    /// app runs elsewhere (Node, Python). Sockets get TCP_NODELAY, and a client that stops
    /// reading is cut after the ping interval plus the ping timeout
    /// (see [`bind_with_stall_timeout`]).
    pub async fn serve(&self, addr: SocketAddr) -> crate::Result<Server> {
        self.ready().await?;
        let t = &self.0.config.transport;
        let listener = bind_with_stall_timeout(addr, t.ping_interval + t.ping_timeout)
            .await
            .map_err(|e| Error::Server(format!("bind {addr}: {e}")))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::Server(e.to_string()))?;
        let app = axum::Router::new()
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(self.layer());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sessionio server stopped");
            }
        });
        Ok(Server {
            io: self.clone(),
            local_addr,
            stop: Mutex::new(Some((stop_tx, task))),
        })
    }
}

/// A listener for `axum::serve`: every connection gets TCP_NODELAY (without it, small
/// Socket.IO packets wait for Nagle's algorithm: ack p99 ~40 ms instead of ~2 ms), a stall
/// timeout, a deadline for its first request head and an idle timeout (see
/// [`bind_with_stall_timeout`]).
pub type NoDelayListener =
    axum::serve::TapIo<crate::conn::GuardedListener, fn(&mut crate::conn::Guarded)>;

/// The stall timeout of [`bind`]: Engine.IO's default ping interval plus ping timeout.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(45);

/// Binds `addr` for `axum::serve` with [`DEFAULT_STALL_TIMEOUT`]; see
/// [`bind_with_stall_timeout`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<NoDelayListener> {
    bind_with_stall_timeout(addr, DEFAULT_STALL_TIMEOUT).await
}

/// Binds `addr` for `axum::serve`. Every accepted connection gets TCP_NODELAY, and:
/// - `stall` as its TCP_USER_TIMEOUT: a peer that leaves what was sent unacknowledged —
///   or keeps its receive window shut, as a client that stopped reading does — for that
///   long is cut by the kernel. Without it such a socket is never freed: socketioxide's
///   writer waits on the full connection forever, so even the heartbeat's close never
///   completes.
/// - a deadline for its first request head ([`HEAD_TIMEOUT`](crate::conn::HEAD_TIMEOUT),
///   or `stall` if shorter) and an idle timeout of `stall` (no byte either way): axum gives
///   hyper no timer, so without these a client that sends half a request head, or nothing,
///   holds its connection for ever (slowloris).
///
/// Use the ping interval plus the ping timeout: a live client is never silent that long.
pub async fn bind_with_stall_timeout(
    addr: SocketAddr,
    stall: Duration,
) -> std::io::Result<NoDelayListener> {
    // The (empty) tap makes axum's `ConnectInfo<SocketAddr>` available for it.
    fn untouched(_: &mut crate::conn::Guarded) {}
    let listener = crate::conn::GuardedListener::new(TcpListener::bind(addr).await?, stall);
    Ok(listener.tap_io(untouched as fn(&mut crate::conn::Guarded)))
}

/// A running standalone server; see [`SessionIo::serve`].
pub struct Server {
    io: SessionIo,
    local_addr: SocketAddr,
    stop: Mutex<
        Option<(
            tokio::sync::oneshot::Sender<()>,
            tokio::task::JoinHandle<()>,
        )>,
    >,
}

impl Server {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Disconnects every socket, stops accepting and waits for the server to finish.
    /// Calling it again does nothing.
    pub async fn close(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, task)) = stop {
            self.io.close().await;
            let _ = tx.send(());
            let _ = task.await;
        }
    }
}

/// See [`SessionIo::layer`].
#[derive(Clone)]
pub struct SessionIoLayer {
    core: Arc<Core>,
}

/// The service stack the layer builds: CORS, the Origin guard, Socket.IO, sessions, app.
pub type SessionIoService<S> =
    Cors<OriginGuard<socketioxide::service::SocketIoService<SessionService<S>, crate::Adapter>>>;

impl<S: Clone> Layer<S> for SessionIoLayer {
    type Service = SessionIoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let sessions = SessionService {
            inner,
            core: self.core.clone(),
        };
        let sio = self.core.sio_layer.layer(sessions);
        let guard = OriginGuard {
            inner: sio,
            core: self.core.clone(),
        };
        cors_layer(&self.core.config.origins).layer(guard)
    }
}

fn cors_layer(origins: &Origins) -> CorsLayer {
    match origins {
        Origins::Any => CorsLayer::new()
            .allow_origin(AllowOrigin::any())
            .allow_methods(AllowMethods::any())
            .allow_headers(AllowHeaders::any()),
        Origins::List(list) => CorsLayer::new()
            .allow_origin(AllowOrigin::list(list.iter().cloned()))
            .allow_credentials(true)
            .allow_methods(AllowMethods::mirror_request())
            .allow_headers(AllowHeaders::mirror_request()),
    }
}

/// How many bytes of header values a socket keeps from its first request, besides the
/// session cookie: the handshake of a socket lives as long as the socket.
pub const KEPT_HEADER_BYTES: usize = 8 * 1024;

/// Engine.IO keeps the head of a session's first request (the one without `sid`) for the
/// socket's whole life. hyper parses the URI and the header values as slices of the
/// connection's read buffer (8 to 16 KiB), so keeping them keeps that whole buffer alive —
/// half of a socket's memory. Copy them out so that the buffer is freed after the upgrade.
/// (Header names need no copy: hyper already allocates custom ones on their own.)
///
/// What is kept is bounded, or a client could make each of its sockets hold a head of up
/// to hyper's limit (~450 KB): headers are kept up to [`KEPT_HEADER_BYTES`] in all, and a
/// `Cookie` header past that budget is reduced to the session cookie (all the handshake
/// needs from it).
fn detach_head<B>(req: Request<B>, cookie_name: &str) -> Request<B> {
    let (mut parts, body) = req.into_parts();
    if let Ok(uri) = http::Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    let mut headers = http::HeaderMap::with_capacity(parts.headers.len());
    let mut session_cookies = Vec::new();
    let mut budget = KEPT_HEADER_BYTES;
    for (name, value) in &parts.headers {
        let size = name.as_str().len() + value.len();
        if name == COOKIE && size > budget {
            let text = String::from_utf8_lossy(value.as_bytes());
            session_cookies.extend(
                crate::cookie::cookie_values(&text, cookie_name)
                    .map(|v| format!("{cookie_name}={v}")),
            );
            continue;
        }
        if size > budget {
            continue;
        }
        budget -= size;
        let mut copy = http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
    }
    if !session_cookies.is_empty() {
        if let Ok(mut v) = http::HeaderValue::from_str(&session_cookies.join("; ")) {
            v.set_sensitive(true);
            headers.append(COOKIE, v);
        }
    }
    parts.headers = headers;
    Request::from_parts(parts, body)
}

/// Refuses the websocket upgrade of an existing Engine.IO session (`sid=…`) from an
/// `Origin` that is not allowed: the connect middleware only sees the session's first
/// request. Polling requests pass, so that a refused client's CONNECT reaches the
/// middleware and gets its `connect_error` message.
#[derive(Clone)]
pub struct OriginGuard<S> {
    inner: S,
    core: Arc<Core>,
}

impl<S, B, ResB> Service<Request<B>> for OriginGuard<S>
where
    S: Service<Request<B>, Response = http::Response<ResB>, Error = Infallible>,
    S::Future: Send + 'static,
    ResB: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResB::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Registers the namespaces on the first request if the engine was built outside
        // the runtime.
        self.core.start_background();
        let on_socket_path = req
            .uri()
            .path()
            .starts_with(self.core.config.transport.path.as_str());
        let query = req.uri().query().unwrap_or("");
        let has_sid = query.split('&').any(|p| p.starts_with("sid="));
        let is_upgrade_of_session =
            on_socket_path && has_sid && query.split('&').any(|p| p == "transport=websocket");
        // Only a session's first request is kept by Engine.IO; later polls are not.
        let req = if on_socket_path && !has_sid {
            detach_head(req, &self.core.config.cookie.name)
        } else {
            req
        };
        let refused =
            is_upgrade_of_session && !self.core.config.origins.allows(req.headers().get(ORIGIN));
        if refused {
            return Box::pin(async { Ok(refusal_response(Refusal::OriginNotAllowed)) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move { Ok(fut.await?.map(Body::new)) })
    }
}

/// Gives the app's handlers their session context and writes the cookie change.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    core: Arc<Core>,
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response> + Send,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let slot = Arc::new(CookieSlot::default());
        req.extensions_mut().insert(RequestContext {
            core: self.core.clone(),
            slot: slot.clone(),
        });
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut res = fut.await?;
            if let Some(cookie) = slot.take() {
                match HeaderValue::from_str(&cookie) {
                    Ok(v) => {
                        res.headers_mut().append(SET_COOKIE, v);
                    }
                    Err(e) => tracing::error!(error = %e, "unencodable Set-Cookie"),
                }
            }
            Ok(res)
        })
    }
}

/// Why a handler could not get its [`Session`]: answered with the refusal's status
/// (401 `invalid session` / `session expired`, 503 `store unavailable`) and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRejection {
    /// The cookie was refused.
    Refused(Refusal),
    /// The handler runs outside [`SessionIo::layer`].
    MissingLayer,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::Refused(r) => refusal_response(r),
            SessionRejection::MissingLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "sessionio layer is not installed on this route",
            )
                .into_response(),
        }
    }
}

fn refusal_response(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
    (status, r.message()).into_response()
}

fn context(parts: &http::request::Parts) -> Result<RequestContext, SessionRejection> {
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .ok_or(SessionRejection::MissingLayer)
}

/// The request's session: the cookie's session (extended: this is activity), or a new
/// one when the request has no cookie (the response sets it). A forged, expired or
/// destroyed session's cookie is refused with 401 and the response clears the cookie.
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ctx = context(parts)?;
        let header = cookie_header(&parts.headers);
        let resolved = ctx
            .slot
            .resolved
            .get_or_init(|| async {
                let r = ctx
                    .core
                    .http_session(header.as_deref(), Some(ctx.slot.clone()))
                    .await;
                match r {
                    Ok(found) => {
                        if let Some(c) = found.set_cookie {
                            ctx.slot.set(c);
                        }
                        Ok(found.session.id())
                    }
                    Err(refusal) => {
                        if refusal.clears_cookie() {
                            ctx.slot.set(ctx.core.config.cookie.clear_cookie());
                        }
                        Err(refusal)
                    }
                }
            })
            .await;
        match resolved {
            Ok(id) => Ok(Session::new(
                *id,
                ctx.core.clone(),
                true,
                Some(ctx.slot.clone()),
            )),
            Err(refusal) => Err(SessionRejection::Refused(*refusal)),
        }
    }
}

/// The engine handle, for handlers that notify or destroy other sessions.
impl<S: Send + Sync> FromRequestParts<S> for SessionIo {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(SessionIo(context(parts)?.core))
    }
}

/// All `Cookie` headers joined (HTTP/2 may split them), read lossily; what both the HTTP
/// middlewares and the handshake read the session cookie from.
pub(crate) fn cookie_header(headers: &http::HeaderMap) -> Option<String> {
    let mut joined: Option<String> = None;
    for v in headers.get_all(COOKIE) {
        // Other cookies may carry any byte; ours is ASCII. Skipping a header that is not
        // valid UTF-8 would lose the session cookie in it (and make a new session).
        let v = String::from_utf8_lossy(v.as_bytes());
        let v = v.as_ref();
        match &mut joined {
            None => joined = Some(v.to_owned()),
            Some(j) => {
                j.push_str("; ");
                j.push_str(v);
            }
        }
    }
    joined
}

/// An error for HTTP handlers: the engine's [`Error`] as a response with a fitting
/// status (404 session not found, 401 session expired, 503 store unavailable, 400 bad
/// values, 500 otherwise).
#[derive(Debug)]
pub struct HttpError(pub Error);

impl From<Error> for HttpError {
    fn from(e: Error) -> Self {
        HttpError(e)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::SessionNotFound => StatusCode::UNAUTHORIZED,
            Error::SessionExpired => StatusCode::UNAUTHORIZED,
            Error::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::InvalidValue(_) | Error::InvalidSessionId => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Config(_) | Error::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = match &self.0 {
            Error::SessionNotFound => Refusal::InvalidSession.message().to_owned(),
            e => e.to_string(),
        };
        (status, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request through the `Session` extractor used to leave its cookie slot, its
    /// session and a reference to the engine behind (a reference cycle).
    #[tokio::test]
    async fn a_request_leaves_nothing_behind() {
        let io = SessionIo::builder().secret([7u8; 32]).build().unwrap();
        let app = axum::Router::new()
            .route(
                "/incr",
                axum::routing::post(|session: Session| async move {
                    let n = session
                        .increment("count", 1)
                        .await
                        .map_err(HttpError::from)?;
                    Ok::<_, HttpError>(n.to_string())
                }),
            )
            .layer(io.layer());
        let baseline = Arc::strong_count(&io.0);
        for _ in 0..3 {
            let request = Request::post("/incr")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = app.clone().call(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert_eq!(
            Arc::strong_count(&io.0),
            baseline,
            "requests leaked the engine"
        );
    }
}
