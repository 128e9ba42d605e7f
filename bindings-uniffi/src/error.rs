//! The one error type every export raises: each variant is one of core's stable codes
//! (`code` carries it, as `err.code` in Node and Python), plus the refusal of an HTTP
//! request's cookie and the failures of the host's own callbacks.

use sessionio::{Error, Refusal};

/// Why a call failed. `code` is core's stable code; `message` is core's text.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SessionioError {
    /// `ERR_INVALID_CONFIG`: an option is unknown or has a bad value.
    #[error("{message}")]
    InvalidConfig { code: String, message: String },
    /// `ERR_SESSION_NOT_FOUND`.
    #[error("{message}")]
    SessionNotFound { code: String, message: String },
    /// `ERR_SESSION_EXPIRED`.
    #[error("{message}")]
    SessionExpired { code: String, message: String },
    /// `ERR_INVALID_SESSION_ID`.
    #[error("{message}")]
    InvalidSessionId { code: String, message: String },
    /// `ERR_STORE_UNAVAILABLE`.
    #[error("{message}")]
    StoreUnavailable { code: String, message: String },
    /// `ERR_CONFLICT`.
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// `ERR_INVALID_VALUE`: a value of the wrong type, or one that cannot cross.
    #[error("{message}")]
    InvalidValue { code: String, message: String },
    /// `ERR_SERVER`: binding, serving, or the engine's lifecycle.
    #[error("{message}")]
    Server { code: String, message: String },
    /// `ERR_TOO_MANY_SESSIONS`: answered 503 like a refusal.
    #[error("{message}")]
    TooManySessions {
        code: String,
        message: String,
        status: u16,
    },
    /// `ERR_SESSION_REFUSED`: an HTTP request's cookie was refused (or the request is a
    /// cross-site forgery): answer `status` with `message`, and send `set_cookie` when
    /// there is one (it clears a bad cookie).
    #[error("{message}")]
    Refused {
        code: String,
        message: String,
        status: u16,
        set_cookie: Option<String>,
    },
    /// A host callback failed: `HandlerError` raised by a handler is `answered` (its
    /// message goes to the client); anything else is not (the client is told `internal
    /// error`).
    #[error("{message}")]
    Handler { message: String, answered: bool },
}

/// The code of a refused HTTP request.
pub const REFUSED_CODE: &str = "ERR_SESSION_REFUSED";

impl From<Error> for SessionioError {
    fn from(e: Error) -> Self {
        let code = e.code().to_owned();
        let message = e.to_string();
        match e {
            Error::Config(_) => SessionioError::InvalidConfig { code, message },
            Error::SessionNotFound => SessionioError::SessionNotFound { code, message },
            Error::SessionExpired => SessionioError::SessionExpired { code, message },
            Error::InvalidSessionId => SessionioError::InvalidSessionId { code, message },
            Error::StoreUnavailable(_) => SessionioError::StoreUnavailable { code, message },
            Error::Conflict(_) => SessionioError::Conflict { code, message },
            Error::InvalidValue(_) => SessionioError::InvalidValue { code, message },
            Error::Server(_) => SessionioError::Server { code, message },
            Error::TooManySessions => SessionioError::TooManySessions {
                status: e.http_status(),
                code,
                message,
            },
        }
    }
}

impl SessionioError {
    /// A refusal and the `Set-Cookie` decided with it.
    pub fn refused(refusal: Refusal, set_cookie: Option<String>) -> Self {
        SessionioError::Refused {
            code: REFUSED_CODE.to_owned(),
            message: refusal.message().to_owned(),
            status: refusal.http_status(),
            set_cookie,
        }
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Error::InvalidValue(message.into()).into()
    }

    pub fn server(message: impl Into<String>) -> Self {
        Error::Server(message.into()).into()
    }
}

/// A host callback that raised an exception its binding did not turn into a
/// `SessionioError` (a bug in the binding's glue): reported as a failed handler, never a
/// panic.
impl From<uniffi::UnexpectedUniFFICallbackError> for SessionioError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SessionioError::Handler {
            message: e.reason,
            answered: false,
        }
    }
}

/// Raises core's `ERR_INVALID_VALUE` for `detail`: what a binding raises for a host value
/// that cannot cross (the message is core's, as for every other code).
#[uniffi::export]
pub fn raise_invalid_value(detail: String) -> Result<(), SessionioError> {
    Err(SessionioError::invalid_value(detail))
}

/// Raises an engine error of `code` through the same mapping as every call, for the tests
/// of the codes the memory store never produces (`ERR_STORE_UNAVAILABLE`, `ERR_CONFLICT`).
#[uniffi::export]
pub fn raise_engine_error(code: String, detail: String) -> Result<(), SessionioError> {
    match Error::from_code(&code, detail) {
        Some(error) => Err(error.into()),
        None => Err(SessionioError::invalid_value(format!(
            "unknown code {code:?}"
        ))),
    }
}
