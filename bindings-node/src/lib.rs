//! The Node.js binding of sessionio (napi-rs). It wraps a clone of the core's
//! [`sessionio::SessionIo`] and maps options, values and errors; every decision about
//! sessions, cookies, rooms and timers stays in the core. The idiomatic JavaScript API
//! (Express middleware, error classes, typings) is the small JS layer in `lib/`.

mod attach;
mod callbacks;
mod errors;
mod express;
mod options;
mod ready;
mod session;
mod socket;
mod users;
pub use users::{login_field, LOGIN_KEY};
mod values;

use std::sync::Arc;
use std::time::Duration;

use napi::Env;
use napi_derive::napi;
use sessionio::http::Server;
use sessionio::{EventContext, SessionIo};

use crate::callbacks::JsCallback;
use crate::errors::{invalid_value, server, IntoNapi};
use crate::ready::{now_or_spawn, Ready};
use crate::session::JsSession;
use crate::values::{safe_integer, JsValueIn};

/// Logs of the engine go to stderr, filtered by `SESSIONIO_LOG` (default `warn`), e.g.
/// `SESSIONIO_LOG=sessionio=debug`.
#[napi_derive::module_init]
fn init_logging() {
    sessionio::host::init_logging();
}

/// How long `socket.emitWithAck` waits for the client when no timeout is given, in ms:
/// core's `DEFAULT_ACK_TIMEOUT`.
#[napi]
pub fn default_ack_timeout_ms() -> u32 {
    u32::try_from(sessionio::DEFAULT_ACK_TIMEOUT.as_millis()).unwrap_or(u32::MAX)
}

/// Starts the engine and its Socket.IO server. `options` is core's option object
/// (camelCase); `storeCall(op, sid, sessionJson)` runs the host's express-session store
/// (wrapped by the JS layer) for `expressSession` without `redisUrl`, and `storeHasTouch`
/// says whether that store has `touch` (core asks for `set` instead when it has not).
#[napi(
    ts_args_type = "options?: Record<string, unknown>, storeCall?: (op: string, sid: string, session: string | null) => Promise<unknown[]>, storeHasTouch?: boolean"
)]
pub fn start<'env>(
    env: &'env Env,
    options: Option<JsValueIn>,
    store_call: Option<JsCallback<'_>>,
    store_has_touch: Option<bool>,
) -> napi::Result<Ready<'env, NativeSessionIo>> {
    build(env, options, store_call, store_has_touch, true)
}

/// Builds the engine without a port of its own, for `attach` (Socket.IO through the
/// host's `http.Server`); the arguments are `start`'s.
#[napi(
    ts_args_type = "options?: Record<string, unknown>, storeCall?: (op: string, sid: string, session: string | null) => Promise<unknown[]>, storeHasTouch?: boolean"
)]
pub fn create<'env>(
    env: &'env Env,
    options: Option<JsValueIn>,
    store_call: Option<JsCallback<'_>>,
    store_has_touch: Option<bool>,
) -> napi::Result<Ready<'env, NativeSessionIo>> {
    build(env, options, store_call, store_has_touch, false)
}

fn build<'env>(
    env: &'env Env,
    options: Option<JsValueIn>,
    store_call: Option<JsCallback<'_>>,
    store_has_touch: Option<bool>,
    own_port: bool,
) -> napi::Result<Ready<'env, NativeSessionIo>> {
    let store = match &store_call {
        Some(f) => Some(
            Arc::new(express::JsStore::new(f, store_has_touch.unwrap_or(false))?)
                as Arc<dyn sessionio::express::ExpressBackend>,
        ),
        None => None,
    };
    let options = options::parse(options.map_or(sessionio::Value::Nil, |o| o.0), store)?;
    now_or_spawn(env, async move {
        // Built inside the runtime: a Redis store or adapter starts tasks there.
        let io = options.builder.build().napi()?;
        let server = if own_port {
            Some(Arc::new(io.serve(options.addr).await.napi()?))
        } else {
            io.ready().await.napi()?;
            None
        };
        Ok(NativeSessionIo {
            io,
            server,
            attached: Default::default(),
        })
    })
}

