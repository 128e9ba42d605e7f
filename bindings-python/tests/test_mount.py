"""SocketIOMiddleware: Socket.IO on the ASGI app's own port (uvicorn, in this process).

The app's own routes and websockets are untouched, both transports reach the engine with
the session cookie, the engine's refusals are answered on the shared port, and a polling
client that goes away gives its long-poll up.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sessionio import SessionIo, Socket
from sessionio.asgi import SessionMiddleware, SocketIOMiddleware, session_of

from .conftest import SECRET, Received, cookie_pair, free_port


class Mounted:
    """A Starlette app with both middlewares, served by uvicorn on a free port."""

    def __init__(self, rt: SessionIo, url: str) -> None:
        self.rt = rt
        self.url = url


@pytest.fixture
async def mounted() -> AsyncIterator[Mounted]:
    rt = SessionIo(secret=SECRET, cookie_secure=False)

    @rt.on("incr")
    async def incr(socket: Socket) -> int:
        assert socket.session is not None
        return await socket.session.increment("count")

    async def page(request: Request) -> PlainTextResponse:
        session = session_of(request.scope)
        await session.save()
        return PlainTextResponse(f"app {request.url.path}")

    async def app_websocket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("app websocket " + await websocket.receive_text())
        await websocket.close()

    app = Starlette(routes=[Route("/{path:path}", page), WebSocketRoute("/app-ws", app_websocket)])
    app.add_middleware(SessionMiddleware, sessionio=rt)
    app.add_middleware(SocketIOMiddleware, sessionio=rt)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield Mounted(rt, f"http://127.0.0.1:{port}")
    finally:
        await rt.close()
        server.should_exit = True
        await serving


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read().decode()


async def session_cookie(m: Mounted) -> str:
    status, headers, body = await asyncio.to_thread(get, m.url + "/page")
    assert (status, body) == (200, "app /page")
    return cookie_pair(headers["set-cookie"])


async def connect(m: Mounted, cookie: str, transports: list[str]) -> tuple[socketio.AsyncClient, Received]:
    client = socketio.AsyncClient(reconnection=False)
    received = Received()
    client.on("*", received.add)
    await client.connect(m.url, headers={"Cookie": cookie}, transports=transports, wait_timeout=5)
    return client, received


async def test_both_transports_reach_the_engine_with_the_session_cookie(mounted: Mounted) -> None:
    cookie = await session_cookie(mounted)
    counts = []
    for transports in (["websocket"], ["polling"], ["polling", "websocket"]):
        client, _ = await connect(mounted, cookie, transports)
        try:
            counts.append(await client.call("incr", timeout=5))
        finally:
            await client.disconnect()
    assert counts == [1, 2, 3]


async def test_the_apps_routes_and_websockets_are_untouched(mounted: Mounted) -> None:
    for path in ["/", "/socket.iox", "/api/socket.io/"]:
        status, _, body = await asyncio.to_thread(get, mounted.url + path)
        assert (status, body) == (200, f"app {path}")
    async with websockets.connect(mounted.url.replace("http", "ws") + "/app-ws") as ws:
        await ws.send("hi")
        assert await ws.recv() == "app websocket hi"


async def test_the_engines_refusals_are_answered_on_the_shared_port(mounted: Mounted) -> None:
    evil = {"Origin": "https://evil.example"}
    status, _, body = await asyncio.to_thread(get, mounted.url + "/socket.io/?EIO=4&transport=polling", evil)
    assert (status, body) == (403, "origin not allowed")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(
            mounted.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", origin=evil["Origin"]
        ):
            pass
    assert refused.value.response.status_code == 403
    assert refused.value.response.body == b"origin not allowed"
    status, _, body = await asyncio.to_thread(get, mounted.url + "/socket.io/?EIO=3&transport=polling")
    assert status == 400
    # And the page's own origin needs no allow-list entry.
    own = {"Origin": mounted.url}
    status, _, body = await asyncio.to_thread(get, mounted.url + "/socket.io/?EIO=4&transport=polling", own)
    assert status == 200 and body.startswith('0{"sid":')


async def test_a_polling_client_that_goes_away_gives_its_long_poll_up(mounted: Mounted) -> None:
    status, _, opened = await asyncio.to_thread(get, mounted.url + "/socket.io/?EIO=4&transport=polling")
    sid = json.loads(opened[1:])["sid"]
    host, port = mounted.url.removeprefix("http://").split(":")
    poll = f"{mounted.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    # The engine's first ping goes with the first poll; after it, a poll waits.
    status, _, ping = await asyncio.to_thread(get, poll)
    assert (status, ping) == (200, "2")
    # A long-poll that waits (nothing to send yet), then the client hangs up.
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.3)
    # The poll given up took nothing: a message posted now is answered on the next poll
    # (had the abandoned poll still waited in the engine, it would have taken the answer,
    # and this poll would wait for the next ping, 25 s away).
    post = urllib.request.Request(poll, data=b"40", method="POST")

    def send_connect() -> str:
        with urllib.request.urlopen(post, timeout=5) as response:
            body: str = response.read().decode()
            return body

    assert await asyncio.to_thread(send_connect) == "ok"
    status, _, answer = await asyncio.to_thread(get, poll)
    # (Anonymous sockets are refused: the CONNECT's answer is the refusal.)
    assert status == 200
    assert answer.startswith("44"), answer


async def test_closing_the_engine_disconnects_sockets_on_the_shared_port(mounted: Mounted) -> None:
    cookie = await session_cookie(mounted)
    client, _ = await connect(mounted, cookie, ["websocket"])
    gone = asyncio.Event()

    @client.event
    def disconnect(*_: Any) -> None:
        gone.set()

    await mounted.rt.close()
    await asyncio.wait_for(gone.wait(), 5)
    await client.disconnect()
