//! The tower layer for axum: Socket.IO, sessions and CORS in front of the app, on the
//! app's own port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::header::{HeaderName, COOKIE, HOST, ORIGIN, SET_COOKIE};
use http::{HeaderValue, Request};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, Cors, CorsLayer};
use tower_layer::Layer;
use tower_service::Service;

use super::extract::{refusal_response, RequestContext};
use crate::config::Origins;
use crate::engine::{Core, SessionIo};
use crate::engine_io::EngineService;
use crate::error::Refusal;
use crate::login::Client;
use crate::session::ResponseCookie;
use crate::store::BoxFuture;
use crate::workers::query_sid;

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

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// See [`SessionIo::layer`].
#[derive(Clone)]
pub struct SessionIoLayer {
    core: Arc<Core>,
}

/// The service stack the layer builds: CORS, the engine guard (Socket.IO under its path),
/// sessions, app.
pub type SessionIoService<S> = Cors<EngineGuard<SessionService<S>>>;

impl<S: Clone> Layer<S> for SessionIoLayer {
    type Service = SessionIoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let sessions = SessionService {
            inner,
            core: self.core.clone(),
        };
        let guard = EngineGuard {
            inner: sessions,
            engine: self.core.engine.clone(),
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

/// Judges every request under the Socket.IO path before the engine sees it, on what
/// costs nothing to check:
///
/// - its `Origin`, on every request (polling, upgrade, or the session's first): the
///   same allow-list as the handshake, so that no transport of a session opened
///   elsewhere can be taken over from a foreign site;
/// - for the first request of an Engine.IO session (no `sid`, read as the engine reads
///   it), a place among the sessions that have not connected to a namespace yet
///   ([`PendingHandshakes`](crate::pending_handshakes)), taken per client address and in
///   all, before the engine allocates the session; the place rides in the request's
///   extensions, which the engine keeps for the session's life.
///
/// The credential itself is judged at the Socket.IO CONNECT, whose `connect_error`
/// carries the refusal's message; until then a client holds one bounded, short-lived
/// place and nothing else.
#[derive(Clone)]
pub struct EngineGuard<S> {
    /// The app (behind its sessions), for every request outside the engine path.
    inner: S,
    engine: EngineService,
    core: Arc<Core>,
}

/// Whether `path` is under the engine's request path, as engineioxide decides it.
pub(super) fn is_engine_path(path: &str, engine_path: &str) -> bool {
    path.strip_prefix(engine_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl<S, B, ResB> Service<Request<B>> for EngineGuard<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
    EngineService: Service<Request<B>, Response = http::Response<ResB>, Error = Infallible>,
    <EngineService as Service<Request<B>>>::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
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
        let on_engine_path = is_engine_path(req.uri().path(), &self.core.config.transport.path);
        // Several workers on one port: a polling session's requests go to its worker, and
        // a new polling session's id says which worker that is (see `workers`).
        let mut tag_handshake = false;
        let mut req = req;
        if let (true, Some(workers)) = (on_engine_path, &self.core.workers) {
            match query_sid(req.uri().query()).map(|sid| workers.owner(&self.core.signer, sid)) {
                Some(crate::workers::Owner::Other(port)) => {
                    return Box::pin(async move { Ok(crate::workers::forward(req, port).await) });
                }
                Some(crate::workers::Owner::This(own_id)) => {
                    if let Some(uri) = crate::workers::with_sid(req.uri(), own_id) {
                        *req.uri_mut() = uri;
                    }
                }
                Some(crate::workers::Owner::Unknown) => {}
                None => {
                    tag_handshake = req
                        .uri()
                        .query()
                        .is_some_and(|q| q.split('&').any(|p| p == "transport=polling"));
                }
            }
        }
        if !on_engine_path {
            return Box::pin(self.inner.call(req));
        }
        let req = match self.admit_engine_request(req) {
            Ok(req) => req,
            Err(refusal) => {
                self.core.metrics.refused(refusal);
                return Box::pin(async move { Ok(refusal_response(refusal)) });
            }
        };
        // Always ready (it wraps `NotFound`), and shared: called on a clone.
        let fut = self.engine.clone().call(req);
        let core = self.core.clone();
        Box::pin(async move {
            let res = fut.await?.map(Body::new);
            match (&core.workers, tag_handshake && res.status().is_success()) {
                (Some(workers), true) => Ok(workers.tag_handshake(res).await),
                _ => Ok(res),
            }
        })
    }
}

impl<S> EngineGuard<S> {
    fn admit_engine_request<B>(&self, req: Request<B>) -> Result<Request<B>, Refusal> {
        let headers = req.headers();
        if !self
            .core
            .config
            .origins
            .allows_request(headers.get(ORIGIN), headers.get(HOST))
        {
            return Err(Refusal::OriginNotAllowed);
        }
        if query_sid(req.uri().query()).is_some() {
            return Ok(req);
        }
        let address = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let ticket = self.core.pending.admit(address)?;
        // Only a session's first request is kept by Engine.IO; later polls are not.
        let mut req = detach_head(req, &self.core.config.cookie.name);
        req.extensions_mut().insert(ticket);
        Ok(req)
    }
}

/// Refuses cross-site state-changing requests (`csrf`), gives the app's handlers their
/// session context and writes the cookie change.
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
        let headers = req.headers();
        if let Some(refusal) = crate::csrf::cross_site_refusal(
            &self.core.config,
            req.method(),
            headers.get(ORIGIN),
            headers.get(SEC_FETCH_SITE),
            headers.get(HOST),
        ) {
            return Box::pin(async move { Ok(refusal_response(refusal)) });
        }
        // A host-managed session system (tower-sessions) would quietly replace a refused
        // cookie by a new session: refuse it here first, as the engine's own sessions are.
        // (Only such a layer takes the request locks, too: see `request_locks`.)
        let guard = (!self.core.config.identity.creates_sessions()).then(|| {
            (
                SessionIo(self.core.clone()),
                crate::admission::cookie_header(req.headers()),
            )
        });
        let slot = Arc::new(ResponseCookie::default());
        let _ = (slot.client).set(Client::of_request(req.headers(), req.extensions()));
        req.extensions_mut().insert(RequestContext {
            core: self.core.clone(),
            slot: slot.clone(),
        });
        let fut = self.inner.call(req);
        Box::pin(async move {
            let Some((io, cookie)) = guard else {
                return Ok(finish(fut.await?, &slot));
            };
            if let Err(refused) = crate::host::check_cookie(&io, cookie.as_deref()).await {
                let mut res = refusal_response(refused.refusal);
                if let Some(v) = refused
                    .set_cookie
                    .and_then(|c| HeaderValue::from_str(&c).ok())
                {
                    res.headers_mut().append(SET_COOKIE, v);
                }
                return Ok(res);
            }
            // The session locks the app's session layer takes are held until here.
            #[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
            let fut = crate::request_locks::request_scope(fut);
            // A login by the app's session system records the request's client.
            let client = slot.client.get().cloned().unwrap_or_default();
            let fut = crate::login::with_request_client(client, fut);
            Ok(finish(fut.await?, &slot))
        })
    }
}

/// The app's response with the cookie change its handlers made.
fn finish(mut res: Response, slot: &ResponseCookie) -> Response {
    if let Some(cookie) = slot.take() {
        match HeaderValue::from_str(&cookie) {
            Ok(v) => {
                res.headers_mut().append(SET_COOKIE, v);
            }
            Err(e) => tracing::error!(error = %e, "unencodable Set-Cookie"),
        }
    }
    res
}