/// A running engine: its Socket.IO server on a port of its own, and/or attached to the
/// host's `http.Server`s (see `attach.rs`).
#[napi]
pub struct NativeSessionIo {
    io: SessionIo,
    server: Option<Arc<Server>>,
    attached: attach::AttachedServers,
}

/// What the `Cookie` header of an HTTP request resolved to (core's `HttpOutcome`).
#[napi]
pub struct NativeHttpOutcome {
    outcome: sessionio::host::HttpOutcome,
}

#[napi]
impl NativeHttpOutcome {
    /// The request's session, `null` when the cookie was refused.
    #[napi(getter)]
    pub fn session(&self) -> Option<JsSession> {
        self.outcome.session().cloned().map(JsSession::from)
    }

    /// The HTTP status of a refusal, `null` when accepted.
    #[napi(getter)]
    pub fn status(&self) -> Option<u32> {
        self.outcome.refusal().map(|r| u32::from(r.http_status()))
    }

    /// The refusal's message (the response body), `null` when accepted.
    #[napi(getter)]
    pub fn message(&self) -> Option<String> {
        self.outcome.refusal().map(|r| r.message().to_owned())
    }

    /// The `Set-Cookie` value the response carries, or `null`: call it when the response
    /// starts (it follows `regenerate()` and `destroy()` made during the request).
    #[napi]
    pub fn set_cookie(&self) -> Option<String> {
        self.outcome.set_cookie()
    }
}

/// What a request's session cookie says: the session it names, or the refusal to answer.
#[napi(object)]
pub struct CookieCheck {
    /// The host's id of the session a valid cookie names (`null` without one).
    pub session_id: Option<String>,
    /// Why the cookie is refused (`null` when it is not).
    pub refusal: Option<CookieRefusal>,
}

/// A refused session cookie: the HTTP answer.
#[napi(object)]
pub struct CookieRefusal {
    /// The HTTP status (401, 503).
    pub status: u32,
    /// The refusal's message (the response body).
    pub message: String,
    /// A clearing `Set-Cookie`, when the cookie itself is bad.
    pub set_cookie: Option<String>,
}

/// Live counters.
#[napi(object)]
pub struct Stats {
    /// Sockets connected on the default namespace.
    pub sockets: u32,
    /// Sessions with at least one socket here.
    pub sessions_with_sockets: u32,
}

#[napi]
impl NativeSessionIo {
    /// The port of the engine's own Socket.IO server (`null` without one).
    #[napi(getter)]
    pub fn port(&self) -> Option<u32> {
        self.server
            .as_ref()
            .map(|s| u32::from(s.local_addr().port()))
    }

    /// The host address of the engine's own Socket.IO server (`null` without one).
    #[napi(getter)]
    pub fn host(&self) -> Option<String> {
        self.server
            .as_ref()
            .map(|s| s.local_addr().ip().to_string())
    }

