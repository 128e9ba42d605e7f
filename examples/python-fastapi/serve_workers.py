"""examples/python-fastapi/app.py as several worker processes behind one port, under uvicorn:

    REDIS_URL=redis://127.0.0.1:6379 WORKERS=4 python examples/python-fastapi/serve_workers.py

runs what ``uvicorn --workers $WORKERS --host 127.0.0.1 --port $PORT app:app`` runs: uvicorn's
master process (its ``Multiprocess`` supervisor) spawns the workers (new interpreters, not
forks), which share the listening socket and each import ``app:app``: one FastAPI app and
one engine, with ``workers=True``, per worker. The one difference: this binds the listening
socket itself, as a TCP socket that says so (``IPPROTO_TCP``), and hands it to the master.
asyncio sets TCP_NODELAY only on the connections of such a socket, and ``uvicorn
--workers`` binds one that does not (uvicorn issue #3149): every response on a kept-alive
connection then waits ~40 ms for Nagle's algorithm and the client's delayed ACK (measured
here: 46 ms per ``POST /incr`` instead of 6). Socket.IO is on the same port (SocketIOMiddleware): an Engine.IO polling request or
websocket upgrade that reaches another worker than the one holding its session is passed
to that one by the engine, and the Redis adapter carries notifications and logouts to
every worker's sockets. With SOCKET_PORT set, each worker's engine serves Socket.IO on
that port instead, which every worker binds with SO_REUSEPORT.

Environment: app.py's, plus ``WORKERS`` (default 4). ``REDIS_URL`` (or a redis:// or
redis-cluster:// ``SESSION_STORE_URL``) is required. What this adds to the workers'
environment:

- ``PORT`` (default 3000) and ``SOCKET_PORT`` (unset by default: one port): a free port
  picked here for 0. SO_REUSEPORT shares a port number (each worker's own bind of port 0
  would get another one), and with two ports the app builds the page's origin from PORT:
  under uvicorn it cannot see the port it is served on.
- ``SESSION_SECRET``: one random secret for all workers when unset (cookies, tokens and the
  engines' routing tags must verify on every worker); set it when several machines or
  restarts share the sessions.

It prints ``listening http=<url> socket=<url>`` once every worker has started (each says so
on stderr, which passes through here, as does everything uvicorn prints) and the app
answers ``GET /health`` and a Socket.IO handshake. SIGTERM and SIGINT are passed to uvicorn,
which stops its workers; this exits with uvicorn's status once it has exited. A worker that
fails to start (a bad environment) stops uvicorn, and so this.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import NoReturn

import uvicorn
from uvicorn.supervisors import Multiprocess

HERE = Path(__file__).resolve().parent
# What app.py prints on stderr once a worker's engine is started.
READY = re.compile(r"^app\.py: worker (\d+) serves Socket\.IO on ")
# The argument that makes this process uvicorn's master (see uvicorn_master).
MASTER = "--uvicorn-master"
# How long the workers get to start (the e2e harness waits 60 s for the listening line).
START_TIMEOUT_S = 50.0


def fail(message: str) -> NoReturn:
    sys.exit(f"serve_workers.py: {message}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    try:
        return int(value)
    except ValueError:
        fail(f"{name}={value!r} is not an integer")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(url: str, check: str) -> bool:
    """Whether GET `url` answers 200 with a body that starts with `check`."""
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            body: bytes = res.read()
            return res.status == 200 and body.decode("utf-8", "replace").startswith(check)
    except OSError:
        return False


def main() -> None:
    workers = env_int("WORKERS", 4)
    if workers < 1:
        fail(f"WORKERS={workers}: expected at least 1")
    store = os.environ.get("SESSION_STORE_URL") or os.environ.get("REDIS_URL") or ""
    if not store.startswith(("redis://", "redis-cluster://")):
        what = f"{store!r} is not a redis:// URL" if store else "set REDIS_URL (e.g. redis://127.0.0.1:6379)"
        fail(f"{what}: the workers share sessions, and reach each other's sockets, through Redis")
    # The app's port, bound here (see the module docs); PORT=0 takes any free one.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", env_int("PORT", 3000)))
    http_port = listener.getsockname()[1]
    # Unset (or empty): Socket.IO on the app's port.
    socket_port = (env_int("SOCKET_PORT", 0) or free_port()) if os.environ.get("SOCKET_PORT") else None
    env = {
        **os.environ,
        "WORKERS": str(workers),
        "PORT": str(http_port),
        "SESSION_SECRET": os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
    }
    if socket_port is not None:
        env["SOCKET_PORT"] = str(socket_port)
    command = [sys.executable, __file__, MASTER, str(listener.fileno())]
    # The server's stdout goes to stderr too: this process's stdout carries one line.
    server = subprocess.Popen(
        command, env=env, stdout=sys.stderr, stderr=subprocess.PIPE, pass_fds=[listener.fileno()]
    )
    listener.close()  # the master holds it now

    ready: set[int] = set()

    def relay() -> None:
        assert server.stderr is not None
        for raw in server.stderr:
            line = raw.decode("utf-8", "replace")
            sys.stderr.write(line)
            sys.stderr.flush()
            m = READY.match(line)
            if m:
                ready.add(int(m.group(1)))

    threading.Thread(target=relay, daemon=True).start()

    def stop(signum: int, frame: FrameType | None) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    http = f"http://127.0.0.1:{http_port}"
    sock = f"http://127.0.0.1:{socket_port}" if socket_port is not None else http
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (
        len(ready) >= workers
        and answers(f"{http}/health", "ok")
        and answers(f"{sock}/socket.io/?EIO=4&transport=polling", "0{")
    ):
        if server.poll() is not None:
            fail(f"uvicorn exited ({server.returncode}) before every worker served")
        if time.monotonic() > deadline:
            server.send_signal(signal.SIGTERM)
            server.wait()
            fail(f"{len(ready)} of {workers} workers served within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.05)
    print(f"listening http={http} socket={sock}", flush=True)
    code = server.wait()
    sys.exit(code if code >= 0 else 128 - code)


def uvicorn_master(fd: int) -> None:
    """uvicorn's master process for ``--workers``, as ``uvicorn.run`` starts it, on the
    listening socket ``fd`` that main() bound."""
    # `uvicorn --app-dir`: `app:app` is examples/python-fastapi/app.py. Spawned workers
    # start with this process's sys.path.
    sys.path.insert(0, str(HERE))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    config = uvicorn.Config(
        "app:app",
        workers=env_int("WORKERS", 4),
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    Multiprocess(config, sockets=[listener]).run()


if __name__ == "__main__":
    if sys.argv[1:2] == [MASTER]:
        uvicorn_master(int(sys.argv[2]))
    else:
        main()
