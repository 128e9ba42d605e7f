//! Engine errors as JavaScript errors.
//!
//! Node-API errors created from Rust carry a fixed set of `code`s (napi statuses), and
//! async functions flatten custom ones; so the engine's stable code and HTTP status travel
//! in the message as `[ERR_… 503] text`, and `lib/errors.js` turns it into the matching
//! `Error` subclass with `code` and `status` set and the prefix removed.

use sessionio::Error;

/// The JavaScript error for an engine error.
pub(crate) fn to_napi(e: Error) -> napi::Error {
    napi::Error::new(
        napi::Status::GenericFailure,
        format!("[{} {}] {e}", e.code(), e.http_status()),
    )
}

/// `ERR_INVALID_VALUE`: a value from JavaScript cannot be used.
pub(crate) fn invalid_value(message: String) -> napi::Error {
    to_napi(Error::InvalidValue(message))
}

/// `ERR_SERVER`: the server is not running (closed) or failed.
pub(crate) fn server(message: String) -> napi::Error {
    to_napi(Error::Server(message))
}

/// Maps the engine's `Result` into napi's.
pub(crate) trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, Error> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