    /// What an HTTP request's `Cookie` header resolves to (what Express calls): its
    /// session, or a new one, or the refusal; and the response's `Set-Cookie`. The
    /// request's `User-Agent` and client address (as Node's socket gives it) are reported
    /// with it, for the user's list of sessions that a `login()` of the request adds to.
    #[napi]
    pub fn http_request<'env>(
        &self,
        env: &'env Env,
        cookie_header: Option<String>,
        user_agent: Option<String>,
        address: Option<String>,
    ) -> napi::Result<Ready<'env, NativeHttpOutcome>> {
        let io = self.io.clone();
        now_or_spawn(env, async move {
            let outcome = sessionio::host::http_request(&io, cookie_header.as_deref()).await;
            outcome.set_client(user_agent.as_deref(), address.as_deref());
            Ok(NativeHttpOutcome { outcome })
        })
    }

    /// The cross-site request forgery check the HTTP middlewares run first: `null`, or
    /// the refusal to answer (403 `origin not allowed`, no cookie change).
    #[napi]
    pub fn check_request_site(
        &self,
        method: String,
        origin: Option<String>,
        fetch_site: Option<String>,
        host: Option<String>,
    ) -> Option<CookieRefusal> {
        sessionio::host::check_request_site(
            &self.io,
            &method,
            origin.as_deref(),
            fetch_site.as_deref(),
            host.as_deref(),
        )
        .map(|r| CookieRefusal {
            status: u32::from(r.http_status()),
            message: r.message().to_owned(),
            set_cookie: None,
        })
    }

    /// What a request's `Cookie` header says, creating nothing: the session a valid cookie
    /// names, or the refusal to answer (express-session mode's guard).
    #[napi]
    pub fn check_cookie<'env>(
        &self,
        env: &'env Env,
        cookie_header: Option<String>,
    ) -> napi::Result<Ready<'env, CookieCheck>> {
        let io = self.io.clone();
        now_or_spawn(env, async move {
            Ok(
                match sessionio::host::check_cookie(&io, cookie_header.as_deref()).await {
                    Ok(id) => CookieCheck {
                        session_id: id.map(|id| sessionio::host::host_id(&io, id)),
                        refusal: None,
                    },
                    Err(r) => CookieCheck {
                        session_id: None,
                        refusal: Some(CookieRefusal {
                            status: u32::from(r.refusal.http_status()),
                            message: r.refusal.message().to_owned(),
                            set_cookie: r.set_cookie,
                        }),
                    },
                },
            )
        })
    }

    /// Disconnects the session's sockets if its store no longer has it (express-session's
    /// own `regenerate()` / `destroy()`); answers how many.
    #[napi]
    pub fn disconnect_if_gone<'env>(
        &self,
        env: &'env Env,
        session_id_text: String,
    ) -> napi::Result<Ready<'env, u32>> {
        let id = sessionio::host::resolve_id(&self.io, &session_id_text).napi()?;
        let io = self.io.clone();
        now_or_spawn(env, async move {
            Ok(io.disconnect_if_gone(id).await.napi()? as u32)
        })
    }

    /// Emits to every socket of the session; answers how many it reached (a number when
    /// it is done at once, else a Promise of it).
    #[napi]
    pub fn notify_session<'env>(
        &self,
        env: &'env Env,
        session_id_text: String,
        event: String,
        data: JsValueIn,
    ) -> napi::Result<Ready<'env, u32>> {
        let id = sessionio::host::resolve_id(&self.io, &session_id_text).napi()?;
        let io = self.io.clone();
        now_or_spawn(env, async move {
            Ok(io.notify_session(id, &event, &data.0).await.napi()? as u32)
        })
    }

    /// Deletes the session and disconnects its sockets; answers how many.
    #[napi]
    pub fn destroy_session<'env>(
        &self,
        env: &'env Env,
        session_id_text: String,
    ) -> napi::Result<Ready<'env, u32>> {
        let id = sessionio::host::resolve_id(&self.io, &session_id_text).napi()?;
        let io = self.io.clone();
        now_or_spawn(env, async move {
            Ok(io.destroy_session(id).await.napi()? as u32)
        })
    }

    /// A signed token for `auth: { token }`, valid for `ttlMs`.
    #[napi]
    pub fn issue_token(&self, session_id_text: String, ttl_ms: f64) -> napi::Result<String> {
        let id = sessionio::host::resolve_id(&self.io, &session_id_text).napi()?;
        let ttl = safe_integer("ttlMs", ttl_ms)?;
        if ttl <= 0 {
            return Err(invalid_value("token ttl must be positive".into()));
        }
        self.io
            .issue_token(id, Duration::from_millis(ttl as u64))
            .napi()
    }

    /// A new, empty session.
    #[napi]
    pub fn create_session<'env>(&self, env: &'env Env) -> napi::Result<Ready<'env, JsSession>> {
        let io = self.io.clone();
        now_or_spawn(
            env,
            async move { Ok(io.create_session().await.napi()?.into()) },
        )
    }

    /// A handle on an existing, live session.
    #[napi]
    pub fn session<'env>(
        &self,
        env: &'env Env,
        session_id_text: String,
    ) -> napi::Result<Ready<'env, JsSession>> {
        let id = sessionio::host::resolve_id(&self.io, &session_id_text).napi()?;
        let io = self.io.clone();
        now_or_spawn(env, async move { Ok(io.session(id).await.napi()?.into()) })
    }

    /// Registers the handler of a socket event (wrapped by the JS layer).
    #[napi(
        ts_args_type = "event: string, handler: (socket: NativeSocket, args: unknown[]) => Promise<unknown[]>"
    )]
    pub fn on(&self, event: String, handler: JsCallback<'_>) -> napi::Result<()> {
        let f = Arc::new(callbacks::handler(&handler)?);
        self.io.on(event, move |ctx: EventContext| {
            let f = f.clone();
            async move {
                callbacks::run(&f, callbacks::EventCall::from(&ctx))
                    .await
                    .map(callbacks::reply)
            }
        });
        Ok(())
    }

    /// Adds a per-event middleware (wrapped by the JS layer).
    #[napi(
        js_name = "use",
        ts_args_type = "middleware: (socket: NativeSocket, event: string, args: unknown[]) => Promise<unknown[]>"
    )]
    pub fn use_event(&self, middleware: JsCallback<'_>) -> napi::Result<()> {
        let f = Arc::new(callbacks::middleware(&middleware)?);
        self.io.use_event(move |ctx: EventContext| {
            let f = f.clone();
            async move {
                callbacks::run(&f, callbacks::EventCall::from(&ctx))
                    .await
                    .map(|_| ())
            }
        });
        Ok(())
    }

    /// Runs a callback for every accepted socket (wrapped by the JS layer).
    #[napi(ts_args_type = "callback: (socket: NativeSocket) => Promise<unknown[]>")]
    pub fn on_connection(&self, callback: JsCallback<'_>) -> napi::Result<()> {
        let f = Arc::new(callbacks::connection(&callback)?);
        self.io.on_connection(move |socket| {
            let f = f.clone();
            async move {
                // The JS layer logs a failing callback; the socket stays connected.
                let _ = callbacks::run(&f, socket).await;
            }
        });
        Ok(())
    }

    /// Live counters.
    #[napi]
    pub fn stats(&self) -> Stats {
        let s = self.io.stats();
        Stats {
            sockets: s.sockets as u32,
            sessions_with_sockets: s.sessions_with_sockets as u32,
        }
    }

    /// Every counter in the Prometheus text format, for a `/metrics` route.
    #[napi]
    pub fn metrics_text(&self) -> String {
        self.io.metrics_text()
    }

    /// Disconnects every socket, stops the engine's own server and releases every
    /// adopted connection; calling it again does nothing.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let server = self.server.clone();
        let attached = self.attached.take_all();
        let io = self.io.clone();
        // The server tasks run on the binding's tokio runtime: wait for them there.
        // Each of the server and the attached serving closes the engine itself; an engine
        // made by `create` and never attached has neither.
        tokio::spawn(async move {
            if let Some(server) = &server {
                server.close().await;
            }
            if let Some(attached) = &attached {
                attached.close().await;
            }
            if server.is_none() && attached.is_none() {
                io.close().await;
            }
        })
        .await
        .map_err(|e| server_error(&e))
    }
}

fn server_error(e: &dyn std::fmt::Display) -> napi::Error {
    server(format!("closing the server failed: {e}"))
}
