//! `Socket`: one connected Socket.IO client, as handlers and connection callbacks see it.

use std::time::Duration;

use napi::bindgen_prelude::within_runtime_if_available;
use napi_derive::napi;
use sessionio::{SocketHandle, Value};

use crate::errors::{invalid_value, IntoNapi};
use crate::session::JsSession;
use crate::values::{from_json, JsArgsOut, JsValueIn, JsValueOut};

#[napi(js_name = "NativeSocket")]
pub struct JsSocket {
    inner: SocketHandle,
}

impl From<SocketHandle> for JsSocket {
    fn from(inner: SocketHandle) -> Self {
        JsSocket { inner }
    }
}

// Methods that are not `async` run on Node's thread: those that may spawn tasks enter
// the binding's tokio runtime first.

/// Event arguments arrive from the JS layer as one array.
fn args(list: JsValueIn) -> napi::Result<Vec<Value>> {
    match list.0 {
        Value::Array(items) => Ok(items),
        _ => Err(invalid_value("event arguments must be an array".into())),
    }
}

#[napi]
impl JsSocket {
    /// The socket id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id()
    }

    /// The namespace path.
    #[napi(getter)]
    pub fn namespace(&self) -> String {
        self.inner.namespace().to_owned()
    }

    /// The session id, `null` for an anonymous socket.
    #[napi(getter)]
    pub fn session_id(&self) -> Option<String> {
        self.inner.session_host_id()
    }

    /// The user the socket's session was logged in as when the socket was admitted,
    /// `null` for none.
    #[napi(getter)]
    pub fn user_id(&self) -> Option<String> {
        self.inner.user_id()
    }

    /// A live handle on the socket's session, `null` for an anonymous socket.
    #[napi(getter)]
    pub fn session(&self) -> Option<JsSession> {
        self.inner.session().map(JsSession::from)
    }

    /// Whether the socket is still connected.
    #[napi(getter)]
    pub fn connected(&self) -> bool {
        self.inner.connected()
    }

    /// The rooms the socket joined (the engine's own rooms are not listed).
    #[napi(getter)]
    pub fn rooms(&self) -> Vec<String> {
        self.inner.rooms()
    }

    /// What the client sent when it connected, in core's one shape
    /// (`Handshake::to_json`): `{ headers, query, auth, time, address }`.
    #[napi(
        ts_return_type = "{ headers: Record<string, string>; query: Record<string, string | string[]>; auth: unknown; time: number; address: { ip: string; port: number } | null }"
    )]
    pub fn handshake(&self) -> JsValueOut {
        JsValueOut(Some(from_json(self.inner.handshake().to_json())))
    }

    /// Emits `event` with these arguments to this socket.
    #[napi]
    pub fn emit(&self, event: String, list: JsValueIn) -> napi::Result<()> {
        let list = args(list)?;
        within_runtime_if_available(|| self.inner.emit_args(&event, &list)).napi()
    }

    /// Emits and waits (at most `timeoutMs`, by default core's `DEFAULT_ACK_TIMEOUT`) for
    /// the client's ack; answers its arguments.
    #[napi]
    pub async fn emit_with_ack(
        &self,
        event: String,
        list: JsValueIn,
        timeout_ms: Option<u32>,
    ) -> napi::Result<JsArgsOut> {
        let list = args(list)?;
        let timeout = timeout_ms.map_or(sessionio::DEFAULT_ACK_TIMEOUT, |ms| {
            Duration::from_millis(u64::from(ms))
        });
        let reply = self
            .inner
            .emit_with_ack(&event, &list, timeout)
            .await
            .napi()?;
        Ok(JsArgsOut(reply))
    }

    /// Joins a room; a name under core's reserved prefix (`sessionio:`) is refused.
    #[napi]
    pub fn join(&self, room: String) -> napi::Result<()> {
        within_runtime_if_available(|| self.inner.join(room)).napi()
    }

    /// Leaves a room; a name under core's reserved prefix (`sessionio:`) is refused.
    #[napi]
    pub fn leave(&self, room: String) -> napi::Result<()> {
        within_runtime_if_available(|| self.inner.leave(&room)).napi()
    }

    /// Disconnects the socket from the server side (the client does not reconnect).
    #[napi]
    pub fn disconnect(&self) {
        // socketioxide spawns the disconnect handlers: enter the binding's runtime.
        within_runtime_if_available(|| self.inner.disconnect());
    }
}
