//! HTTP: the tower layer for axum (app, sessions and Socket.IO on one port), the
//! extractors handlers use, the guarded listener, and a standalone server for hosts in
//! other languages.
//!
//! - [`layer`](crate::SessionIo::layer) — Socket.IO under its path, CORS with credentials
//!   for the allowed origins, the Origin guard on websocket upgrades, and the response's
//!   `Set-Cookie` (see `layer.rs`);
//! - [`Session`](crate::Session) and [`SessionIo`](crate::SessionIo) as extractors, and
//!   [`HttpError`] (see `extract.rs`);
//! - [`bind`] / [`bind_with_stall_timeout`]: a listener whose connections get
//!   TCP_NODELAY and deadlines against slow or silent peers (see `listener.rs`);
//! - [`serve`](crate::SessionIo::serve): Socket.IO alone on a port (see `serve.rs`), and
//!   [`Standalone`], that server's lifecycle as the bindings hold it (see `standalone.rs`);
//! - [`attach`](crate::SessionIo::attach): Socket.IO through a host's own HTTP server
//!   (Node's `http.Server`, an ASGI app): adopted connections and forwarded requests (see
//!   `attach.rs`), websockets whose messages the host relays (see `bridge.rs`), and
//!   accepting on the host's own listening socket in its place (see `host_listener.rs`).

mod attach;
mod bridge;
mod extract;
mod host_listener;
mod layer;
pub mod listener;
mod serve;
mod standalone;

pub use attach::{Attached, Forwarded, FIRST_BYTES_WAIT};
pub use bridge::{Bridge, BridgeMessage};
pub use extract::{HttpError, SessionRejection};
pub use host_listener::Accepting;
pub use layer::{EngineGuard, SessionIoLayer, SessionIoService, SessionService, KEPT_HEADER_BYTES};
pub use listener::{bind, bind_with_stall_timeout, NoDelayListener, DEFAULT_STALL_TIMEOUT};
pub use serve::Server;
pub use standalone::{Standalone, CLOSE_TIMEOUT};
