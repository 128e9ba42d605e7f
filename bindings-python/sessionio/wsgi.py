"""WSGI middleware (Flask and any WSGI app): every request gets its session.

    sessionio.wsgi.init_flask(app, rt)      # Flask: middleware + refusal handler

    @app.post("/incr")
    def incr() -> str:
        session = current_session()
        ...

The middleware refuses cross-site state-changing requests and resolves the request's
cookie with the engine (see :mod:`sessionio.asgi` for the rules) and stores the :class:`sessionio.Session` in the environ under
``sessionio.session`` (``None`` if the cookie was refused), its id under
``sessionio.session_id`` and the refusal under ``sessionio.refusal``; the response gets
the ``Set-Cookie`` the engine decides when it starts (a new session's only once the view
wrote it or called ``save_sync()``: a view that does not sends no cookie). :func:`current_session` reaches the session from a
Flask view (it raises :class:`sessionio.SessionRefused`, answered with the refusal's
status and message). The request's ``User-Agent`` and ``REMOTE_ADDR`` go to the engine with
the cookie: ``session.login_sync(user)`` records them for the user's list of sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import SessionIo
from ._sessionio import Session
from .errors import SessionRefused

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

__all__ = [
    "ENVIRON_REFUSAL",
    "ENVIRON_SESSION",
    "ENVIRON_SESSION_ID",
    "SessionMiddleware",
    "current_session",
    "init_flask",
    "optional_session",
    "session_of",
]

ENVIRON_SESSION = "sessionio.session"
ENVIRON_SESSION_ID = "sessionio.session_id"
ENVIRON_REFUSAL = "sessionio.refusal"

_REASONS = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}


class SessionMiddleware:
    """Gives every request its session; see the module docs."""

    def __init__(self, app: WSGIApplication, sessionio: SessionIo) -> None:
        self.app = app
        self.sessionio = sessionio

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        forged = self.sessionio.check_request_site(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("HTTP_ORIGIN"),
            environ.get("HTTP_SEC_FETCH_SITE"),
            environ.get("HTTP_HOST"),
        )
        if forged is not None:
            return _answer(start_response, forged)
        # Who made the request, for a login's entry in the user's list of sessions.
        outcome = self.sessionio.http_request_sync(
            environ.get("HTTP_COOKIE"),
            user_agent=environ.get("HTTP_USER_AGENT"),
            address=environ.get("REMOTE_ADDR"),
        )
        session = outcome.session
        environ[ENVIRON_SESSION] = session
        environ[ENVIRON_SESSION_ID] = session.id if session is not None else None
        environ[ENVIRON_REFUSAL] = outcome.refusal
        started = False

        def start_with_cookie(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal started
            started = True
            # The engine's header value, read now: it follows regenerate()/destroy().
            cookie = outcome.set_cookie()
            if cookie is not None:
                headers = [*headers, ("Set-Cookie", cookie)]
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start_with_cookie)
        except SessionRefused as e:
            if started:
                raise
            return _answer(start_with_cookie, e)


def _answer(start_response: Callable[..., Any], refusal: SessionRefused) -> list[bytes]:
    """Answers a refusal: its status, and its message as a text body."""
    body = refusal.message.encode()
    start_response(
        f"{refusal.status} {_REASONS.get(refusal.status, 'Error')}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _environ_value(environ: WSGIEnvironment | dict[str, Any], key: str) -> Any:
    if ENVIRON_SESSION not in environ:
        raise RuntimeError("sessionio.wsgi.SessionMiddleware is not installed on this app")
    return environ[key]


def session_of(environ: WSGIEnvironment | dict[str, Any]) -> Session:
    """The request's session; raises :class:`SessionRefused` if its cookie was refused."""
    session: Session | None = _environ_value(environ, ENVIRON_SESSION)
    if session is None:
        refusal: SessionRefused = environ[ENVIRON_REFUSAL]
        raise refusal
    return session


def optional_session(environ: WSGIEnvironment | dict[str, Any]) -> Session | None:
    """The request's session, or ``None`` if its cookie was refused (e.g. for a logout)."""
    session: Session | None = _environ_value(environ, ENVIRON_SESSION)
    return session


def current_session() -> Session:
    """In a Flask view: the request's session (also kept on ``flask.g.session``)."""
    from flask import g, request

    session = session_of(request.environ)
    g.session = session
    return session


def init_flask(app: Flask, sessionio: SessionIo) -> None:
    """Installs :class:`SessionMiddleware` on a Flask app and answers
    :class:`SessionRefused` with its status and message as text."""
    from flask import Response

    app.wsgi_app = SessionMiddleware(app.wsgi_app, sessionio)  # type: ignore[method-assign]

    def refused(e: SessionRefused) -> Response:
        return Response(e.message, status=e.status, mimetype="text/plain")

    app.register_error_handler(SessionRefused, refused)
