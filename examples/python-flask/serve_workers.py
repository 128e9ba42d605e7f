"""examples/python-flask/app.py as several worker processes behind one port, under gunicorn:

    REDIS_URL=redis://127.0.0.1:6379 WORKERS=4 python examples/python-flask/serve_workers.py

runs ``gunicorn -w $WORKERS -b 127.0.0.1:$PORT app:app``. gunicorn's master binds PORT and
forks the workers, which take the HTTP connections in turn; each worker then imports
``app:app``, which starts that worker's own engine (after the fork: no ``--preload``) with
``workers=True``. Every worker's engine binds the same SOCKET_PORT with SO_REUSEPORT, the
kernel spreads the Socket.IO connections over them, and an Engine.IO polling request or
websocket upgrade that reaches another worker than the one holding its session is passed
to that one; the Redis adapter carries notifications and logouts to every worker's sockets.

Environment: app.py's, plus ``WORKERS`` (default 4). ``REDIS_URL`` (or a redis:// or
redis-cluster:// ``SESSION_STORE_URL``) is required. What this adds to the workers'
environment:

- ``PORT`` and ``SOCKET_PORT`` (defaults 3000 and 3001): a free port picked here for 0.
  SO_REUSEPORT shares a port number (each worker's own bind of port 0 would get another
  one), and the app builds the page's origin from PORT: under gunicorn it cannot see the
  port it is served on.
- ``SESSION_SECRET``: one random secret for all workers when unset (cookies, tokens and the
  engines' routing tags must verify on every worker); set it when several machines or
  restarts share the sessions.

It prints ``listening http=<url> socket=<url>`` once every worker has started its engine
(each says so on stderr, which passes through here, as does everything gunicorn prints)
and the app answers ``GET /health`` and a Socket.IO handshake. SIGTERM and SIGINT are
passed to gunicorn, which stops its workers; this exits with gunicorn's status once it has
exited. A worker that fails to start (a bad environment) stops gunicorn, and so this.
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

HERE = Path(__file__).resolve().parent
# What app.py prints on stderr once a worker's engine is started.
READY = re.compile(r"^app\.py: worker (\d+) serves Socket\.IO on ")
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
    http_port = env_int("PORT", 3000) or free_port()
    socket_port = env_int("SOCKET_PORT", 3001) or free_port()
    env = {
        **os.environ,
        "WORKERS": str(workers),
        "PORT": str(http_port),
        "SOCKET_PORT": str(socket_port),
        "SESSION_SECRET": os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
    }
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{http_port}",
        "--chdir", str(HERE),
        "--log-level", "warning",
        "app:app",
    ]  # fmt: skip
    # The server's stdout goes to stderr too: this process's stdout carries one line.
    server = subprocess.Popen(command, env=env, stdout=sys.stderr, stderr=subprocess.PIPE)

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
    sock = f"http://127.0.0.1:{socket_port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (
        len(ready) >= workers
        and answers(f"{http}/health", "ok")
        and answers(f"{sock}/socket.io/?EIO=4&transport=polling", "0{")
    ):
        if server.poll() is not None:
            fail(f"gunicorn exited ({server.returncode}) before every worker served")
        if time.monotonic() > deadline:
            server.send_signal(signal.SIGTERM)
            server.wait()
            fail(f"{len(ready)} of {workers} workers served within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.05)
    print(f"listening http={http} socket={sock}", flush=True)
    code = server.wait()
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
