//! The engine of sessionio for the languages [uniffi] generates bindings for: Ruby today
//! (the `sessionio` gem in `ruby/`), Kotlin and Swift later from the same exports.
//!
//! A tour, in the order a host meets it:
//!
//! - [`Engine`] is built from a map of core's options ([`Value`], snake_case keys), serves
//!   Socket.IO on its own port ([`Engine::start`]) and takes the host's calls:
//!   `notify_session`, `destroy_session`, `issue_token`, `create_session`, `session`,
//!   `http_request` (what a request's cookie resolves to, and the `Set-Cookie` its
//!   response carries) and the cookie helpers. `close` stops it. Users across sessions:
//!   `notify_user`, `destroy_user`, `user_sessions` ([`UserSession`]s under opaque
//!   handles), `destroy_user_session`, `user_index_size`.
//! - [`Session`] is a live handle on one session: `get`, `set`, `remove`, `increment`,
//!   `update` (the host's function inside one atomic update), `regenerate`, `login`,
//!   `logout`, `user_id`, `destroy`.
//! - The engine calls the host through foreign traits: [`EventHandler`] (its value answers
//!   the ack), [`EventMiddleware`], [`ConnectionHandler`]. Each gets a [`Socket`].
//! - Every failure is one [`SessionioError`], whose variants carry core's stable codes.
//!
//! Every rule — options, cookies, sessions, rooms, timers — is core's: this crate maps
//! values and errors, and runs the host's functions off the engine's threads. Calls that
//! reach the store or the network are async exports: the host waits for them without
//! blocking its other threads (Ruby's GVL is released).
//!
//! [uniffi]: https://mozilla.github.io/uniffi-rs/

uniffi::setup_scaffolding!("sessionio_native");

mod engine;
mod error;
mod handlers;
mod runtime;
mod session;
mod socket;
mod value;

pub use engine::{Engine, Stats, UserIndexSize, UserSession};
pub use error::SessionioError;
pub use handlers::{ConnectionHandler, EventHandler, EventMiddleware};
pub use session::{HttpOutcome, Refusal, Session, SessionUpdater, Updated};
pub use socket::Socket;
pub use value::{MapEntry, Value};
