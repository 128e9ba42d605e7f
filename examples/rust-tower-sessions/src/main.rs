//! The seed guide's counter app as an axum app that already used tower-sessions (0.14,
//! signed cookies, inactivity expiry), with sessionio added: the lines marked
//! `// sessionio` are all it took. HTTP handlers keep `tower_sessions::Session`; socket
//! handlers read and write the same records.
//!
//! Environment: `PORT` (default 3000, 0 = any free port), `SESSION_TTL_MS` (inactivity
//! timeout, default 30 min), `SESSION_SECRET` (the cookie key, at least 64 bytes; default: random at every start), `SESSION_STORE_URL` or `REDIS_URL`
//! (`memory://` by default, `sqlite://<file>` through tower-sessions-sqlx-store, or
//! `redis://…` through tower-sessions-redis-store, which also links the processes through
//! the engine's Redis adapter), `ALLOWED_ORIGINS` (comma-separated, added to the server's
//! own), `MAX_CONNECTIONS_PER_SESSION` (default 32), `TOKEN_TTL_MS` (tokens of
//! `GET /token`, default 60 000), `SOCKET_IO_CLIENT_JS` (path of `socket.io.min.js`).
//!
//! Users across sessions: `POST /login` (form field `user`) logs the session in with
//! `sessionio_ts::login` (tower-sessions' `cycle_id`, then the login in the record and the
//! engine's user index), `POST /notify-user`, `GET /sessions`, `DELETE /sessions/<handle>`
//! and `POST /logout-everywhere` as in the other examples.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use sessionio::tower_sessions::v0_14 as sessionio_ts; // sessionio
use sessionio::SessionIo; // sessionio
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::sqlx::SqlitePool;
use tower_sessions_sqlx_store::SqliteStore;

