"""The seed guide's counter app on Flask (werkzeug's threaded WSGI server) and sessionio.

Flask serves the page and the HTTP routes on PORT; sessionio serves Socket.IO on
SOCKET_PORT. Both share the sessions: the WSGI middleware gives every request its session
from the cookie, and socket handlers get the same session live. Everything here is
synchronous: views and the socket handler use the ``_sync`` methods, and the socket
handler (a plain function) runs on one of the engine's worker threads.

Run: ``python examples/python-flask/app.py``. Environment: ``PORT`` (default 3000, 0 = any
free port), ``SOCKET_PORT`` (default 3001), ``SESSION_TTL_MS`` (inactivity timeout, default
30 min), ``SESSION_SECRET`` (default: random at every start), ``ALLOWED_ORIGINS``
(comma-separated, added to the page's own origins), ``MAX_CONNECTIONS_PER_SESSION``
(default 32), ``TOKEN_TTL_MS`` (lifetime of the tokens ``GET /token`` issues, default 60 000),
``MAX_SESSIONS`` (sessions the store may hold, default 1 000 000; past it a new session is
answered 503 ``too many sessions``), ``SESSION_STORE_URL`` (``memory://`` by default, or ``sqlite://<file>`` to keep
sessions across restarts), ``REDIS_URL`` (several processes on one Redis: sessions in it,
and notifications and logouts reach the sockets of every process; same as
``SESSION_STORE_URL=redis://...``; give every process the same ``SESSION_SECRET``),
``SOCKET_IO_CLIENT_JS`` (path of ``socket.io.min.js``). It prints
``listening http=<url> socket=<url>`` once both servers listen, and stops cleanly on
SIGTERM or Ctrl-C.

Several workers on one port: ``REDIS_URL=redis://... python examples/python-flask/serve_workers.py``
runs this app under ``gunicorn -w 4``: each worker imports ``app:app``, which builds the
Flask app and starts its own engine in that worker, after gunicorn forked it (an engine
started before a fork stays in the parent: never ``--preload``). Environment, besides the
above: ``WORKERS`` (how many worker processes serve the app; above 1, the engine gets
``workers=True``: every worker binds the same SOCKET_PORT, with SO_REUSEPORT, and Engine.IO
polling requests reach the worker that holds their session; it needs REDIS_URL and one
SESSION_SECRET for all workers), ``PORT`` (the port gunicorn binds, for the page's origin:
under gunicorn the app cannot see it). Each worker then answers the socket event
``"worker"`` with its pid, and prints ``app.py: worker <pid> serves Socket.IO on <url>`` on
stderr once its engine is started.

Users across sessions: ``POST /login`` (form field ``user``) logs the session in (a new id
and cookie), ``POST /notify-user`` (text body) reaches every socket of every session of the
user, ``GET /sessions`` lists them under opaque handles, ``DELETE /sessions/<handle>`` signs
one out, ``POST /logout-everywhere`` signs them all out.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from flask import Flask, Response, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

from sessionio import HandlerError, InvalidValueError, SessionIo, Socket
from sessionio.wsgi import current_session, init_flask, optional_session

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PAGE = (HERE / "static" / "index.html").read_text()
CLIENT_JS_CANDIDATES = [
    REPO / "examples/rust-counter/node_modules/socket.io-client/dist/socket.io.min.js",
    REPO / "tests/node_modules/socket.io-client/dist/socket.io.min.js",
]


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


def not_logged_in() -> Response:
    """What the user routes answer a session that is not logged in."""
    return Response("not logged in", status=401, mimetype="text/plain")


def store_url() -> str | None:
    """SESSION_STORE_URL, else REDIS_URL, else None (the memory store)."""
    return os.environ.get("SESSION_STORE_URL") or os.environ.get("REDIS_URL") or None


def redis_store() -> bool:
    """Whether the store is a Redis (or Redis Cluster), which several workers need."""
    return (store_url() or "").startswith(("redis://", "redis-cluster://"))


def create_sessionio(http_port: int, workers: bool = False) -> SessionIo:
    origins = [f"http://127.0.0.1:{http_port}", f"http://localhost:{http_port}"]
    origins += [o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()]
    rt = SessionIo(
        # Random per start is fine for a demo whose memory store forgets sessions at exit;
        # processes that share a store need the same SESSION_SECRET.
        secret=os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
        # With Redis, start() also waits until this engine is linked to the others.
        store=store_url(),
        port=env_int("SOCKET_PORT", 3001),
        ttl=env_int("SESSION_TTL_MS", 30 * 60 * 1000) / 1000,
        allowed_origins=origins,
        max_connections_per_session=env_int("MAX_CONNECTIONS_PER_SESSION", 32),
        max_sessions=env_int("MAX_SESSIONS", 1_000_000),
        # The demo runs on http://localhost; a real deployment keeps Secure cookies.
        cookie_secure=False,
        # One of several workers of a WSGI server (see worker_app): SOCKET_PORT is shared.
        workers=workers,
    )

    # Socket event "incr": atomic increment, ack with the new count, tell every tab.
    @rt.on("incr")
    def incr(socket: Socket) -> int:
        session = socket.session
        if session is None:
            raise HandlerError("session required")
        n = session.increment_sync("count")
        session.notify_sync("current count", n)
        return n

    return rt


def create_app(rt: SessionIo) -> Flask:
    app = Flask(__name__)
    token_ttl = env_int("TOKEN_TTL_MS", 60_000) / 1000
    init_flask(app, rt)

    # Sessions are created lazily (by their first write, or save). The page opens a
    # socket, whose handshake needs the cookie, so GET / saves the session.
    @app.get("/")
    def index() -> Response:
        session = current_session()
        session.save_sync()
        count = session.get_sync("count", 0)
        page = PAGE.replace("{{COUNT}}", str(count)).replace("{{SOCKET_PORT}}", str(rt.port))
        return Response(page, mimetype="text/html")

    @app.post("/incr")
    def incr() -> Response:
        session = current_session()
        n = session.increment_sync("count")
        session.notify_sync("current count", n)
        return Response(str(n), mimetype="text/plain")

    # Logging out always answers 204 and clears the cookie, even for a session that is
    # already gone; a live session is destroyed and its sockets disconnected.
    @app.post("/logout")
    def logout() -> Response:
        session = optional_session(request.environ)
        if session is not None:
            session.destroy_sync()
        return Response(status=204)

    # Logs the session in as the form's `user` (a real app checks a password first) and
    # gives it a new id, against fixation: the response carries the new cookie.
    @app.post("/login")
    def login() -> Response:
        user = request.form.get("user")
        if user is None:
            return Response("the form field `user` is missing", status=400, mimetype="text/plain")
        try:
            current_session().login_sync(user)
        except InvalidValueError as e:
            return Response(str(e), status=400, mimetype="text/plain")
        return Response(status=204)

    # The routes below need a login: 401 without one.
    @app.post("/notify-user")
    def notify_user() -> Response:
        user = current_session().user_id_sync()
        if user is None:
            return not_logged_in()
        reached = rt.notify_user_sync(user, "user message", request.get_data(as_text=True))
        return Response(str(reached), mimetype="text/plain")

    # The user's live sessions, each under a handle that is not its id.
    @app.get("/sessions")
    def user_sessions() -> Response:
        user = current_session().user_id_sync()
        if user is None:
            return not_logged_in()
        return jsonify([entry.as_dict() for entry in rt.user_sessions_sync(user)])

    # Signs out one of the user's sessions ("that device").
    @app.delete("/sessions/<handle>")
    def sign_out_device(handle: str) -> Response:
        user = current_session().user_id_sync()
        if user is None:
            return not_logged_in()
        if rt.destroy_user_session_sync(user, handle):
            return Response(status=204)
        return Response("no such session", status=404, mimetype="text/plain")

    # Signs out every session of the user, this one included (its cookie is cleared).
    @app.post("/logout-everywhere")
    def logout_everywhere() -> Response:
        session = current_session()
        user = session.user_id_sync()
        if user is None:
            return not_logged_in()
        others = rt.destroy_user_sync(user, except_session=session.id)
        session.destroy_sync()
        return Response(str(others + 1), mimetype="text/plain")

    # A token for clients that cannot send the cookie (they pass it as auth.token).
    @app.get("/token")
    def token() -> Response:
        session = current_session()
        session.save_sync()
        return Response(rt.issue_token(session.id, token_ttl), mimetype="text/plain")

    # A health check: it does not touch the session, so it stores none and sends no cookie.
    @app.get("/health")
    def health() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.get("/assets/socket.io.min.js")
    def socket_io_client() -> Response:
        path = client_js()
        if path is None:
            return Response(
                "socket.io client not found; run `npm ci` in tests/ or set SOCKET_IO_CLIENT_JS",
                status=500,
                mimetype="text/plain",
            )
        return Response(path.read_bytes(), mimetype="text/javascript")

    return app


class RequestHandler(WSGIRequestHandler):
    # Headers and body are written separately: without TCP_NODELAY the body waits
    # ~40 ms for Nagle's algorithm.
    disable_nagle_algorithm = True


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

    # Bind the HTTP port first: the Origin allow-list needs it (PORT=0 picks one).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", env_int("PORT", 3000)))
    listener.listen(1024)
    http_port = listener.getsockname()[1]

    rt = create_sessionio(http_port)
    rt.start_sync()
    try:
        server = make_server(
            "127.0.0.1",
            http_port,
            create_app(rt),
            threaded=True,
            request_handler=RequestHandler,
            fd=listener.fileno(),
        )
        listener.close()  # the server holds its own duplicate of the socket

        def stop(signum: int, frame: FrameType | None) -> None:
            # shutdown() waits for serve_forever() to return: call it from another thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"listening http=http://127.0.0.1:{http_port} socket={rt.url}", flush=True)
        server.serve_forever()
        server.server_close()
    finally:
        rt.close_sync()


def worker_app() -> Flask:
    """The app of one worker of a multi-worker WSGI server (gunicorn, through ``app`` below),
    with its own engine, started here: in the worker, after the fork.

    Raises ``RuntimeError`` on a bad environment: gunicorn then stops with "Worker failed
    to boot" instead of forking a new worker that would fail the same way.
    """
    workers = env_int("WORKERS", 1)
    http_port = env_int("PORT", 3000)
    socket_port = env_int("SOCKET_PORT", 3001)
    if http_port == 0:
        raise RuntimeError("PORT=0: give the port gunicorn binds (-b 127.0.0.1:$PORT); the page's origin needs it")
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
        if socket_port == 0:
            raise RuntimeError(f"WORKERS={workers} needs a fixed SOCKET_PORT: every worker binds the same one")
    rt = create_sessionio(http_port, workers=workers > 1)

    # The worker process that holds the socket (tests/workers/workers.test.mjs sees one
    # session's sockets spread over several).
    @rt.on("worker")
    def worker(socket: Socket) -> int:
        return os.getpid()

    # No close() here: sessionio's atexit hook closes the engine when the worker exits.
    rt.start_sync()
    # One write with its newline: the workers share stderr, and print() writes the newline
    # apart, which another worker's line could come between.
    sys.stderr.write(f"app.py: worker {os.getpid()} serves Socket.IO on {rt.url}\n")
    sys.stderr.flush()
    return create_app(rt)


_worker_app: Flask | None = None


def __getattr__(name: str) -> Flask:
    """``app``, the WSGI app a server imports (``gunicorn app:app``), built on first use:
    importing this module starts nothing. ``python app.py`` starts its own engine only, and
    gunicorn without ``--preload`` builds ``app`` in each worker, never in the master, whose
    engine's runtime would not survive the fork."""
    global _worker_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _worker_app is None:
        try:
            _worker_app = worker_app()
        except SystemExit as e:
            # env_int's refusal of a bad number, as an exception: see worker_app.
            raise RuntimeError(e.code) from None
    return _worker_app


if __name__ == "__main__":
    main()
