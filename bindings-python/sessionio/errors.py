"""Exceptions raised by sessionio.

Every engine error is a :class:`SessionIoError` whose ``code`` is the core's stable code
(``ERR_INVALID_CONFIG``, ``ERR_SESSION_NOT_FOUND``, ...), one subclass per code, so both
``except SessionExpiredError`` and ``if err.code == "ERR_SESSION_EXPIRED"`` work. The
message is the engine's own (e.g. ``invalid configuration: secret #1 is 5 bytes; at least
32 are required``).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ERROR_CLASSES",
    "ConflictError",
    "HandlerError",
    "InvalidConfigError",
    "InvalidSessionIdError",
    "InvalidValueError",
    "ServerError",
    "SessionExpiredError",
    "SessionIoError",
    "SessionNotFoundError",
    "SessionRefused",
    "StoreUnavailableError",
    "TooManySessionsError",
]


class SessionIoError(Exception):
    """Base class of the engine's errors; ``code`` is the core's ``ERR_...`` code."""

    code: ClassVar[str]


class InvalidConfigError(SessionIoError, ValueError):
    """A configuration value is invalid (raised by ``SessionIo(...)``)."""

    code = "ERR_INVALID_CONFIG"


class SessionNotFoundError(SessionIoError):
    """No session has this id (never created, destroyed or regenerated)."""

    code = "ERR_SESSION_NOT_FOUND"


class SessionExpiredError(SessionIoError):
    """The session is past its expiry instant."""

    code = "ERR_SESSION_EXPIRED"


class InvalidSessionIdError(SessionIoError, ValueError):
    """The text is not a well-formed session id."""

    code = "ERR_INVALID_SESSION_ID"


class StoreUnavailableError(SessionIoError):
    """The session store could not be reached or failed."""

    code = "ERR_STORE_UNAVAILABLE"


class ConflictError(SessionIoError):
    """An update kept conflicting with concurrent writers and gave up."""

    code = "ERR_CONFLICT"


class InvalidValueError(SessionIoError, ValueError):
    """A value has the wrong type for the operation, or cannot cross the boundary."""

    code = "ERR_INVALID_VALUE"


class ServerError(SessionIoError):
    """Serving failed (e.g. the port is taken), or the server is not in a state for the call."""

    code = "ERR_SERVER"




class SessionRefused(Exception):
    """An HTTP request's session cookie was refused.

    ``message`` is the engine's refusal text (``invalid session``, ``session expired``,
    ``store unavailable``), ``status`` the HTTP status to answer (401, 503), and
    ``clear_cookie`` the ``Set-Cookie`` value that removes the bad cookie (``None`` when
    the cookie itself may still be good, e.g. the store was unreachable). The ASGI and
    WSGI middlewares answer it as ``status`` with ``message`` as a text body.
    """

    def __init__(self, message: str, status: int, clear_cookie: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.clear_cookie = clear_cookie


class TooManySessionsError(SessionIoError, SessionRefused):
    """A new session would pass ``max_sessions``: nothing was stored (raised by a request's
    first write or ``save()``, and by ``create_session()``). Also a :class:`SessionRefused`
    (``status`` 503, ``message`` ``too many sessions``, no cookie to clear), so the ASGI and
    WSGI middlewares answer it like a refused cookie."""

    code = "ERR_TOO_MANY_SESSIONS"


class HandlerError(Exception):
    """Raise it in a socket handler or middleware to answer the client's ack with
    ``{"error": message}`` (an empty message answers the class name), logged at debug level
    only.

    It is the only way a handler's text reaches a client: any other exception (a store
    error, a bug, ...) answers ``{"error": "internal error"}`` and is logged with its
    traceback by the ``sessionio`` logger, so that internals never leak to clients.
    """


ERROR_CLASSES: dict[str, type[SessionIoError]] = {
    cls.code: cls
    for cls in (
        InvalidConfigError,
        SessionNotFoundError,
        SessionExpiredError,
        InvalidSessionIdError,
        StoreUnavailableError,
        ConflictError,
        InvalidValueError,
        ServerError,
        TooManySessionsError,
    )
}
"""Each code and its class."""
