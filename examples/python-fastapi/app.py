"""The seed guide's counter app on FastAPI (served by uvicorn) and sessionio.

FastAPI serves the page and the HTTP routes on PORT, and sessionio serves Socket.IO on the
same port (``SocketIOMiddleware``) — or, with SOCKET_PORT set, on a port of its own. Both
share the sessions: the ASGI middleware gives every request its session from the cookie,
and socket handlers get the same session live.

Run: ``python examples/python-fastapi/app.py``. Environment: ``PORT`` (default 3000, 0 = any
free port), ``SOCKET_PORT`` (unset by default: one port), ``SESSION_TTL_MS (inactivity timeout, default
30 min), ``SESSION_SECRET`` (default: random at every start), ``ALLOWED_ORIGINS``
(comma-separated, besides the page's own origin), ``MAX_CONNECTIONS_PER_SESSION``
(default 32), ``TOKEN_TTL_MS`` (lifetime of the tokens ``GET /token`` issues, default 60 000),
``MAX_SESSIONS`` (sessions the store may hold, default 1 000 000; past it a new session is
answered 503 ``too many sessions``), ``SESSION_STORE_URL`` (``memory://`` by default, or ``sqlite://<file>`` to keep
sessions across restarts), ``REDIS_URL`` (several processes on one Redis: sessions in it,
and notifications and logouts reach the sockets of every process; same as
``SESSION_STORE_URL=redis://...``; give every process the same ``SESSION_SECRET``),
``SOCKET_IO_CLIENT_JS`` (path of ``socket.io.min.js``). It prints
``listening http=<url> socket=<url>`` once both servers listen, and stops cleanly on
SIGTERM or Ctrl-C.

Users across sessions: ``POST /login`` (form field ``user``) logs the session in (a new id
and cookie), ``POST /notify-user`` (text body) reaches every socket of every session of the
user, ``GET /sessions`` lists them under opaque handles, ``DELETE /sessions/<handle>`` signs
one out, ``POST /logout-everywhere`` signs them all out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from sessionio import HandlerError, InvalidValueError, Session, SessionIo, Socket
from sessionio.asgi import SessionMiddleware, SocketIOMiddleware, get_optional_session, get_session

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PAGE = (HERE / "static" / "index.html").read_text()
CLIENT_JS_CANDIDATES = [
    REPO / "examples/rust-counter/node_modules/socket.io-client/dist/socket.io.min.js",
    REPO / "tests/node_modules/socket.io-client/dist/socket.io.min.js",
]

SessionDep = Annotated[Session, Depends(get_session)]
OptionalSessionDep = Annotated[Session | None, Depends(get_optional_session)]


def not_logged_in() -> Response:
    """What the user routes answer a session that is not logged in."""
    return PlainTextResponse("not logged in", status_code=401)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        sys.exit(f"{name}={value!r} is not an integer")


def client_js() -> Path | None:
    configured = os.environ.get("SOCKET_IO_CLIENT_JS")
    candidates = [Path(configured)] if configured else CLIENT_JS_CANDIDATES
    return next((p for p in candidates if p.is_file()), None)


def store_url() -> str | None:
    """SESSION_STORE_URL, else REDIS_URL, else None (the memory store)."""
    return os.environ.get("SESSION_STORE_URL") or os.environ.get("REDIS_URL") or None


def socket_port() -> int | None:
    """SOCKET_PORT: Socket.IO on a port of its own; unset, on the app's port."""
    value = os.environ.get("SOCKET_PORT")
    return int(value) if value else None


def create_sessionio(http_port: int) -> SessionIo:
    origins = [o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()]
    if socket_port() is not None:
        # The page comes from the app's port, another origin: it may open sockets, with cookies.
        origins += [f"http://127.0.0.1:{http_port}", f"http://localhost:{http_port}"]
    rt = SessionIo(
        # Random per start is fine for a demo whose memory store forgets sessions at exit;
        # processes that share a store need the same SESSION_SECRET.
        secret=os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
        # With Redis, start() also waits until this engine is linked to the others.
        store=store_url(),
        port=socket_port(),
        ttl=env_int("SESSION_TTL_MS", 30 * 60 * 1000) / 1000,
        allowed_origins=origins,
        max_connections_per_session=env_int("MAX_CONNECTIONS_PER_SESSION", 32),
        max_sessions=env_int("MAX_SESSIONS", 1_000_000),
        # The demo runs on http://localhost; a real deployment keeps Secure cookies.
        cookie_secure=False,
    )

    # Socket event "incr": atomic increment, ack with the new count, tell every tab.
    @rt.on("incr")
    async def incr(socket: Socket) -> int:
        session = socket.session
        if session is None:
            raise HandlerError("session required")
        n = await session.increment("count")
        await session.notify("current count", n)
        return n

    return rt


