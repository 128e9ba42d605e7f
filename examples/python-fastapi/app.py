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

Several workers on one port: ``REDIS_URL=redis://... python examples/python-fastapi/serve_workers.py``
runs this app under ``uvicorn --workers 4``: each worker process imports ``app:app``, which
builds the FastAPI app with its own engine (uvicorn's workers are spawned, fresh
interpreters; the master process imports nothing). Environment, besides the above:
``WORKERS`` (how many worker processes serve the app; above 1, the engine gets
``workers=True``: Engine.IO polling requests and websocket upgrades reach the worker that
holds their session, whichever worker uvicorn handed the connection, and with SOCKET_PORT
every worker binds that same port, with SO_REUSEPORT; it needs REDIS_URL and one
SESSION_SECRET for all workers), ``PORT`` (the port uvicorn binds, for the page's origin
when SOCKET_PORT is set: the app cannot see it). Each worker then answers the socket event
``"worker"`` with its pid, and prints ``app.py: worker <pid> serves Socket.IO on <url>`` on
stderr once its lifespan has started.

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
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

import uvicorn
from uvicorn.config import STARTUP_FAILURE
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
# A FastAPI lifespan: what the app does at startup and at shutdown.
Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


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


def redis_store() -> bool:
    """Whether the store is a Redis (or Redis Cluster), which several workers need."""
    return (store_url() or "").startswith(("redis://", "redis-cluster://"))


def create_sessionio(http_port: int, workers: bool = False) -> SessionIo:
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
        # One of several workers of an ASGI server (see worker_app).
        workers=workers,
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


def create_app(rt: SessionIo, lifespan: Lifespan | None = None) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
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


def worker_app() -> FastAPI:
    """The app of one worker of a multi-worker ASGI server (``uvicorn --workers``, through
    ``app`` below), with its own engine: started by the app's lifespan on its own port
    (SOCKET_PORT), else served through SocketIOMiddleware from the first request on.
    Raises ``RuntimeError`` on a bad environment."""
    workers = env_int("WORKERS", 1)
    http_port = env_int("PORT", 3000)
    if workers > 1:
        if not redis_store():
            raise RuntimeError(
                f"WORKERS={workers} needs REDIS_URL (e.g. redis://127.0.0.1:6379): the workers share "
                "sessions, and reach each other's sockets, through Redis"
            )
        if not os.environ.get("SESSION_SECRET"):
            raise RuntimeError(
                f"WORKERS={workers} needs SESSION_SECRET: every worker must verify the cookies the others sign"
            )
        if socket_port() == 0:
            raise RuntimeError(f"WORKERS={workers} needs a fixed SOCKET_PORT (or none): every worker binds the same one")
    if socket_port() is not None and http_port == 0:
        raise RuntimeError("PORT=0: give the port uvicorn binds (--port); the page's origin needs it")
    rt = create_sessionio(http_port, workers=workers > 1)

    # The worker process that holds the socket (tests/workers/workers.test.mjs sees one
    # session's sockets spread over several).
    @rt.on("worker")
    async def worker(socket: Socket) -> int:
        return os.getpid()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if socket_port() is not None:
            await rt.start()
        where = rt.url if rt.started else "the app's port"
        # One write with its newline: the workers share stderr, and print() writes the
        # newline apart, which another worker's line could come between.
        sys.stderr.write(f"app.py: worker {os.getpid()} serves Socket.IO on {where}\n")
        sys.stderr.flush()
        try:
            yield
        finally:
            await rt.close()

    return create_app(rt, lifespan)


_worker_app: FastAPI | None = None


def worker_app_or_exit() -> FastAPI:
    """worker_app(), or the worker's exit with uvicorn's code for a worker that failed to
    start: its master then stops, instead of starting another worker that fails the same
    way (any other code, e.g. 1 for an exception, is a worker it replaces)."""
    try:
        return worker_app()
    except SystemExit as e:  # env_int's refusal of a bad number
        sys.stderr.write(f"app.py: {e.code}\n")
    except RuntimeError as e:  # worker_app's refusal of the environment
        sys.stderr.write(f"app.py: {e}\n")
    except Exception:  # e.g. the engine's InvalidConfigError
        traceback.print_exc()
    sys.exit(STARTUP_FAILURE)


def __getattr__(name: str) -> FastAPI:
    """``app``, the ASGI app a server imports (``uvicorn app:app``), built on first use:
    importing this module starts nothing, so ``python app.py`` builds only its own."""
    global _worker_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _worker_app is None:
        _worker_app = worker_app_or_exit()
    return _worker_app


if __name__ == "__main__":
    asyncio.run(main())
