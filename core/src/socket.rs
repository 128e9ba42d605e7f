//! One connected socket: its handle ([`SocketHandle`]) and what it presented when it
//! connected ([`Handshake`]); the state kept in its extensions is in `socket_state`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::ack::{AllArgs, Args};
use crate::adapter::SocketRef;
use crate::engine::Core;
use crate::error::{Error, Result};
use crate::session::Session;
pub(crate) use crate::socket_state::{session_id_of, token_expires_at_of, SocketState};
use crate::{rooms, SessionId, Value};

/// How long [`SocketHandle::emit_with_ack`] waits for the client when the host names no
/// timeout: every binding uses this one default.
pub const DEFAULT_ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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

impl Handshake {
    /// The handshake in the one shape every binding gives its host (JSON):
    /// `{"headers": {name: value}, "query": {key: value or [values]}, "auth": {…},
    /// "time": unix ms, "address": {"ip", "port"} or null}`. Repeated headers are joined
    /// (`; ` for `cookie`, `, ` otherwise); a repeated query key gives an array of its
    /// values in order.
    ///
    /// ```
    /// let h = sessionio::Handshake {
    ///     headers: http::HeaderMap::new(),
    ///     query: vec![("tag".into(), "a".into()), ("tag".into(), "b".into()), ("EIO".into(), "4".into())],
    ///     auth: serde_json::json!({"token": "t"}),
    ///     time: std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500),
    ///     address: Some("127.0.0.1:4000".parse().unwrap()),
    /// };
    /// assert_eq!(h.to_json(), serde_json::json!({
    ///     "headers": {}, "query": {"tag": ["a", "b"], "EIO": "4"}, "auth": {"token": "t"},
    ///     "time": 1500, "address": {"ip": "127.0.0.1", "port": 4000}
    /// }));
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value as Json};
        let mut headers = Map::new();
        for name in self.headers.keys() {
            let separator = if name == http::header::COOKIE {
                "; "
            } else {
                ", "
            };
            let joined = (self.headers.get_all(name).iter())
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(separator);
            headers.insert(name.as_str().to_owned(), Json::String(joined));
        }
        let mut query = Map::new();
        for (k, v) in &self.query {
            match query.get_mut(k) {
                Some(Json::Array(values)) => values.push(Json::String(v.clone())),
                Some(first) => *first = Json::Array(vec![first.take(), Json::String(v.clone())]),
                None => {
                    query.insert(k.clone(), Json::String(v.clone()));
                }
            }
        }
        let time = self
            .time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64);
        let address = self.address.map_or(
            Json::Null,
            |a| serde_json::json!({"ip": a.ip().to_string(), "port": a.port()}),
        );
        serde_json::json!({
            "headers": headers,
            "query": query,
            "auth": self.auth,
            "time": time,
            "address": address,
        })
    }
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
        session_id_of(&self.socket)
    }

    /// The user the socket's session is logged in as (see
    /// [`Session::login`](crate::Session::login)), `None` for one that is not or an
    /// anonymous socket. Logging in or out disconnects the session's sockets, so this
    /// does not change during a socket's life.
    pub fn user_id(&self) -> Option<String> {
        crate::socket_state::user_id_of(&self.socket).map(|u| u.to_string())
    }

    /// A live handle on the socket's session, `None` for an anonymous socket. For a
    /// socket admitted by a token, writes through it extend the session only when the
    /// extension ends by the token's expiry.
    pub fn session(&self) -> Option<Session> {
        let extends = self.core.config.extend_on_socket_activity;
        let token_expires_at = token_expires_at_of(&self.socket);
        self.session_id().map(|id| {
            Session::new(id, self.core.clone(), extends, None).extending_until(token_expires_at)
        })
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

    /// Joins a room. Names starting with [`RESERVED_ROOM_PREFIX`](crate::RESERVED_ROOM_PREFIX)
    /// are the engine's own (each session's room) and are refused with
    /// [`Error::InvalidValue`]: a socket is in a session's room only when it was admitted
    /// to that session. Any other name is an ordinary room, a session id included.
    pub fn join(&self, room: impl Into<String>) -> Result<()> {
        let room = room.into();
        rooms::host_room(&room)?;
        self.socket.join(room);
        Ok(())
    }

    /// Leaves a room; the engine's own rooms are refused as by [`join`](Self::join) (a
    /// socket stays in its session's room for its whole life).
    pub fn leave(&self, room: &str) -> Result<()> {
        self.socket.leave(rooms::host_room(room)?.to_owned());
        Ok(())
    }

    /// The rooms the socket joined; the engine's own rooms are not listed.
    pub fn rooms(&self) -> Vec<String> {
        self.socket
            .rooms()
            .into_iter()
            .filter(|r| !rooms::is_reserved(r))
            .map(|r| r.to_string())
            .collect()
    }

    /// The socket's session id as the host knows it
    /// ([`host::host_id`](crate::host::host_id)), `None` for an anonymous socket.
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
