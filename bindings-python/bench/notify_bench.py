"""What a notify_session() call costs from Python, async and sync, for a session with no
socket and for one with 1000 connected sockets.

Build the binding in release mode first (a dev build measures debug code):

    python3.11 -m venv /tmp/sessionio-bench
    /tmp/sessionio-bench/bin/pip install maturin==1.16.0 aiohttp==3.14.5
    (cd bindings-python && /tmp/sessionio-bench/bin/maturin build --release --out /tmp/sessionio-bench/wheels)
    /tmp/sessionio-bench/bin/pip install --force-reinstall --no-deps /tmp/sessionio-bench/wheels/sessionio-*.whl
    /tmp/sessionio-bench/bin/python bindings-python/bench/notify_bench.py

(A wheel rather than `maturin develop`: that would put the release build's native module
into the source tree, under the dev venv too.)

The 1000 sockets are raw Engine.IO/Socket.IO websocket clients (aiohttp) in a child
process, so that reading the notifications does not compete with the measured loop for
the GIL. With sockets, calls run in rounds of at most ROUND calls, each followed by a wait
until every client read every notification: a socket's outgoing queue (1024 packets) never
overflows, and every call must report all 1000 sockets reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp

from sessionio import SessionIo

SOCKETS = 1000
ROUND = 500
ZERO_SOCKET_CALLS = 200_000
SOCKET_CALLS = 2_000


# --- the child process: SOCKETS raw websocket clients ------------------------------------


async def run_clients(url: str, cookie: str, count: int) -> None:
    """Connects `count` sockets, prints `ready`, then prints the number of `tick` events
    received whenever stdin gets a line; exits when stdin closes."""
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    received = 0

    async def client(session: aiohttp.ClientSession, connected: asyncio.Event) -> None:
        nonlocal received
        async with session.ws_connect(ws_url, headers={"Cookie": cookie}, max_msg_size=0) as ws:
            opened = await ws.receive_str()
            assert opened.startswith("0"), opened
            await ws.send_str("40")
            async for msg in ws:
                data = msg.data
                if data == "2":
                    await ws.send_str("3")  # Engine.IO ping
                elif data.startswith("40"):
                    connected.set()
                elif data.startswith('42["tick"'):
                    received += 1
                elif data.startswith("44"):
                    raise SystemExit(f"connect refused: {data}")

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        events = [asyncio.Event() for _ in range(count)]
        tasks = [asyncio.create_task(client(session, e)) for e in events]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 60)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            print(received, flush=True)
        for t in tasks:
            t.cancel()


# --- the benchmark -----------------------------------------------------------------------


class Clients:
    """The child process, asked for its received count through a pipe."""

    def __init__(self, url: str, cookie: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--clients", url, cookie, str(SOCKETS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"clients did not connect: {line!r}")

    def received(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait_for(self, total: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (got := self.received()) < total:
            if time.monotonic() > deadline:
                raise SystemExit(f"clients received {got} of {total} notifications")
            time.sleep(0.05)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def measure(rows: list[tuple[str, int, int, float]], api: str, sockets: int, calls: int, seconds: float) -> None:
    rows.append((api, sockets, calls, seconds))


async def bench_async(rt: SessionIo, sid: str, calls: int, expect: int) -> float:
    notify = rt.notify_session
    start = time.perf_counter()
    for i in range(calls):
        reached = await notify(sid, "tick", i)
        if reached != expect:
            raise SystemExit(f"notify reached {reached} sockets, not {expect}")
    return time.perf_counter() - start


def bench_sync(rt: SessionIo, sid: str, calls: int, expect: int) -> float:
    notify = rt.notify_session_sync
    start = time.perf_counter()
    for i in range(calls):
        reached = notify(sid, "tick", i)
        if reached != expect:
            raise SystemExit(f"notify reached {reached} sockets, not {expect}")
    return time.perf_counter() - start


async def in_rounds(
    run: Callable[[int], Awaitable[float]], clients: Clients, calls: int, already: int
) -> tuple[float, int]:
    """Runs `calls` calls in rounds of ROUND; returns the time spent in calls only."""
    total = 0.0
    done = already
    for start in range(0, calls, ROUND):
        n = min(ROUND, calls - start)
        total += await run(n)
        done += n * SOCKETS
        await asyncio.to_thread(clients.wait_for, done)
    return total, done


async def main(json_path: str | None) -> None:
    rows: list[tuple[str, int, int, float]] = []
    rt = SessionIo(
        secret="benchmark-secret-0123456789abcdef0123456789",
        max_connections_per_session=SOCKETS,
        # The clients open their websockets all at once.
        max_pending_handshakes_per_address=SOCKETS + 10,
    )
    await rt.start()
    try:
        idle = await rt.create_session()
        for _ in range(2):  # warm-up, then the measured run
            seconds = await bench_async(rt, idle.id, ZERO_SOCKET_CALLS, 0)
        measure(rows, "async `await notify_session()`", 0, ZERO_SOCKET_CALLS, seconds)
        for _ in range(2):
            seconds = bench_sync(rt, idle.id, ZERO_SOCKET_CALLS, 0)
        measure(rows, "sync `notify_session_sync()`", 0, ZERO_SOCKET_CALLS, seconds)

        found = await rt.http_session(None)
        assert found.set_cookie is not None
        sid = found.session.id
        clients = Clients(rt.url, found.set_cookie.split(";")[0])
        try:
            assert rt.stats()["sockets"] == SOCKETS
            loop = asyncio.get_running_loop()

            async def run_async(n: int) -> float:
                return await bench_async(rt, sid, n, SOCKETS)

            async def run_sync(n: int) -> float:
                # In a thread, so that the loop stays free (the sync API is for WSGI threads).
                return await loop.run_in_executor(None, bench_sync, rt, sid, n, SOCKETS)

            _, received = await in_rounds(run_async, clients, ROUND, 0)  # warm-up
            seconds, received = await in_rounds(run_async, clients, SOCKET_CALLS, received)
            measure(rows, "async `await notify_session()`", SOCKETS, SOCKET_CALLS, seconds)
            seconds, received = await in_rounds(run_sync, clients, SOCKET_CALLS, received)
            measure(rows, "sync `notify_session_sync()`", SOCKETS, SOCKET_CALLS, seconds)
        finally:
            clients.close()
    finally:
        await rt.close()

    print(f"notify_session call cost from Python ({platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, sessionio {__import__('sessionio').__version__})")
    print()
    print("Command: " + COMMAND)
    print()
    print("| API | sockets in the session | calls | calls/s | µs per call |")
    print("|---|---:|---:|---:|---:|")
    for api, sockets, calls, seconds in rows:
        print(f"| {api} | {sockets} | {calls} | {calls / seconds:,.0f} | {seconds / calls * 1e6:.2f} |")
    if json_path:
        # For bench/run.sh: the report puts these figures in BENCHMARKS.md; the call with
        # no socket is the one the ≤ 10 µs target is about.
        figures = [
            {
                "label": f"{api.replace('`', '')} from Python, {sockets} sockets in the session",
                "us_per_call": seconds / calls * 1e6,
                "calls_per_s": calls / seconds,
                "target_us": 10.0 if sockets == 0 else None,
            }
            for api, sockets, calls, seconds in rows
        ]
        command = "bindings-python/bench/notify_bench.py on a release wheel (built by bash bench/bindings.sh)"
        doc = {"title": "notify_session call cost from Python", "command": command, "figures": figures}
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)


COMMAND = (
    "(cd bindings-python && /tmp/sessionio-bench/bin/maturin build --release --out /tmp/sessionio-bench/wheels) "
    "&& /tmp/sessionio-bench/bin/pip install --force-reinstall --no-deps /tmp/sessionio-bench/wheels/sessionio-*.whl "
    "&& /tmp/sessionio-bench/bin/python bindings-python/bench/notify_bench.py"
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON (for bench/run.sh)")
    parser.add_argument("--clients", nargs=3, metavar=("URL", "COOKIE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        url, cookie, count = args.clients
        asyncio.run(run_clients(url, cookie, int(count)))
    else:
        asyncio.run(main(args.json))