const INDEX: &str = include_str!("../../rust-counter/static/index.html");
const COOKIE_NAME: &str = "counter.sid";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}={v:?} is not valid")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = env_or("PORT", 3000)?;
    let ttl_ms: i64 = env_or("SESSION_TTL_MS", 30 * 60 * 1000)?;
    let key = match std::env::var("SESSION_SECRET") {
        Ok(secret) if secret.len() >= 64 => Key::from(secret.as_bytes()),
        Ok(_) => return Err("SESSION_SECRET must be at least 64 bytes".into()),
        Err(_) => Key::generate(),
    };
    let expiry = Expiry::OnInactivity(time::Duration::milliseconds(ttl_ms));
    let store_url = std::env::var("SESSION_STORE_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "memory://".into());

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let port = listener.local_addr()?.port();
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
    let builder = SessionIo::builder() // sessionio
        .allowed_origins(origins)
        .max_connections_per_session(env_or("MAX_CONNECTIONS_PER_SESSION", 32)?)
        .cookie_secure(false);

    let (app, io) = if let Some(path) = store_url.strip_prefix("sqlite://") {
        let pool = SqlitePool::connect(&format!("sqlite://{path}?mode=rwc")).await?;
        let store = SqliteStore::new(pool);
        store.migrate().await?;
        counter(store, key, expiry, builder).await?
    } else if store_url.starts_with("redis://") {
        let pool = Pool::new(Config::from_url(&store_url)?, None, None, None, 2)?;
        pool.init().await?;
        // sessionio: the adapter links this process with the others on the same Redis.
        counter(
            RedisStore::new(pool),
            key,
            expiry,
            builder.adapter_url(&store_url),
        )
        .await?
    } else if store_url == "memory://" {
        counter(MemoryStore::default(), key, expiry, builder).await?
    } else {
        return Err(format!("unsupported SESSION_STORE_URL {store_url:?}").into());
    };

    println!("listening http=http://127.0.0.1:{port} socket=http://127.0.0.1:{port}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    // sessionio: leave the other processes (with Redis) and close the sockets.
    io.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

/// The app on one tower-sessions store, and its engine.
async fn counter<S: SessionStore + Clone>(
    store: S,
    key: Key,
    expiry: Expiry,
    builder: sessionio::Builder,
) -> Result<(Router, SessionIo), Box<dyn std::error::Error>> {
    let (adopted, store) = sessionio_ts::adopt(store); // sessionio
    let session_layer = SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_signed(key.clone())
        .with_expiry(expiry)
        // Every response saves: HTTP activity moves the inactivity expiry.
        .with_always_save(true)
        .with_same_site(SameSite::Lax)
        .with_secure(false);
    let io = builder // sessionio
        .tower_sessions(
            adopted
                .with_name(COOKIE_NAME)
                .with_signed(key)
                .with_expiry(expiry),
        )
        .build()?;

    // Socket event "incr": atomic increment of the same record, ack, tell every tab.
    io.on("incr", |ctx| async move {
        let session = ctx.require_session()?;
        let n = session.increment("count", 1).await?;
        session.notify("current count", n).await?;
        Ok(n)
    });
    io.ready().await?;

    let token_ttl = Duration::from_millis(env_or("TOKEN_TTL_MS", 60_000)?);
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
            get(move |s: Session, Extension(io): Extension<SessionIo>| token(s, io, token_ttl)),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/assets/socket.io.min.js", get(socket_io_client))
        .layer(Extension(io.clone()))
        .layer(session_layer)
        .layer(io.layer()); // sessionio: Socket.IO, and each request's session lock
    Ok((app, io))
}

/// A failed session read or write: 500, the detail in the log.
struct SessionError(tower_sessions::session::Error);

impl From<tower_sessions::session::Error> for SessionError {
    fn from(e: tower_sessions::session::Error) -> Self {
        SessionError(e)
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        eprintln!("session error: {}", self.0);
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    }
}

/// The page opens a socket, whose handshake needs the session's cookie: a new session
/// is stored (and its cookie set) by writing its count.
async fn index(session: Session) -> Result<Html<String>, SessionError> {
    let count: i64 = match session.get("count").await? {
        Some(n) => n,
        None => {
            session.insert("count", 0).await?;
            0
        }
    };
    Ok(Html(INDEX.replace("{{COUNT}}", &count.to_string())))
}

async fn incr(
    session: Session,
    Extension(io): Extension<SessionIo>,
) -> Result<String, SessionError> {
    let n = session.get::<i64>("count").await?.unwrap_or(0) + 1;
    session.insert("count", n).await?;
    // A new session gets its id when saved.
    session.save().await?;
    if let Some(id) = session.id() {
        // sessionio: every socket of this session
        if let Err(e) = io
            .notify_session(sessionio_ts::engine_id(&id), "current count", &n)
            .await
        {
            eprintln!("notify failed: {e}");
        }
    }
    Ok(n.to_string())
}

/// tower-sessions' own logout: `flush()` deletes the record, and the engine disconnects
/// its sockets on every process; the response clears the cookie.
async fn logout(session: Session) -> Result<StatusCode, SessionError> {
    session.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A failed engine call: 400 for a bad value (a user id), else 500 with the detail in
/// the log.
fn engine_error(e: sessionio::Error) -> Response {
    if e.code() == "ERR_INVALID_VALUE" {
        return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    eprintln!("sessionio: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// `POST /login` with the form field `user`: a new id (tower-sessions' `cycle_id`, against
/// fixation) and the login in the record and the engine's user index.
async fn login(session: Session, form: String) -> Response {
    let user = form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned());
    let Some(user) = user else {
        return (StatusCode::BAD_REQUEST, "the form field `user` is missing").into_response();
    };
    match sessionio_ts::login(&session, &user).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => engine_error(e),
    }
}

/// The user the session is logged in as, or the 401 its route answers without one.
async fn current_user(session: &Session) -> Result<String, Response> {
    match sessionio_ts::user_id(session).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err((StatusCode::UNAUTHORIZED, "not logged in").into_response()),
        Err(e) => Err(engine_error(e)),
    }
}

/// `POST /notify-user` (text body): every socket of every session of the user.
async fn notify_user(
    session: Session,
    Extension(io): Extension<SessionIo>,
    text: String,
) -> Response {
    let user = match current_user(&session).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    match io.notify_user(&user, "user message", &text).await {
        Ok(n) => n.to_string().into_response(),
        Err(e) => engine_error(e),
    }
}

/// `GET /sessions`: the user's live sessions, each under a handle that is not its id.
async fn user_sessions(session: Session, Extension(io): Extension<SessionIo>) -> Response {
    let user = match current_user(&session).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    match io.user_sessions(&user).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => engine_error(e),
    }
}

/// `DELETE /sessions/<handle>`: signs out that session of the user (204), or 404.
async fn sign_out_device(
    session: Session,
    Extension(io): Extension<SessionIo>,
    Path(handle): Path<String>,
) -> Response {
    let user = match current_user(&session).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    match io.destroy_user_session(&user, &handle).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no such session").into_response(),
        Err(e) => engine_error(e),
    }
}

/// `POST /logout-everywhere`: every other session of the user through the engine, this
/// one with tower-sessions' own `flush()`; answers how many.
async fn logout_everywhere(session: Session, Extension(io): Extension<SessionIo>) -> Response {
    let user = match current_user(&session).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let this = session.id().map(|id| sessionio_ts::engine_id(&id));
    let others = match io.destroy_user(&user, this).await {
        Ok(n) => n,
        Err(e) => return engine_error(e),
    };
    if let Err(e) = session.flush().await {
        return SessionError(e).into_response();
    }
    (others + 1).to_string().into_response()
}

/// A token for clients that cannot send the cookie (they pass it as `auth.token`).
async fn token(session: Session, io: SessionIo, ttl: Duration) -> Response {
    if session.id().is_none() {
        let _ = session.insert("count", 0).await;
        if let Err(e) = session.save().await {
            return SessionError(e).into_response();
        }
    }
    let id = session.id().map(|id| sessionio_ts::engine_id(&id));
    match id.map(|id| io.issue_token(id, ttl)) {
        Some(Ok(token)) => token.into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    }
}

async fn socket_io_client() -> Response {
    let path = std::env::var("SOCKET_IO_CLIENT_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../rust-counter/node_modules/socket.io-client/dist/socket.io.min.js"
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