def create_app(rt: SessionIo) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    token_ttl = env_int("TOKEN_TTL_MS", 60_000) / 1000
    app.add_middleware(SessionMiddleware, sessionio=rt)
    if socket_port() is None:
        # One port: requests and websockets under /socket.io/ go to the engine.
        app.add_middleware(SocketIOMiddleware, sessionio=rt)

    # Sessions are created lazily (by their first write, or save). The page opens a
    # socket, whose handshake needs the cookie, so GET / saves the session.
    @app.get("/")
    async def index(session: SessionDep) -> HTMLResponse:
        await session.save()
        count = await session.get("count", 0)
        socket_url = rt.url if socket_port() is not None else ""
        return HTMLResponse(PAGE.replace("{{COUNT}}", str(count)).replace("{{SOCKET_URL}}", socket_url))

    @app.post("/incr")
    async def incr(session: SessionDep) -> PlainTextResponse:
        n = await session.increment("count")
        await session.notify("current count", n)
        return PlainTextResponse(str(n))

    # Logging out always answers 204 and clears the cookie, even for a session that is
    # already gone; a live session is destroyed and its sockets disconnected.
    @app.post("/logout")
    async def logout(session: OptionalSessionDep) -> Response:
        if session is not None:
            await session.destroy()
        return Response(status_code=204)

    # Logs the session in as the form's `user` (a real app checks a password first) and
    # gives it a new id, against fixation: the response carries the new cookie.
    @app.post("/login")
    async def login(request: Request, session: SessionDep) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        if "user" not in form:
            return PlainTextResponse("the form field `user` is missing", status_code=400)
        try:
            await session.login(form["user"][0])
        except InvalidValueError as e:
            return PlainTextResponse(str(e), status_code=400)
        return Response(status_code=204)

    # The routes below need a login: 401 without one.
    @app.post("/notify-user")
    async def notify_user(request: Request, session: SessionDep) -> Response:
        user = await session.user_id()
        if user is None:
            return not_logged_in()
        text = (await request.body()).decode("utf-8", "replace")
        return PlainTextResponse(str(await rt.notify_user(user, "user message", text)))

    # The user's live sessions, each under a handle that is not its id.
    @app.get("/sessions")
    async def user_sessions(session: SessionDep) -> Response:
        user = await session.user_id()
        if user is None:
            return not_logged_in()
        return JSONResponse([entry.as_dict() for entry in await rt.user_sessions(user)])

    # Signs out one of the user's sessions ("that device").
    @app.delete("/sessions/{handle}")
    async def sign_out_device(handle: str, session: SessionDep) -> Response:
        user = await session.user_id()
        if user is None:
            return not_logged_in()
        if await rt.destroy_user_session(user, handle):
            return Response(status_code=204)
        return PlainTextResponse("no such session", status_code=404)

    # Signs out every session of the user, this one included (its cookie is cleared).
    @app.post("/logout-everywhere")
    async def logout_everywhere(session: SessionDep) -> Response:
        user = await session.user_id()
        if user is None:
            return not_logged_in()
        others = await rt.destroy_user(user, except_session=session.id)
        await session.destroy()
        return PlainTextResponse(str(others + 1))

    # A token for clients that cannot send the cookie (they pass it as auth.token).
    @app.get("/token")
    async def token(session: SessionDep) -> PlainTextResponse:
        await session.save()
        return PlainTextResponse(rt.issue_token(session.id, token_ttl))

    # A health check: it does not touch the session, so it stores none and sends no cookie.
    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/assets/socket.io.min.js")
    async def socket_io_client() -> Response:
        path = client_js()
        if path is None:
            return PlainTextResponse(
                "socket.io client not found; run `npm ci` in tests/ or set SOCKET_IO_CLIENT_JS",
                status_code=500,
            )
        return Response(path.read_bytes(), media_type="text/javascript; charset=utf-8")

    return app


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # main() handles SIGTERM/SIGINT itself, so that sessionio closes after uvicorn.
        yield


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # Bind the HTTP port first: the Origin allow-list needs it (PORT=0 picks one).
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it, and
    # without it small responses wait ~40 ms for Nagle's algorithm.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", env_int("PORT", 3000)))
    listener.listen(1024)
    http_port = listener.getsockname()[1]

    rt = create_sessionio(http_port)
    if socket_port() is not None:
        await rt.start()
    server = Server(uvicorn.Config(create_app(rt), log_level="warning", access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if serving.done() or stop.is_set():
                break
            await asyncio.sleep(0.01)
        if server.started:
            http_url = f"http://127.0.0.1:{http_port}"
            print(f"listening http={http_url} socket={rt.url if rt.started else http_url}", flush=True)
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
        server.should_exit = True
        await serving
    finally:
        await rt.close()


if __name__ == "__main__":
    asyncio.run(main())
