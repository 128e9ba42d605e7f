//! The tower layer for axum: Socket.IO, sessions and CORS in front of the app, on the
//! app's own port.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use http::header::{COOKIE, ORIGIN, SET_COOKIE};
use http::{HeaderValue, Request};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

use super::extract::{refusal_response, RequestContext};
use crate::config::Origins;
use crate::engine::{Core, SessionIo};
use crate::error::Refusal;
use crate::session::ResponseCookie;
use crate::store::BoxFuture;

impl SessionIo {
    /// The tower layer that serves Socket.IO under the configured path, gives handlers
    /// their [`Session`], answers CORS (credentials for listed origins only) and writes
    /// `Set-Cookie`. Add it to an axum `Router` with `.layer(io.layer())`.
    pub fn layer(&self) -> SessionIoLayer {
        SessionIoLayer {
            core: self.0.clone(),
        }
    }
}

/// See [`SessionIo::layer`].
#[derive(Clone)]
pub struct SessionIoLayer {
    core: Arc<Core>,
}

/// The service stack the layer builds: CORS, the Origin guard, Socket.IO, sessions, app.
pub type SessionIoService<S> = Cors<
    OriginGuard<socketioxide::service::SocketIoService<SessionService<S>, crate::adapter::Adapter>>,
>;

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
        let slot = Arc::new(ResponseCookie::default());
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
