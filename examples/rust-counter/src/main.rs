//! The seed guide's counter app on sessionio, on one port: axum serves the page, the
//! HTTP routes and Socket.IO; sessions are shared by both.
//!
//! Environment: `PORT` (default 3000, 0 = any free port), `SESSION_TTL_MS` (inactivity
//! timeout, default 30 min), `SESSION_SECRET` (default: random at every start),
//! `ALLOWED_ORIGINS` (comma-separated, added to the server's own origins),
//! `MAX_CONNECTIONS_PER_SESSION` (default 32), `TOKEN_TTL_MS` (lifetime of the tokens
//! `GET /token` issues, default 60 000), `SESSION_STORE_URL` (`memory://` by
//! default, or `sqlite://<file>` to keep sessions across restarts), `REDIS_URL` (several
//! processes on one Redis: sessions in it, and notifications and logouts reach the
//! sockets of every process; same as `SESSION_STORE_URL=redis://…`), `SOCKET_IO_CLIENT_JS`
//! (path of `socket.io.min.js`, default: this example's `node_modules`), `METRICS_ALLOW`
//! (comma-separated client IPs served `GET /metrics`, default `127.0.0.1,::1`).
//!
//! `MAX_SESSIONS` (sessions the store may hold, default 1 000 000; past it a new session
//! is answered 503 `too many sessions`).
//!
//! Users across sessions: `POST /login` (form field `user`) logs the session in (a new
//! id and cookie), `POST /notify-user` (text body) reaches every socket of every session
//! of the user, `GET /sessions` lists them under opaque handles, `DELETE
//! /sessions/<handle>` signs one out, `POST /logout-everywhere` signs them all out.
//!
//! Sessions are created lazily: `GET /` creates one (and sets its cookie) because its
//! page opens a socket, `POST /incr` because it writes; `GET /health`, `/metrics` and the
//! script create none.
//!
//! Optional transport knobs (the hostile-client tests make them small), each unset by
//! default so that the engine's defaults apply: `PING_INTERVAL_MS` (25 000),
//! `PING_TIMEOUT_MS` (20 000), `CONNECT_TIMEOUT_MS` (10 000), `MAX_PAYLOAD` (bytes,
//! 1 000 000), `MAX_BUFFER_SIZE` (outgoing packets queued per socket, 1024),
//! `MAX_PENDING_HANDSHAKES` (4096) and `MAX_PENDING_HANDSHAKES_PER_ADDRESS` (256:
//! Engine.IO sessions not yet connected to a namespace).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Request};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sessionio::http::{HttpError, SessionRejection};
use sessionio::{HandlerError, Session, SessionId, SessionIo};

const INDEX: &str = include_str!("../static/index.html");

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}={v:?} is not valid")),
        Err(_) => Ok(default),
    }
}

