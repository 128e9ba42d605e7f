//! # sessionio
//!
//! An embeddable session-realtime core: a Socket.IO server (socketioxide) that shares the
//! web app's sessions. It does what the Socket.IO guide "How to use with express-session"
//! has every developer wire by hand — share the session with the handshake, put each
//! socket in its session's room, push to a session from an HTTP handler, log a session out
//! everywhere, notice expiry — once, in Rust.
//!
//! This page is a tour; each step names the module where the behaviour lives.
//!
//! ## 1. An engine, configured once
//!
//! [`SessionIo::builder`] takes every option (a [`Builder`], checked by
//! [`build`](Builder::build): a bad value is an [`Error::Config`] that names it). The
//! engine is a cheap, cloneable handle ([`SessionIo`]); every clone is the same server.
//! (`config`, `startup`)
//!
//! ```no_run
//! use axum::{routing::post, Router};
//! use sessionio::{Session, SessionIo};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SessionIo::builder()
//!     .secret(std::env::var("SESSION_SECRET")?)
//!     .allowed_origins(["https://app.example.com"])
//!     .build()?;
//! io.on("incr", |ctx| async move {
//!     let session = ctx.require_session()?;
//!     let n = session.increment("count", 1).await?;
//!     session.notify("current count", n).await?;
//!     Ok(n)
//! });
//! let app = Router::new()
//!     .route("/incr", post(|session: Session| async move {
//!         let n = session.increment("count", 1).await?;
//!         session.notify("current count", n).await?;
//!         Ok::<_, sessionio::http::HttpError>(n.to_string())
//!     }))
//!     .layer(io.layer());
//! let listener = sessionio::http::bind("127.0.0.1:3000".parse()?).await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! ## 2. Sessions
//!
//! A [`Session`] is a handle on one stored session. It holds only the id: reads go to
//! the store, and every write ([`set`](Session::set), [`increment`](Session::increment),
//! [`update`](Session::update)) is an atomic read-modify-write there, so an HTTP request
//! and a socket event writing at once never lose each other's update — there is no
//! `reload()`, and no `save()` after a write. [`regenerate`](Session::regenerate) gives a
//! new id on login; [`destroy`](Session::destroy) logs the session out. (`session`)
//!
//! ## 3. Who gets in
//!
//! An HTTP request's cookie, or a Socket.IO handshake's cookie or `auth.token`
//! ([`SessionIo::issue_token`]), is checked in one place: the `Origin` against the
//! allow-list, the signature (HMAC-SHA256, with secret rotation), then the store. A
//! request without a cookie gets a new session, stored (and its cookie set) only by its
//! first write or [`Session::save`], within [`Builder::max_sessions`]; a forged, unknown,
//! destroyed or expired
//! one is refused with a [`Refusal`], whose message is exactly what the client gets in its
//! `connect_error` or HTTP body — never silently replaced by a new session. (`admission`,
//! `cookie`)
//!
//! Before any of that, the first request of an Engine.IO session is judged on what costs
//! nothing to check: its `Origin` (checked again on every request under the Socket.IO
//! path), and a bound on the Engine.IO sessions that have not connected to a namespace
//! yet — in all and per client address — which must connect within `connect_timeout`.
//! A client past a bound is refused before the engine allocates anything.
//! (`pending_handshakes`, `http::layer`)
//!
//! An HTTP request that changes state (`POST`, `PUT`, `PATCH`, `DELETE`) from a site the
//! allow-list does not name, as its `Origin` or `Sec-Fetch-Site` shows, is refused before
//! any handler runs: cross-site request forgery. Every host's middleware runs that check
//! ([`host::check_request_site`]). (`csrf`)
//!
//! ## 4. Sockets and their handlers
//!
//! An admitted socket joins its session's room (a name under [`RESERVED_ROOM_PREFIX`],
//! which no host call can join: only admitted sockets are in it), counts against the
//! session's socket cap, and gets the handlers registered with [`SessionIo::on`] (their
//! [`EventContext`] gives the socket and a live [`Session`]), the middlewares of
//! [`SessionIo::use_event`] and the callbacks of [`SessionIo::on_connection`]. A handler's
//! value answers the client's ack; its [`HandlerError`] answers `{"error": message}`, and
//! only messages a handler chose (or documented refusals) ever reach a client: any other
//! error is `internal error` to the client and its detail goes to the log. (`connect`, `handler`, `ack`, `socket`)
//!
//! ## 5. Reaching a session from the host
//!
//! [`SessionIo::notify_session`] emits to every socket of a session and answers how many
//! it reached; [`SessionIo::destroy_session`] deletes the session and disconnects every
//! socket of it. A socket whose outgoing queue stays full is never skipped quietly: the
//! message waits for room, then the socket is disconnected so that its client
//! resynchronises. (`engine`, `delivery`)
//!
//! A session can be logged in as a user ([`Session::login`], which gives it a new id
//! against fixation; [`Session::logout`] undoes it the same way). The store keeps a user
//! → sessions index, and a logged-in session's sockets join its user's room:
//! [`SessionIo::notify_user`] reaches every socket of every session of a user on every
//! node, [`SessionIo::destroy_user`] logs a user out everywhere, and
//! [`SessionIo::user_sessions`] lists the user's devices under opaque handles for
//! [`SessionIo::destroy_user_session`]. (`users`)
//!
//! ## 6. Expiry
//!
//! Each session with sockets here has one timer, due at its expiry instant: HTTP activity
//! that moved the instant is seen then, and an expired session's sockets are told
//! `"session expired"` and disconnected within a second, with no polling. A socket that
//! connected with a token is told the same and disconnected at the token's expiry, and its
//! events never extend the session past it. A sweeper deletes old records. (`expiry`,
//! `presence`)
//!
//! ## 7. Stores
//!
//! Sessions live behind one versioned compare-and-swap trait, [`store::SessionStore`]: the
//! memory store by default, SQLite and Redis by URL ([`Builder::store_url`]), or your own
//! ([`Builder::store`]). express-session's own sessions and cookie can be adopted instead
//! ([`Builder::express_session`], [`express`]), and so can an axum app's tower-sessions
//! setup, its store and its plain, signed or private cookie (`Builder::tower_sessions`,
//! the `tower_sessions` module, with the `tower-sessions-014` or `tower-sessions-015`
//! feature). (`store`, `express`, `tower_sessions`)
//!
//! ## 8. HTTP and serving
//!
//! [`SessionIo::layer`] serves Socket.IO, CORS and the session cookie inside an axum app
//! on its own port; [`Session`] and [`SessionIo`] are extractors. [`http::bind`] is the
//! listener to serve it with (TCP_NODELAY, deadlines against slow peers), and
//! [`SessionIo::serve`] runs Socket.IO alone on a port for hosts in other languages;
//! [`SessionIo::attach`] serves it through a host's own HTTP server instead (Node's
//! `http.Server`: websocket connections adopted whole, polling requests forwarded). A
//! page of the server's own origin (its `Host`) needs no allow-list entry. (`http`)
//!
//! ## 9. Several processes
//!
//! With [`Builder::adapter_url`] (or a `redis://` store URL), engines in several
//! processes are linked through socketioxide's Redis adapter: notify and destroy reach
//! the session's sockets on every node, and nothing is lost quietly. (`adapter`)
//!
//! ## 10. Watching it
//!
//! [`SessionIo::stats`] and [`SessionIo::metrics_text`] (Prometheus) count sockets,
//! sessions, handshakes by refusal, notifications, expiries and store latency. (`metrics`)

