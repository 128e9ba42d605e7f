"""ASGI middlewares (Starlette, FastAPI): Socket.IO on the app's own port, and every HTTP
request gets its session.

    app.add_middleware(SessionMiddleware, sessionio=rt)
    app.add_middleware(SocketIOMiddleware, sessionio=rt)   # Socket.IO on this app's port

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
The request's ``User-Agent`` and client address (the scope's ``client``) go to the engine
with the cookie: ``session.login(user)`` records them for the user's list of sessions.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import HTTPConnection

from . import SessionIo
from ._sessionio import Session
from .errors import SessionIoError, SessionRefused

__all__ = ["SessionMiddleware", "SocketIOMiddleware", "get_optional_session", "get_session", "session_of"]

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
        # Who made the request, for a login's entry in the user's list of sessions.
        client = scope.get("client")
        outcome = await self.sessionio.http_request(
            _cookie_header(scope),
            user_agent=_header(scope, b"user-agent"),
            address=client[0] if client else None,
        )
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


_request_ids = itertools.count(1)


def _target(scope: Scope) -> str:
    """The request target as the client sent it: raw path, then the query."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return (raw + b"?" + query if query else raw).decode("latin-1")


class SocketIOMiddleware:
    """Serves Socket.IO on the ASGI app's own port, under the engine path (``/socket.io/``
    by default); every other request goes to the app.

        app.add_middleware(SocketIOMiddleware, sessionio=rt)

    Polling requests are forwarded to the engine (a long-poll is awaited, and given up
    when the client goes away); a websocket is accepted when the engine accepts it, and
    its messages are relayed between the ASGI server's connection and the engine (the
    engine's refusal, e.g. 403 ``origin not allowed``, is answered instead, with the
    ``websocket.http.response`` extension where the server has it). The page's own
    origin needs no ``allowed_origins`` entry. The engine needs no ``start()`` for this;
    ``await rt.close()`` at shutdown disconnects its sockets. The ASGI server needs a
    websocket implementation (uvicorn: ``websockets``).
    """

    def __init__(self, app: ASGIApp, sessionio: SessionIo) -> None:
        self.app = app
        self.sessionio = sessionio
        self._attached = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            if not self._attached:
                await self.sessionio._attach_here()
                self._attached = True
            target = _target(scope)
            if self.sessionio._serves(target):
                if kind == "http":
                    await self._forward(scope, receive, send, target)
                else:
                    await self._websocket(scope, receive, send, target)
                return
        await self.app(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, target: str) -> None:
        limit = self.sessionio._max_body_bytes
        body = bytearray()
        whole = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                # The engine answers an oversized body; the rest is never read.
                whole = False
                break
            if not message.get("more_body", False):
                break
        request_id = next(_request_ids)
        gone = False

        async def give_up_when_gone() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            self.sessionio._cancel_forward(request_id)

        watcher = asyncio.ensure_future(give_up_when_gone()) if whole else None
        try:
            status, headers, response_body = await self.sessionio._forward(
                request_id, scope["method"], target, list(scope.get("headers", ())), bytes(body), scope.get("client")
            )
        finally:
            if watcher is not None:
                watcher.cancel()
        if gone:
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": response_body})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, target: str) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        opened = await self.sessionio._bridge(target, list(scope.get("headers", ())), scope.get("client"))
        if isinstance(opened, tuple):
            status, headers, body = opened
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
            else:
                # Closing before accepting: the server answers 403.
                await send({"type": "websocket.close", "code": 1008})
            return
        bridge = opened
        await send({"type": "websocket.accept"})

        async def client_to_engine() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    await bridge.send(text if text is not None else message.get("bytes") or b"")

        async def engine_to_client() -> None:
            while True:
                data = await bridge.recv()
                if data is None:
                    await send({"type": "websocket.close", "code": 1000})
                    return
                if isinstance(data, str):
                    await send({"type": "websocket.send", "text": data})
                else:
                    await send({"type": "websocket.send", "bytes": data})

        tasks = [asyncio.ensure_future(client_to_engine()), asyncio.ensure_future(engine_to_client())]
        try:
            # Whichever side ends first ends the relay.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await bridge.close()
            except SessionIoError:
                pass


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
