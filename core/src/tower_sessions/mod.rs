//! Keep your tower-sessions: an axum app keeps its `SessionManagerLayer`, its store and its
//! cookie, and the engine shares them.
//!
//! ```ignore
//! // was: SessionManagerLayer::new(store)
//! let (sessions, store) = sessionio::tower_sessions::v0_14::adopt(store);
//! let session_layer = SessionManagerLayer::new(store).with_signed(key.clone()).with_expiry(expiry);
//! let io = SessionIo::builder()
//!     .tower_sessions(sessions.with_signed(key).with_expiry(expiry))
//!     .build()?;
//! let app = Router::new() /* routes */ .layer(session_layer).layer(io.layer());
//! ```
//!
//! - **Identity.** The handshake reads tower-sessions' cookie (the last of its name, as
//!   tower-cookies does), checks it as the app's `SessionManagerLayer` does (plain, signed
//!   with the app's `Key`, or private), and loads the record through the app's store. Ids
//!   are tower-sessions' own: `notify_session` and `destroy_session` take
//!   `Session::id().to_string()`.
//! - **No lost updates within a process.** tower-sessions loads a record at a request's
//!   first read and saves it whole at the response, last writer wins. The store
//!   `adopt` returns takes the session's lock at that first read and keeps
//!   it until the response has been saved (a task-local scope that layer opens); the
//!   engine's writes (socket handlers, `session(id)`) take the same lock. Requests that
//!   touch one session run one after another; other processes' writes stay
//!   last-writer-wins.
//! - **Deletion.** An app's `session.delete()`, `flush()` or `cycle_id()` (login) deletes
//!   the old id through that store: its sockets are disconnected on every node, and its
//!   cookie is refused afterwards, as after [`Session::regenerate`](crate::Session).
//!   `destroy_session` deletes through the app's store too.
//! - **Expiry** follows the record's `expiry_date`: the app's saves move it, and socket
//!   activity moves it as a request that saves would (by the `Expiry` given here).
//!   Sockets are told `session expired` at that instant.
//! - **HTTP.** [`SessionIo::layer`](crate::SessionIo::layer), outside the app's
//!   `SessionManagerLayer`, answers a request whose tower-sessions cookie is forged,
//!   unknown, destroyed or expired with 401 and a clearing cookie, rather than letting
//!   tower-sessions start a new session quietly; requests without the cookie pass.

mod identity;
mod record;
mod settings;
mod versions;

pub(crate) use identity::TowerIdentity;
pub use record::ExpiryRule;
pub use settings::{TowerSessions, DEFAULT_COOKIE_NAME};
#[cfg(feature = "tower-sessions-014")]
pub use versions::v0_14;
#[cfg(feature = "tower-sessions-015")]
pub use versions::v0_15;
