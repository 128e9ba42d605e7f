//! Errors of the host API and the refusals a client can be given.

use std::fmt;

/// Why a handshake or an HTTP request was refused.
///
/// The [`Display`](fmt::Display) text is the exact message a Socket.IO client receives in
/// its `connect_error` (`err.message`) and the body of the HTTP refusal; it is part of the
/// public contract and never contains secrets or session ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The `Origin` header names a site that is not in the allow-list.
    OriginNotAllowed,
    /// Neither a session cookie nor an `auth.token` was presented, and anonymous sockets
    /// are not allowed.
    SessionRequired,
    /// The cookie or token is malformed or forged, or names a session that does not exist
    /// (never created, destroyed, or regenerated).
    InvalidSession,
    /// The session (or the token) is past its expiry instant.
    SessionExpired,
    /// The session already has the configured maximum of sockets.
    TooManyConnections,
    /// The session store could not be reached; the server fails closed.
    StoreUnavailable,
    /// The namespace connect packet's `auth` is not a JSON object (malformed JSON, a
    /// string, an array…); Socket.IO clients always send an object or nothing.
    InvalidAuth,
    /// The client's address already holds `max_pending_handshakes_per_address` Engine.IO
    /// sessions that have not connected to a namespace yet; refused at the Engine.IO
    /// handshake, before the engine allocates anything.
    TooManyPendingHandshakes,
    /// The server already holds `max_pending_handshakes` Engine.IO sessions that have not
    /// connected to a namespace yet; refused at the Engine.IO handshake.
    ServerBusy,
}

impl Refusal {
    /// The message sent to the client.
    pub const fn message(self) -> &'static str {
        match self {
            Refusal::OriginNotAllowed => "origin not allowed",
            Refusal::SessionRequired => "session required",
            Refusal::InvalidSession => "invalid session",
            Refusal::SessionExpired => "session expired",
            Refusal::TooManyConnections => "too many connections for this session",
            Refusal::StoreUnavailable => "store unavailable",
            Refusal::InvalidAuth => "invalid auth payload",
            Refusal::TooManyPendingHandshakes => "too many pending handshakes",
            Refusal::ServerBusy => "server busy",
        }
    }

    /// The HTTP status an HTTP request refused for this reason is answered with.
    pub const fn http_status(self) -> u16 {
        match self {
            Refusal::OriginNotAllowed => 403,
            Refusal::InvalidAuth => 400,
            Refusal::TooManyConnections | Refusal::TooManyPendingHandshakes => 429,
            Refusal::StoreUnavailable | Refusal::ServerBusy => 503,
            Refusal::SessionRequired | Refusal::InvalidSession | Refusal::SessionExpired => 401,
        }
    }

    /// Whether an HTTP response refused for this reason clears the session cookie: the
    /// cookie itself is bad (forged, unknown, destroyed, expired), unlike an unreachable
    /// store, after which the same cookie may work again.
    pub const fn clears_cookie(self) -> bool {
        !matches!(
            self,
            Refusal::StoreUnavailable
                | Refusal::InvalidAuth
                | Refusal::TooManyPendingHandshakes
                | Refusal::ServerBusy
        )
    }

    /// Every refusal, for documentation and tests.
    pub const ALL: [Refusal; 9] = [
        Refusal::OriginNotAllowed,
        Refusal::SessionRequired,
        Refusal::InvalidSession,
        Refusal::SessionExpired,
        Refusal::TooManyConnections,
        Refusal::StoreUnavailable,
        Refusal::InvalidAuth,
        Refusal::TooManyPendingHandshakes,
        Refusal::ServerBusy,
    ];
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Refusal {}

/// An error of the host API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A configuration value is invalid; raised by [`Builder::build`](crate::Builder::build).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No session has this id (never created, destroyed or regenerated).
    #[error("session not found")]
    SessionNotFound,
    /// The session is past its expiry instant.
    #[error("session expired")]
    SessionExpired,
    /// The session id is not a well-formed session id.
    #[error("invalid session id")]
    InvalidSessionId,
    /// The session store could not be reached or failed.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// An optimistic update kept conflicting with concurrent writers and gave up.
    #[error("update conflict: gave up after {0} attempts")]
    Conflict(u32),
    /// A value has the wrong type for the operation (e.g. incrementing a string).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Binding or serving a socket failed.
    #[error("server error: {0}")]
    Server(String),
    /// A new session would pass [`max_sessions`](crate::Builder::max_sessions): nothing was
    /// created. HTTP answers it with 503 and this message.
    #[error("too many sessions")]
    TooManySessions,
}