/// An optional setting: `None` when unset, so the engine keeps its default.
fn env_opt<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v:?} is not valid")),
        Err(_) => Ok(None),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let port: u16 = env_or("PORT", 3000)?;
    let ttl_ms: u64 = env_or("SESSION_TTL_MS", 30 * 60 * 1000)?;
    let max_conn: usize = env_or("MAX_CONNECTIONS_PER_SESSION", 32)?;
    let token_ttl = Duration::from_millis(env_or("TOKEN_TTL_MS", 60_000)?);
    // Two random 128-bit ids make a 44-character secret: fine for a demo whose memory
    // store forgets every session at restart anyway.
    let secret = std::env::var("SESSION_SECRET")
        .unwrap_or_else(|_| format!("{}{}", SessionId::default(), SessionId::default()));

    let ping_interval = env_opt::<u64>("PING_INTERVAL_MS")?.map(Duration::from_millis);
    let ping_timeout = env_opt::<u64>("PING_TIMEOUT_MS")?.map(Duration::from_millis);
    // A client that stops reading is cut once it could have missed a heartbeat.
    let stall = ping_interval.unwrap_or(Duration::from_secs(25))
        + ping_timeout.unwrap_or(Duration::from_secs(20));
    let listener =
        sessionio::http::bind_with_stall_timeout(SocketAddr::from(([127, 0, 0, 1], port)), stall)
            .await?;
    let port = axum::serve::Listener::local_addr(&listener)?.port();
    let mut origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    if let Ok(extra) = std::env::var("ALLOWED_ORIGINS") {
        origins.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from),
        );
    }

    let mut builder = SessionIo::builder();
    if let Some(d) = ping_interval {
        builder = builder.ping_interval(d);
    }
    if let Some(d) = ping_timeout {
        builder = builder.ping_timeout(d);
    }
    if let Some(ms) = env_opt::<u64>("CONNECT_TIMEOUT_MS")? {
        builder = builder.connect_timeout(Duration::from_millis(ms));
    }
    if let Some(bytes) = env_opt::<u64>("MAX_PAYLOAD")? {
        builder = builder.max_payload(bytes);
    }
    if let Some(packets) = env_opt::<usize>("MAX_BUFFER_SIZE")? {
        builder = builder.max_buffer_size(packets);
    }
    if let Some(n) = env_opt::<usize>("MAX_PENDING_HANDSHAKES")? {
        builder = builder.max_pending_handshakes(n);
    }
    if let Some(n) = env_opt::<usize>("MAX_PENDING_HANDSHAKES_PER_ADDRESS")? {
        builder = builder.max_pending_handshakes_per_address(n);
    }
    if let Some(max) = env_opt::<u64>("MAX_SESSIONS")? {
        builder = builder.max_sessions(max);
    }
    if let Ok(url) = std::env::var("SESSION_STORE_URL").or_else(|_| std::env::var("REDIS_URL")) {
        builder = builder.store_url(url);
    }
    let io = builder
        .secret(secret)
        .ttl(Duration::from_millis(ttl_ms))
        .allowed_origins(origins)
        .max_connections_per_session(max_conn)
        // The demo runs on http://localhost; a real deployment keeps Secure cookies.
        .cookie_secure(false)
        .build()?;

    // Socket event "incr": atomic increment, ack with the new count, tell every tab.
    io.on("incr", |ctx| async move {
        let session = ctx.require_session()?;
        let n = session.increment("count", 1).await?;
        session.notify("current count", n).await?;
        Ok(n)
    });

    // Socket event "join" (a room name): the chat-room call of the Socket.IO guides; acks
    // the socket's rooms, sorted. The engine's own room names (`sessionio:…`) are refused,
    // and the refusal's message is the ack's error.
    io.on("join", |ctx| async move {
        let room: String = ctx.arg(0)?;
        let socket = ctx.socket();
        socket
            .join(room)
            .map_err(|e| HandlerError::new(e.to_string()))?;
        let mut rooms = socket.rooms();
        rooms.sort();
        Ok(rooms)
    });

    let app = Router::new()
        .route("/", get(index))
        .route("/incr", post(incr))
        .route("/logout", post(logout))
        .route("/login", post(login))
        .route("/notify-user", post(notify_user))
        .route("/sessions", get(user_sessions))
        .route("/sessions/{handle}", axum::routing::delete(sign_out_device))
        .route("/logout-everywhere", post(logout_everywhere))
        .route(
            "/token",
            get(move |session: Session, io: SessionIo| token(session, io, token_ttl)),
        )
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/assets/socket.io.min.js", get(socket_io_client))
        .layer(io.layer());

    // With Redis: subscribed before the first client, so no notification is missed.
    io.ready().await?;
    println!("listening http=http://127.0.0.1:{port} socket=http://127.0.0.1:{port}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    io.close().await;
    Ok(())
}

/// The page opens a socket, whose handshake needs the session's cookie: `save()` stores
/// the session (and sets the cookie) if the request came without one.
async fn index(session: Session) -> Result<Html<String>, HttpError> {
    session.save().await?;
    let count: i64 = session.get("count").await?.unwrap_or(0);
    Ok(Html(INDEX.replace("{{COUNT}}", &count.to_string())))
}

async fn incr(session: Session) -> Result<String, HttpError> {
    let n = session.increment("count", 1).await?;
    session.notify("current count", n).await?;
    Ok(n.to_string())
}

