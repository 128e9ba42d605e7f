//! What an event handler answers the client's acknowledgement with — a [`Reply`] or a
//! [`HandlerError`] — and how that answer is sent.
//!
//! Only messages a handler chose reach a client: [`HandlerError::new`]'s message and the
//! documented [`Refusal`] messages. Any other error that a handler returns through `?`
//! (a store error, a connection detail) answers `{"error": "internal error"}`, and its
//! detail goes to the log with an error id ([`HandlerError::internal`]).

use serde::ser::SerializeTuple;
use serde::Serialize;
use socketioxide::extract::AckSender;

use crate::adapter::{Adapter, SocketRef};
use crate::delivery;
use crate::error::{log_hidden_failure, Error, Refusal};
use crate::metrics::Metrics;
use crate::Value;

/// The message a client gets for an error it must not see the detail of.
pub const INTERNAL_ERROR: &str = "internal error";

/// An error a handler or middleware answers with. The client's ack receives
/// `{"error": "<message>"}`.
///
/// Build one with [`HandlerError::new`] for a message meant for the client. `?` on any
/// other error converts it too, without exposing it: a [`Refusal`] (and the engine's
/// [`Error::SessionNotFound`] / [`Error::SessionExpired`]) answers its documented refusal
/// message; anything else answers `internal error` and is logged.
///
/// ```
/// use sessionio::HandlerError;
/// let chosen = HandlerError::new("not your turn");
/// assert_eq!(chosen.message(), "not your turn");
/// let leaked: HandlerError = sessionio::Error::StoreUnavailable("redis://secret@host".into()).into();
/// assert_eq!(leaked.message(), "internal error");
/// let expired: HandlerError = sessionio::Error::SessionExpired.into();
/// assert_eq!(expired.message(), "session expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with this message, sent to the client as it is.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
        }
    }

    /// `internal error` for the client, for a failure whose detail it must not see: the
    /// detail is logged (`tracing`, at ERROR) with a fresh `error_id`. Bindings answer
    /// with it whatever a host handler failed with besides its own `HandlerError`.
    ///
    /// ```
    /// let hidden = sessionio::HandlerError::internal("connect ECONNREFUSED 127.0.0.1:1");
    /// assert_eq!(hidden.message(), sessionio::INTERNAL_ERROR);
    /// ```
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        log_hidden_failure(&detail, INTERNAL_ERROR);
        HandlerError::new(INTERNAL_ERROR)
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        let any: &dyn std::any::Any = &e;
        if let Some(refusal) = any.downcast_ref::<Refusal>() {
            return HandlerError::new(refusal.message());
        }
        match any.downcast_ref::<Error>() {
            Some(Error::SessionNotFound) => HandlerError::new(Refusal::InvalidSession.message()),
            Some(Error::SessionExpired) => HandlerError::new(Refusal::SessionExpired.message()),
            _ => HandlerError::internal(format_args!("a socket handler failed: {e}")),
        }
    }
}

/// The arguments an ack is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply(Vec<Value>);

impl Reply {
    /// An ack with several arguments.
    pub fn args(args: Vec<Value>) -> Self {
        Reply(args)
    }

    /// The arguments.
    pub fn into_args(self) -> Vec<Value> {
        self.0
    }
}

/// What a handler may return: any `Serialize` value (one ack argument) or a [`Reply`].
pub trait IntoReply {
    /// Converts into the ack's arguments.
    fn into_reply(self) -> Result<Reply, HandlerError>;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(self)
    }
}

impl<T: Serialize> IntoReply for T {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        rmpv::ext::to_value(&self)
            .map(|v| Reply(vec![v]))
            .map_err(|e| HandlerError::internal(format_args!("a reply is not serializable: {e}")))
    }
}

/// Serializes a list as separate Socket.IO arguments (socketioxide spreads tuples).
pub(crate) struct Args<'a>(pub(crate) &'a [Value]);

impl Serialize for Args<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

/// Deserializes every argument of a packet. socketioxide hands the whole argument list
/// only to tuple-like types (anything else gets the first argument), so this asks for a
/// tuple of any length.
pub(crate) struct AllArgs(pub(crate) Vec<Value>);

impl<'de> serde::Deserialize<'de> for AllArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AllArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of arguments")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AllArgs, A::Error> {
                let mut args = Vec::new();
                while let Some(v) = seq.next_element()? {
                    args.push(v);
                }
                Ok(AllArgs(args))
            }
        }
        d.deserialize_tuple(usize::MAX, Visit)
    }
}

/// Answers the client's ack. An ack cannot wait for room in a full queue (socketioxide's
/// `AckSender` is spent by its first try): a lost one is counted and its socket is
/// disconnected once its queue has room, as [`delivery`] does for notifications.
pub(crate) fn send_ack(
    metrics: &Metrics,
    socket: &SocketRef,
    ack: AckSender<Adapter>,
    result: Result<Reply, HandlerError>,
) {
    let sent = match result {
        Ok(reply) => ack.send(&Args(&reply.0)),
        Err(e) => ack.send(&serde_json::json!({ "error": e.message })),
    };
    match sent {
        Ok(()) => {}
        Err(socketioxide::SendError::Socket(socketioxide::SocketError::InternalChannelFull)) => {
            metrics.ack_dropped();
            delivery::fell_behind(socket);
        }
        Err(e) => tracing::debug!(error = %e, "ack could not be sent"),
    }
}