impl Error {
    /// A stable, machine-readable code for bindings (`ERR_…`).
    pub const fn code(&self) -> &'static str {
        match self {
            Error::Config(_) => "ERR_INVALID_CONFIG",
            Error::SessionNotFound => "ERR_SESSION_NOT_FOUND",
            Error::SessionExpired => "ERR_SESSION_EXPIRED",
            Error::InvalidSessionId => "ERR_INVALID_SESSION_ID",
            Error::StoreUnavailable(_) => "ERR_STORE_UNAVAILABLE",
            Error::Conflict(_) => "ERR_CONFLICT",
            Error::InvalidValue(_) => "ERR_INVALID_VALUE",
            Error::Server(_) => "ERR_SERVER",
            Error::TooManySessions => "ERR_TOO_MANY_SESSIONS",
        }
    }

    /// The error of `code` (one of [`code`](Self::code)'s values) with `detail` as its
    /// text where it has one (`ERR_CONFLICT`: the attempts), `None` for an unknown code.
    /// Bindings raise every code through their one mapping with it in their tests,
    /// including those the memory store never produces.
    ///
    /// ```
    /// use sessionio::Error;
    /// let e = Error::from_code("ERR_STORE_UNAVAILABLE", "redis down".into()).unwrap();
    /// assert_eq!((e.code(), e.to_string().as_str()), ("ERR_STORE_UNAVAILABLE", "store unavailable: redis down"));
    /// assert!(Error::from_code("ERR_NOPE", String::new()).is_none());
    /// ```
    pub fn from_code(code: &str, detail: String) -> Option<Error> {
        Some(match code {
            "ERR_INVALID_CONFIG" => Error::Config(detail),
            "ERR_SESSION_NOT_FOUND" => Error::SessionNotFound,
            "ERR_SESSION_EXPIRED" => Error::SessionExpired,
            "ERR_INVALID_SESSION_ID" => Error::InvalidSessionId,
            "ERR_STORE_UNAVAILABLE" => Error::StoreUnavailable(detail),
            "ERR_CONFLICT" => Error::Conflict(detail.parse().unwrap_or(0)),
            "ERR_INVALID_VALUE" => Error::InvalidValue(detail),
            "ERR_SERVER" => Error::Server(detail),
            "ERR_TOO_MANY_SESSIONS" => Error::TooManySessions,
            _ => return None,
        })
    }

    /// The HTTP status a request that failed with this error is answered with (axum's
    /// [`HttpError`](crate::http::HttpError); Node's `err.status`): 401 session not found or
    /// expired, 503 store unavailable or too many sessions, 400 bad values, 409 conflict,
    /// 500 otherwise.
    pub const fn http_status(&self) -> u16 {
        match self {
            Error::SessionNotFound | Error::SessionExpired => 401,
            Error::StoreUnavailable(_) | Error::TooManySessions => 503,
            Error::InvalidValue(_) | Error::InvalidSessionId => 400,
            Error::Conflict(_) => 409,
            Error::Config(_) | Error::Server(_) => 500,
        }
    }
}

/// Logs the detail of a failure whose client is not told it (`told` is what the client
/// got instead: `internal error`, or a refusal such as `store unavailable`), at ERROR
/// with a fresh `error_id`, and returns that id. The id is in the log only: it tells this
/// failure's line from every other, e.g. to find it among a binding's own log lines.
pub(crate) fn log_hidden_failure(detail: &dyn fmt::Display, told: &str) -> String {
    // 32 random bits (from the same generator as session ids) are enough to tell failures
    // apart in a log, and stay unique across processes and restarts, unlike a counter.
    let error_id = format!("{:08x}", crate::SessionId::default().0 as u32);
    tracing::error!(%error_id, error = %detail, "failure hidden from the client, which was told `{told}`");
    error_id
}

/// The result type of the host API.
pub type Result<T, E = Error> = std::result::Result<T, E>;
