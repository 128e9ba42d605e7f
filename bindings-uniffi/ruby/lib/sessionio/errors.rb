# frozen_string_literal: true

module Sessionio
  # Every error the engine raises includes this module (`rescue Sessionio::Error`). Each
  # has `code`, core's stable code (`ERR_SESSION_NOT_FOUND`, …), and `message`, core's text.
  module Error; end

  # The errors an HTTP middleware answers with their `status` and `message`: a refused
  # cookie (SessionRefused) and a session store that is full (TooManySessionsError).
  module Refusal; end

  # The generated classes print as their message (their own to_s lists every field).
  module PlainMessage
    def to_s
      message
    end
  end
  private_constant :PlainMessage

  native = SessionioNative::SessionioError
  InvalidConfigError = native::InvalidConfig
  SessionNotFoundError = native::SessionNotFound
  SessionExpiredError = native::SessionExpired
  InvalidSessionIdError = native::InvalidSessionId
  StoreUnavailableError = native::StoreUnavailable
  ConflictError = native::Conflict
  InvalidValueError = native::InvalidValue
  ServerError = native::Server
  TooManySessionsError = native::TooManySessions
  # An HTTP request's cookie was refused (`invalid session`, `session expired`, `store
  # unavailable`) or the request is a cross-site forgery (`origin not allowed`): answer
  # `status` with `message`, sending `set_cookie` when it is not nil.
  SessionRefused = native::Refused

  [InvalidConfigError, SessionNotFoundError, SessionExpiredError, InvalidSessionIdError,
   StoreUnavailableError, ConflictError, InvalidValueError, ServerError,
   TooManySessionsError, SessionRefused, native::Handler].each do |error|
    error.include(Error)
    error.prepend(PlainMessage)
  end
  SessionRefused.include(Refusal)
  TooManySessionsError.include(Refusal)

  # Raised by a socket handler or middleware: its message reaches the client, as the ack's
  # `{"error" => message}`. Any other exception is logged and the client is told
  # `internal error`.
  class HandlerError < StandardError; end
end