/// Logging out always answers 204 and clears the cookie, even for a session that is
/// already gone; a live session is destroyed and its sockets disconnected.
async fn logout(session: Result<Session, SessionRejection>) -> Result<StatusCode, HttpError> {
    if let Ok(session) = session {
        session.destroy().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /login` with the form field `user`: logs the session in as that user (the app
/// would check a password first) and gives it a new id, against fixation; the response
/// carries the new cookie. A missing or bad user id is 400 with the reason.
async fn login(session: Session, form: String) -> Result<Response, HttpError> {
    let user = form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned());
    let Some(user) = user else {
        return Ok((StatusCode::BAD_REQUEST, "the form field `user` is missing").into_response());
    };
    match session.login(&user).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) if e.code() == "ERR_INVALID_VALUE" => {
            Ok((StatusCode::BAD_REQUEST, e.to_string()).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The user of a request's session, or the 401 its route answers without one.
async fn current_user(session: &Session) -> Result<Result<String, Response>, HttpError> {
    Ok(session
        .user_id()
        .await?
        .ok_or_else(|| (StatusCode::UNAUTHORIZED, "not logged in").into_response()))
}

/// `POST /notify-user` (text body): every socket of every session of the current user
/// gets `"user message"` with the text; answers how many sockets this node reached.
async fn notify_user(session: Session, io: SessionIo, text: String) -> Result<Response, HttpError> {
    let user = match current_user(&session).await? {
        Ok(user) => user,
        Err(refused) => return Ok(refused),
    };
    let reached = io.notify_user(&user, "user message", &text).await?;
    Ok(reached.to_string().into_response())
}

/// `GET /sessions`: the current user's live sessions as JSON, each under a handle that is
/// not its id.
async fn user_sessions(session: Session, io: SessionIo) -> Result<Response, HttpError> {
    let user = match current_user(&session).await? {
        Ok(user) => user,
        Err(refused) => return Ok(refused),
    };
    let list = io.user_sessions(&user).await?;
    Ok(axum::Json(list).into_response())
}

/// `DELETE /sessions/<handle>`: signs out the current user's session of that handle
/// (204), or 404 if the user has none.
async fn sign_out_device(
    session: Session,
    io: SessionIo,
    Path(handle): Path<String>,
) -> Result<Response, HttpError> {
    let user = match current_user(&session).await? {
        Ok(user) => user,
        Err(refused) => return Ok(refused),
    };
    if io.destroy_user_session(&user, &handle).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok((StatusCode::NOT_FOUND, "no such session").into_response())
    }
}

/// `POST /logout-everywhere`: destroys every session of the current user, this one
/// included (its cookie is cleared); answers how many.
async fn logout_everywhere(session: Session, io: SessionIo) -> Result<Response, HttpError> {
    let user = match current_user(&session).await? {
        Ok(user) => user,
        Err(refused) => return Ok(refused),
    };
    let others = io.destroy_user(&user, Some(session.id())).await?;
    session.destroy().await?;
    Ok((others + 1).to_string().into_response())
}

/// A token for clients that cannot send the cookie (they pass it as `auth.token`).
async fn token(session: Session, io: SessionIo, ttl: Duration) -> Result<String, HttpError> {
    session.save().await?;
    Ok(io.issue_token(session.id(), ttl)?)
}

/// A health check: touches no session, so it stores none and sends no cookie.
async fn health() -> &'static str {
    "ok"
}

/// Prometheus text: sockets, sessions, refusals by reason, notifications, store latency.
/// Served only to the addresses of `METRICS_ALLOW` (comma-separated IPs, default
/// `127.0.0.1,::1`): the figures are the operator's, not the world's. (Behind a proxy on
/// the same host every client has the proxy's address: do not route `/metrics` there.)
async fn metrics(io: SessionIo, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    let allowed = std::env::var("METRICS_ALLOW").unwrap_or_else(|_| "127.0.0.1,::1".into());
    let listed = allowed
        .split(',')
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .any(|ip| ip == peer.ip().to_canonical());
    if !listed {
        return (StatusCode::FORBIDDEN, "forbidden").into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        io.metrics_text(),
    )
        .into_response()
}

async fn socket_io_client(_req: Request) -> Response {
    let path = std::env::var("SOCKET_IO_CLIENT_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/node_modules/socket.io-client/dist/socket.io.min.js"
        )
        .to_owned()
    });
    match std::fs::read(&path) {
        Ok(js) => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            js,
        )
            .into_response(),
        Err(e) => {
            // The path is the operator's business, not the client's.
            eprintln!(
                "socket.io client not found at {path} ({e}); run `npm ci` in examples/rust-counter"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the socket.io client is not available",
            )
                .into_response()
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
