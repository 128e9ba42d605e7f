//! `Socket`: one connected Socket.IO client, as handlers see it.

use std::sync::Arc;

use sessionio::SocketHandle;

use crate::error::SessionioError;
use crate::runtime::{in_runtime, run};
use crate::session::{seconds, Session};
use crate::value::{self, Value};

#[derive(uniffi::Object)]
pub struct Socket {
    handle: SocketHandle,
}

impl Socket {
    pub fn new(handle: SocketHandle) -> Arc<Self> {
        Arc::new(Socket { handle })
    }
}

#[uniffi::export]
impl Socket {
    pub fn id(&self) -> String {
        self.handle.id()
    }

    /// The namespace path, e.g. "/".
    pub fn namespace(&self) -> String {
        self.handle.namespace().to_owned()
    }

    /// The session id as the host knows it, `None` for an anonymous socket.
    pub fn session_id(&self) -> Option<String> {
        self.handle.session_host_id()
    }

    /// The user the socket's session was logged in as when the socket was admitted,
    /// `None` for one that was not (or an anonymous socket).
    pub fn user_id(&self) -> Option<String> {
        self.handle.user_id()
    }

    /// A live handle on the socket's session, `None` for an anonymous socket.
    pub fn session(&self) -> Option<Arc<Session>> {
        self.handle.session().map(Session::new)
    }

    pub fn connected(&self) -> bool {
        self.handle.connected()
    }

    /// What the client sent when it connected, in core's one shape: `headers`, `query`,
    /// `auth`, `time` (Unix ms), `address` (`ip`, `port`, or nil).
    pub fn handshake(&self) -> Value {
        value::from_json(&self.handle.handshake().to_json())
    }

    /// Emits `event` with `args` to this socket (binary values go as attachments).
    pub fn emit(&self, event: String, args: Vec<Value>) -> Result<(), SessionioError> {
        let args: Vec<_> = args.into_iter().map(value::to_msgpack).collect();
        Ok(in_runtime(|| self.handle.emit_args(&event, &args))??)
    }

    /// Joins a room; a name under core's reserved prefix (`sessionio:`) is refused.
    pub fn join(&self, room: String) -> Result<(), SessionioError> {
        Ok(in_runtime(|| self.handle.join(room))??)
    }

    pub fn leave(&self, room: String) -> Result<(), SessionioError> {
        Ok(in_runtime(|| self.handle.leave(&room))??)
    }

    /// The rooms the socket joined (the engine's own are not listed).
    pub fn rooms(&self) -> Result<Vec<String>, SessionioError> {
        in_runtime(|| self.handle.rooms())
    }

    /// Disconnects the socket from the server side (the client does not reconnect).
    pub fn disconnect(&self) -> Result<(), SessionioError> {
        in_runtime(|| self.handle.disconnect())
    }
}

#[uniffi::export]
impl Socket {
    /// Emits `event` and waits for the client's ack (at most `timeout_seconds`, default
    /// core's); the ack's arguments.
    pub async fn emit_with_ack(
        &self,
        event: String,
        args: Vec<Value>,
        timeout_seconds: Option<f64>,
    ) -> Result<Vec<Value>, SessionioError> {
        let timeout = match timeout_seconds {
            Some(s) => seconds(s, "timeout")?,
            None => sessionio::DEFAULT_ACK_TIMEOUT,
        };
        let args: Vec<_> = args.into_iter().map(value::to_msgpack).collect();
        let handle = self.handle.clone();
        run(async move {
            let reply = handle.emit_with_ack(&event, &args, timeout).await?;
            Ok(reply.iter().map(value::from_msgpack).collect())
        })
        .await
    }
}
