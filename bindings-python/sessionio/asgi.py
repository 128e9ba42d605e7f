"""ASGI middleware (Starlette, FastAPI): every HTTP request gets its session.

    app.add_middleware(SessionMiddleware, sessionio=rt)

    @app.post("/incr")
    async def incr(session: Annotated[Session, Depends(get_session)]) -> PlainTextResponse:
        ...

The middleware first refuses a state-changing request from a site off the allow-list
(cross-site request forgery: 403 ``origin not allowed``, see the engine's ``csrf_check``),
then resolves the request's cookie with the engine: the cookie's live session (its expiry
extended), or a new session that is stored, and whose cookie the response sets, only when
the route first writes it or calls ``save()`` (a route that does not, e.g. a health
check, stores nothing and sends no cookie). It stores
``request.state.session`` (a :class:`sessionio.Session`, or ``None`` if the cookie was
refused), ``request.state.session_id`` and ``request.state.session_refusal``. A forged,
expired or destroyed cookie is never replaced by a silent new session: the response
clears it, and :func:`get_session` raises :class:`sessionio.SessionRefused`, which the
middleware answers with the refusal's status and message (e.g. 401 ``invalid session``;
:class:`sessionio.TooManySessionsError`, a ``SessionRefused`` too, 503 ``too many
sessions``).
Routes that accept a refused cookie (a logout) use :func:`get_optional_session`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import HTTPConnection

from . import SessionIo
from ._sessionio import Session
from .errors import SessionRefused

__all__ = ["SessionMiddleware", "get_optional_session", "get_session", "session_of"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _cookie_header(scope: Scope) -> str | None:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"cookie"]
    return "; ".join(values) if values else None


class SessionMiddleware:
    """Gives every HTTP request its session; see the module docs."""

    def __init__(self, app: ASGIApp, sessionio: SessionIo) -> None:
        self.app = app
        self.sessionio = sessionio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        forged = self.sessionio.check_request_site(
            scope["method"],
            _header(scope, b"origin"),
            _header(scope, b"sec-fetch-site"),
            _header(scope, b"host"),
        )
        if forged is not None:
            await _answer(send, forged)
            return
        outcome = await self.sessionio.http_request(_cookie_header(scope))
        session = outcome.session
        state = scope.setdefault("state", {})
        state["session"] = session
        state["session_id"] = session.id if session is not None else None
        state["session_refusal"] = outcome.refusal

        started = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # The engine's header value, read now: it follows regenerate()/destroy().
                cookie = outcome.set_cookie()
                if cookie is not None:
                    message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        except SessionRefused as e:
            if started:
                raise
            await _answer(send_with_cookie, e)


async def _answer(send: Send, refusal: SessionRefused) -> None:
    """Answers a refusal: its status, and its message as a text body."""
    body = refusal.message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _state(scope: Scope) -> MutableMapping[str, Any]:
    state: MutableMapping[str, Any] | None = scope.get("state")
    if state is None or "session" not in state:
        raise RuntimeError("sessionio.asgi.SessionMiddleware is not installed on this app")
    return state


def session_of(scope: Scope) -> Session:
    """The request's session; raises :class:`SessionRefused` if its cookie was refused."""
    state = _state(scope)
    session: Session | None = state["session"]
    if session is None:
        refusal: SessionRefused = state["session_refusal"]
        raise refusal
    return session


def get_session(request: HTTPConnection) -> Session:
    """FastAPI dependency: ``session: Annotated[Session, Depends(get_session)]``. A refused
    cookie answers the refusal (e.g. 401 ``invalid session``) and clears the cookie."""
    return session_of(request.scope)


def get_optional_session(request: HTTPConnection) -> Session | None:
    """FastAPI dependency for routes that accept a refused cookie (e.g. logout): the
    session, or ``None`` (the response still clears a refused cookie)."""
    session: Session | None = _state(request.scope)["session"]
    return session
