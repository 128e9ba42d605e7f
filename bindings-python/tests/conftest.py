"""Fixtures: engines on free loopback ports, and python-socketio clients."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import socketio

from sessionio import SessionIo

SECRET = "test-secret-that-is-long-enough-0123456789"
ORIGIN = "http://app.example"


def cookie_pair(set_cookie: str) -> str:
    """`name=value` of a Set-Cookie header value."""
    return set_cookie.split(";", 1)[0]


def make_engine(**options: Any) -> SessionIo:
    if "secrets" not in options:
        options.setdefault("secret", SECRET)
    options.setdefault("allowed_origins", [ORIGIN])
    return SessionIo(**options)


def free_port() -> int:
    """A loopback TCP port that nothing listens on (at the time of the call)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """`redis://…` of our own redis-server on a free port, for the tests of one module.

    The Debian package redis-server (the test command installs it); a missing binary fails
    the tests with FileNotFoundError.
    """
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while True:
            assert redis.poll() is None, f"redis-server exited with {redis.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not listen within 5 s"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        redis.kill()
        redis.wait()


@pytest.fixture
async def rt() -> AsyncIterator[SessionIo]:
    """An engine started from async code (async handlers run on the test's loop)."""
    engine = make_engine()
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
def rt_sync() -> Iterator[SessionIo]:
    """An engine started from sync code (async handlers run on the sessionio-loop thread)."""
    engine = make_engine()
    engine.start_sync()
    yield engine
    engine.close_sync()


class Received:
    """Every event a client received, in order, with a way to wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnect_reason: Any = None

    def on_disconnect(self, *reason: Any) -> None:
        self.disconnect_reason = reason[0] if reason else None
        self.disconnected.set()

    def add(self, event: str, *args: Any) -> None:
        self.events.append((event, args))
        self._changed.set()

    def of(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.events if name == event]

    async def wait_for(self, event: str, count: int = 1, timeout: float = 5) -> list[tuple[Any, ...]]:
        async def wait() -> list[tuple[Any, ...]]:
            while len(self.of(event)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.of(event)

        return await asyncio.wait_for(wait(), timeout)


async def connect(
    rt: SessionIo,
    *,
    cookie: str | None = None,
    auth: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    url: str | None = None,
) -> tuple[socketio.AsyncClient, Received]:
    """An AsyncClient connected over websocket; raises ConnectionError on refusal."""
    client = socketio.AsyncClient(reconnection=False)
    received = Received()
    client.on("*", received.add)
    client.on("disconnect", received.on_disconnect)
    all_headers = dict(headers or {})
    if cookie is not None:
        all_headers["Cookie"] = cookie
    await client.connect(
        url or rt.url, headers=all_headers, auth=auth, transports=["websocket"], wait_timeout=5
    )
    return client, received


def engine_get(rt: SessionIo, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """A raw GET on the engine's port: (status, body), error statuses included."""
    request = urllib.request.Request(rt.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


async def refusal_message(rt: SessionIo, **kwargs: Any) -> str:
    """Connects expecting a refusal; returns the connect_error message."""
    client = socketio.AsyncClient(reconnection=False)
    messages: list[str] = []

    @client.event
    async def connect_error(data: Any) -> None:
        messages.append(data["message"] if isinstance(data, dict) else str(data))

    headers = dict(kwargs.pop("headers", {}))
    if "cookie" in kwargs:
        headers["Cookie"] = kwargs.pop("cookie")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(rt.url, headers=headers, transports=["websocket"], wait_timeout=5, **kwargs)
    await client.disconnect()
    assert messages, "no connect_error was received"
    return messages[0]
