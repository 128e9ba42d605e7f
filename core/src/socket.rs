//! One connected socket: its handle ([`SocketHandle`]), what it presented when it
//! connected ([`Handshake`]), and the state kept for it in its extensions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::ack::{AllArgs, Args};
use crate::adapter::SocketRef;
use crate::engine::Core;
use crate::error::{Error, Result};
use crate::presence::Membership;
use crate::session::Session;
use crate::{SessionId, Value};

/// How long [`SocketHandle::emit_with_ack`] waits for the client when the host names no
/// timeout: every binding uses this one default.
pub const DEFAULT_ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Per-socket state kept in the socket's extensions from its admission on.
pub(crate) struct SocketState {
    /// Its place in its session's count; `None` for an anonymous socket.
    pub(crate) membership: Option<Membership>,
    pub(crate) auth: serde_json::Value,
    pub(crate) time: SystemTime,
}

impl SocketState {
    fn session_id(&self) -> Option<SessionId> {
        self.membership.as_ref().map(|m| m.id)
    }
}

/// What the client sent when it connected (the tutorial's `socket.handshake`).
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Headers of the first HTTP request of the connection, as kept for the socket's life:
    /// up to [`KEPT_HEADER_BYTES`](crate::http::KEPT_HEADER_BYTES) in all; past that, a
    /// `Cookie` header is reduced to the session cookie and other headers are dropped.
    pub headers: http::HeaderMap,
    /// Query parameters of that request, in order (a repeated key appears once per value).
    pub query: Vec<(String, String)>,
    /// The `auth` object of the namespace connect packet.
    pub auth: serde_json::Value,
    /// When the socket connected.
    pub time: SystemTime,
    /// The client's address, when the server provides it (`serve()`, or axum with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub address: Option<SocketAddr>,
}

/// One connected socket.
#[derive(Clone)]
pub struct SocketHandle {
    pub(crate) socket: SocketRef,
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for SocketHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketHandle")
            .field("id", &self.socket.id)
            .finish()
    }
}

impl SocketHandle {
    fn state(&self) -> Option<Arc<SocketState>> {
        self.socket.extensions.get::<Arc<SocketState>>()
    }

    /// The socket id.
    pub fn id(&self) -> String {
        self.socket.id.to_string()
    }

    /// The namespace path.
    pub fn namespace(&self) -> &str {
        self.socket.ns()
    }

    /// The session id, `None` for an anonymous socket.
    pub fn session_id(&self) -> Option<SessionId> {
        self.state()?.session_id()
    }

    /// A live handle on the socket's session, `None` for an anonymous socket.
    pub fn session(&self) -> Option<Session> {
        let extends = self.core.config.extend_on_socket_activity;
        self.session_id()
            .map(|id| Session::new(id, self.core.clone(), extends, None))
    }

    /// The handshake details.
    pub fn handshake(&self) -> Handshake {
        let parts = self.socket.req_parts();
        let query = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let state = self.state();
        Handshake {
            headers: parts.headers.clone(),
            query,
            auth: state.as_ref().map(|s| s.auth.clone()).unwrap_or_default(),
            time: state.map_or(SystemTime::UNIX_EPOCH, |s| s.time),
            address: parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        }
    }

    /// Emits `event` with one argument to this socket.
    pub fn emit(&self, event: &str, data: &(impl Serialize + ?Sized)) -> Result<()> {
        self.socket
            .emit(event, data)
            .map_err(|e| Error::Server(e.to_string()))
    }

    /// Emits `event` with several arguments to this socket.
    pub fn emit_args(&self, event: &str, args: &[Value]) -> Result<()> {
        self.emit(event, &Args(args))
    }

    /// Emits `event` with several arguments and waits (at most `timeout`) for the
    /// client's acknowledgement; returns its arguments.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: &[Value],
        timeout: std::time::Duration,
    ) -> Result<Vec<Value>> {
        let ack = self
            .socket
            .timeout(timeout)
            .emit_with_ack::<_, AllArgs>(event, &Args(args))
            .map_err(|e| Error::Server(e.to_string()))?;
        ack.await
            .map(|a| a.0)
            .map_err(|e| Error::Server(e.to_string()))
    }

    /// Joins a room.
    pub fn join(&self, room: impl Into<String>) {
        self.socket.join(room.into());
    }

    /// Leaves a room. The session's own room cannot be left.
    pub fn leave(&self, room: &str) {
        if self.session_id().is_some_and(|id| id.to_string() == room) {
            return;
        }
        self.socket.leave(room.to_owned());
    }

    /// The rooms the socket is in.
    pub fn rooms(&self) -> Vec<String> {
        self.socket
            .rooms()
            .into_iter()
            .map(|r| r.to_string())
            .collect()
    }

    /// The socket's session id as the host knows it
    /// ([`SessionIo::host_id`](crate::SessionIo::host_id)), `None` for an anonymous socket.
    pub fn session_host_id(&self) -> Option<String> {
        self.session_id().map(|id| self.core.host_id(id))
    }

    /// Disconnects the socket from the server side (the client does not reconnect).
    pub fn disconnect(&self) {
        let _ = self.socket.clone().disconnect();
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.socket.connected()
    }
}