#![deny(missing_docs)]

mod ack;
mod adapter;
mod admission;
mod config;
mod connect;
pub mod cookie;
mod csrf;
mod delivery;
mod engine;
mod engine_io;
mod error;
mod expiry;
pub mod express;
mod handler;
pub mod host;
pub mod http;
pub mod identity;
mod login;
mod metrics;
pub mod options;
mod pending_handshakes;
mod presence;
#[cfg(feature = "redis")]
mod redis_target;
#[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
mod request_locks;
mod rooms;
mod session;
mod socket;
mod socket_state;
mod startup;
pub mod store;
#[cfg(any(feature = "tower-sessions-014", feature = "tower-sessions-015"))]
pub mod tower_sessions;
mod users;
mod workers;

pub use ack::{HandlerError, IntoReply, Reply, INTERNAL_ERROR};
pub use adapter::Adapter;
pub use config::{Builder, Config, Origins, Transport, MIN_SECRET_LEN};
pub use cookie::SameSite;
pub use engine::SessionIo;
pub use error::{Error, Refusal, Result};
pub use handler::EventContext;
pub use login::login_field;
pub use metrics::Stats;
pub use rmpv::Value;
pub use rooms::RESERVED_ROOM_PREFIX;
pub use session::Session;
pub use socket::{Handshake, SocketHandle, DEFAULT_ACK_TIMEOUT};
pub use store::{Login, UserIndexSize};
/// A session id: tower-sessions' 128-bit random id, 22 base64url characters.
pub use tower_sessions_core::session::Id as SessionId;
pub use users::UserSession;
