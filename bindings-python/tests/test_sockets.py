"""Socket handlers, middlewares and connection callbacks, driven by python-socketio clients."""

from __future__ import annotations

import asyncio
import time
import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import socketio

from sessionio import HandlerError, InvalidValueError, Session, SessionIo, Socket, StoreUnavailableError

from .conftest import ORIGIN, connect, cookie_pair, engine_get, free_port, make_engine, refusal_message


async def new_cookie(rt: SessionIo) -> tuple[Session, str]:
    """A session as an HTTP request would create it, and its cookie."""
    found = await rt.http_session(None)
    assert found.set_cookie is not None
    return found.session, cookie_pair(found.set_cookie)


async def test_python_socketio_client_incr_ack_and_current_count() -> None:
    rt = make_engine()

    @rt.on("incr")
    async def incr(socket: Socket) -> int:
        session = socket.session
        assert session is not None
        n = await session.increment("count")
        await session.notify("current count", n)
        return n

    async with rt:
        session, cookie = await new_cookie(rt)
        (a, got_a), (b, got_b) = await connect(rt, cookie=cookie), await connect(rt, cookie=cookie)
        assert await a.call("incr", timeout=5) == 1
        assert await b.call("incr", timeout=5) == 2
        for got in (got_a, got_b):
            assert await got.wait_for("current count", 2) == [(1,), (2,)]
        # The host notifies every socket of the session, and sees the socket's writes.
        assert await rt.notify_session(session.id, "current count", 99) == 2
        assert await got_a.wait_for("current count", 3) == [(1,), (2,), (99,)]
        assert await session.get("count") == 2
        assert rt.stats() == {"sockets": 2, "sessions_with_sockets": 1}
        await a.disconnect()
        await b.disconnect()


async def test_async_handlers_run_on_the_loop_that_started() -> None:
    rt = make_engine()
    loops: list[asyncio.AbstractEventLoop] = []

    @rt.on("where")
    async def where(socket: Socket) -> str:
        loops.append(asyncio.get_running_loop())
        return threading.current_thread().name

    async with rt:
        _, cookie = await new_cookie(rt)
        client, _ = await connect(rt, cookie=cookie)
        assert await client.call("where", timeout=5) == threading.current_thread().name
        assert loops == [asyncio.get_running_loop()]
        await client.disconnect()


async def test_plain_handlers_run_on_worker_threads_with_sync_methods(rt: SessionIo) -> None:
    @rt.on("incr")
    def incr(socket: Socket, by: int) -> list[Any]:
        session = socket.session
        assert session is not None
        n = session.increment_sync("count", by)
        session.notify_sync("current count", n)
        return [n, threading.current_thread() is not threading.main_thread()]

    session, cookie = await new_cookie(rt)
    client, got = await connect(rt, cookie=cookie)
    assert await client.call("incr", 5, timeout=5) == [5, True]
    assert await got.wait_for("current count") == [(5,)]
    assert await session.get("count") == 5
    await client.disconnect()


async def test_every_value_type_crosses_both_ways(rt: SessionIo) -> None:
    @rt.on("echo")
    async def echo(socket: Socket, *args: Any) -> list[Any]:
        socket.emit("echoed", *args)
        return list(args)

    _, cookie = await new_cookie(rt)
    client, got = await connect(rt, cookie=cookie)
    values = (None, True, 7, -2.5, "text ✓", b"\x00\xffbinary", [1, [2]], {"k": {"b": b"in a dict"}})
    assert await client.call("echo", values, timeout=5) == list(values)
    assert await got.wait_for("echoed") == [values]
    await client.disconnect()


async def test_a_handler_error_answers_its_own_message_and_the_server_goes_on(
    rt: SessionIo, caplog: pytest.LogCaptureFixture
) -> None:
    class Forbidden(HandlerError):
        pass

    @rt.on("refuse")
    async def refuse(socket: Socket) -> None:
        raise HandlerError("not allowed")

    @rt.on("refuse-sync")
    def refuse_sync(socket: Socket) -> None:
        raise HandlerError()

    @rt.on("forbidden")
    def forbidden(socket: Socket) -> None:
        raise Forbidden("admins only")

    @rt.on("ok")
    async def ok(socket: Socket) -> str:
        return "still here"

    _, cookie = await new_cookie(rt)
    client, _ = await connect(rt, cookie=cookie)
    with caplog.at_level(logging.DEBUG, logger="sessionio"):
        assert await client.call("refuse", timeout=5) == {"error": "not allowed"}
        # An empty message answers the class's name.
        assert await client.call("refuse-sync", timeout=5) == {"error": "HandlerError"}
        assert await client.call("forbidden", timeout=5) == {"error": "admins only"}
        assert await client.call("ok", timeout=5) == "still here"
    # A chosen answer is not an error of the server: a debug line, no error log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("not allowed" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    await client.disconnect()


async def test_any_other_failure_answers_internal_error_and_logs_the_detail(
    rt: SessionIo, caplog: pytest.LogCaptureFixture
) -> None:
    @rt.on("boom")
    async def boom(socket: Socket) -> None:
        raise RuntimeError("db password=hunter2 at 10.0.0.7")

    @rt.on("boom-sync")
    def boom_sync(socket: Socket) -> None:
        raise ValueError()

    @rt.on("unsendable")
    def unsendable(socket: Socket) -> object:
        return object()

    @rt.use
    def guard(socket: Socket, event: str, args: list[Any]) -> None:
        if event == "guarded":
            raise KeyError("token table")

    @rt.on("guarded")
    async def guarded(socket: Socket) -> str:
        return "not reached"

    @rt.on("ok")
    async def ok(socket: Socket) -> str:
        return "still here"

    _, cookie = await new_cookie(rt)
    client, _ = await connect(rt, cookie=cookie)
    with caplog.at_level(logging.DEBUG, logger="sessionio"):
        for event in ("boom", "boom-sync", "unsendable", "guarded"):
            assert await client.call(event, timeout=5) == {"error": "internal error"}, event
        assert await client.call("ok", timeout=5) == "still here"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage().split(":", 1)[0] for r in errors] == [
        "sessionio handler of 'boom' raised",
        "sessionio handler of 'boom-sync' raised",
        "sessionio handler of 'unsendable' failed",
        "sessionio middleware raised",
    ]
    # The detail, with its traceback, is in the log only.
    assert errors[0].exc_info is not None and "password=hunter2" in str(errors[0].exc_info[1])
    assert errors[1].exc_info is not None and isinstance(errors[1].exc_info[1], ValueError)
    assert "return value cannot be sent: invalid value: a object cannot be sent" in errors[2].getMessage()
    assert errors[3].exc_info is not None and "token table" in str(errors[3].exc_info[1])
    await client.disconnect()


async def test_finding_3_internal_error_text_reaches_clients_a_raised_value_error_sends_no_detail(
    rt: SessionIo, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 3 of the security review: a handler's exception text (``str(exc)``) must not
    reach the client; it answers ``internal error`` and the detail stays in the log."""

    @rt.on("secret")
    async def secret(socket: Socket) -> None:
        raise ValueError("secret detail")

    @rt.on("secret-sync")
    def secret_sync(socket: Socket) -> None:
        raise ValueError("secret detail")

    _, cookie = await new_cookie(rt)
    client, _ = await connect(rt, cookie=cookie)
    with caplog.at_level(logging.DEBUG, logger="sessionio"):
        for event in ("secret", "secret-sync"):
            answer = await client.call(event, timeout=5)
            assert answer == {"error": "internal error"}, event
            assert "secret detail" not in repr(answer)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all(r.exc_info is not None and str(r.exc_info[1]) == "secret detail" for r in errors)
    await client.disconnect()


async def test_a_store_error_in_a_handler_answers_internal_error_and_logs_the_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead_port = free_port()  # nothing listens on it
    session_id = make_engine().create_session_sync().id  # a well-formed id, in another store
    rt = make_engine(store=f"redis://127.0.0.1:{dead_port}", adapter="local://", allow_anonymous=True)

    @rt.on("count")
    async def count(socket: Socket) -> int:
        session = await rt.session(session_id)
        return await session.increment("count")

    async with rt:
        client, _ = await connect(rt)
        with caplog.at_level(logging.DEBUG, logger="sessionio"):
            assert await client.call("count", timeout=15) == {"error": "internal error"}
        await client.disconnect()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["sessionio handler of 'count' raised"]
    assert errors[0].exc_info is not None
    detail = errors[0].exc_info[1]
    assert isinstance(detail, StoreUnavailableError) and str(detail)


async def test_middlewares_run_before_every_handler_and_can_stop_an_event(rt: SessionIo) -> None:
    seen: list[tuple[str, str, list[Any]]] = []

    @rt.use
    async def record(socket: Socket, event: str, args: list[Any]) -> None:
        seen.append(("async", event, args))

    @rt.use
    def guard(socket: Socket, event: str, args: list[Any]) -> None:
        seen.append(("sync", event, args))
        if event == "admin":
            raise HandlerError("forbidden")

    handled: list[str] = []

    @rt.on("admin")
    async def admin(socket: Socket) -> str:
        handled.append("admin")
        return "done"

    @rt.on("hello")
    async def hello(socket: Socket, name: str) -> str:
        handled.append("hello")
        return f"hello {name}"

    _, cookie = await new_cookie(rt)
    client, _ = await connect(rt, cookie=cookie)
    assert await client.call("hello", "ada", timeout=5) == "hello ada"
    assert await client.call("admin", timeout=5) == {"error": "forbidden"}
    assert handled == ["hello"]
    assert seen == [
        ("async", "hello", ["ada"]),
        ("sync", "hello", ["ada"]),
        ("async", "admin", []),
        ("sync", "admin", []),
    ]
    await client.disconnect()


async def test_on_connection_socket_api_and_handshake(rt: SessionIo) -> None:
    connected: list[Socket] = []
    answers: list[list[Any]] = []
    reserved: list[str] = []

    @rt.on_connection
    async def welcome(socket: Socket) -> None:
        connected.append(socket)
        socket.join("lobby")
        socket.join("news")
        socket.leave("news")
        # Finding 10: the engine's own rooms (each session's) cannot be named.
        for room in (f"sessionio:session:{socket.session_id}", "sessionio:anything"):
            with pytest.raises(InvalidValueError) as refused:
                socket.join(room)
            reserved.append(refused.value.code)
        with pytest.raises(InvalidValueError):
            socket.leave(f"sessionio:session:{socket.session_id}")
        socket.emit("welcome", socket.id, sorted(socket.rooms()))

    @rt.on_connection
    def also_sync(socket: Socket) -> None:
        socket.emit("sync-welcome")

    @rt.on("ask")
    async def ask(socket: Socket) -> list[Any]:
        answer = await socket.emit_with_ack("question", 20, timeout=2)
        answers.append(answer)
        return answer

    @rt.on("ask-sync")
    def ask_sync(socket: Socket) -> list[Any]:
        return socket.emit_with_ack_sync("question", 1, timeout=timedelta(seconds=2))

    session, cookie = await new_cookie(rt)
    client = socketio.AsyncClient(reconnection=False)

    @client.on("question")
    async def question(n: int) -> tuple[int, str]:
        return n + 1, "ok"

    welcomes: list[tuple[Any, ...]] = []
    client.on("welcome", lambda *args: welcomes.append(args))
    sync_welcomed = asyncio.Event()
    client.on("sync-welcome", lambda: sync_welcomed.set())
    before = datetime.now(timezone.utc)
    await client.connect(
        f"{rt.url}?room=7&x=a%20b&tag=a&tag=b",
        headers={"Cookie": f"theme=dark; {cookie}", "X-Test": "yes", "Origin": ORIGIN},
        auth={"user": "ada"},
        transports=["websocket"],
        wait_timeout=5,
    )
    await asyncio.wait_for(sync_welcomed.wait(), 5)
    [socket] = connected
    assert welcomes == [(client.get_sid(), ["lobby"])]  # the engine's own rooms are not listed
    assert reserved == ["ERR_INVALID_VALUE", "ERR_INVALID_VALUE"]
    assert socket.id == client.get_sid()
    assert socket.namespace == "/"
    assert socket.session_id == session.id and socket.session == session
    assert socket.connected
    assert repr(socket) == f"<sessionio.Socket {socket.id}>"
    hs = socket.handshake
    assert hs.headers["x-test"] == "yes" and hs.headers["origin"] == ORIGIN
    # (the client's cookie jar may reorder cookies)
    assert sorted(hs.headers["cookie"].split("; ")) == sorted(["theme=dark", cookie])
    assert hs.query["room"] == "7" and hs.query["x"] == "a b" and hs.query["EIO"] == "4"
    assert hs.query["tag"] == ["a", "b"]
    assert hs.auth == {"user": "ada"}
    assert hs.address is not None and hs.address.ip == "127.0.0.1" and hs.address.port > 0
    assert socket.handshake.address == hs.address
    assert repr(hs.address) == f'Address(ip="127.0.0.1", port={hs.address.port})'
    assert before - timedelta(seconds=1) <= hs.time <= datetime.now(timezone.utc)
    assert "address=" in repr(hs)
    # Core's one shape, as Rust and Node give it.
    assert hs.as_dict() == {
        "headers": hs.headers,
        "query": hs.query,
        "auth": {"user": "ada"},
        "time": round(hs.time.timestamp() * 1000),
        "address": {"ip": "127.0.0.1", "port": hs.address.port},
    }
    assert isinstance(hs.as_dict()["time"], int)
    assert set(hs.query) == {"room", "x", "tag", "EIO", "transport", "t"}

    assert await client.call("ask", timeout=5) == [21, "ok"]
    assert answers == [[21, "ok"]]
    assert await client.call("ask-sync", timeout=5) == [2, "ok"]

    socket.disconnect()
    await asyncio.sleep(0.2)
    assert not client.connected and not socket.connected
    with pytest.raises(InvalidValueError):
        socket.emit("x", object())


async def test_emit_with_ack_times_out(rt: SessionIo) -> None:
    @rt.on("ask")
    async def ask(socket: Socket) -> str:
        try:
            await socket.emit_with_ack("unanswered", timeout=0.2)
        except Exception as e:
            return type(e).__name__ + ": " + str(e)
        return "answered"

    _, cookie = await new_cookie(rt)
    client = socketio.AsyncClient(reconnection=False)

    @client.on("unanswered")
    async def never_answers() -> None:
        await asyncio.sleep(10)

    await client.connect(rt.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=5)
    reply = await client.call("ask", timeout=5)
    assert reply.startswith("ServerError: server error:")
    await client.disconnect()


async def test_emit_with_ack_without_a_timeout_waits_cores_default(rt: SessionIo) -> None:
    waited: list[float] = []

    @rt.on("ask")
    async def ask(socket: Socket) -> str:
        start = time.monotonic()
        try:
            await socket.emit_with_ack("unanswered")
        except Exception as e:
            waited.append(time.monotonic() - start)
            return type(e).__name__
        return "answered"

    _, cookie = await new_cookie(rt)
    client = socketio.AsyncClient(reconnection=False)

    @client.on("unanswered")
    async def never_answers() -> None:
        await asyncio.sleep(10)

    await client.connect(rt.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=5)
    assert await client.call("ask", timeout=10) == "ServerError"
    # core's DEFAULT_ACK_TIMEOUT: 5 s
    assert 4.9 <= waited[0] < 7, waited
    await client.disconnect()


async def test_destroy_session_disconnects_every_socket(rt: SessionIo) -> None:
    session, cookie = await new_cookie(rt)
    _, other_cookie = await new_cookie(rt)
    clients = [await connect(rt, cookie=cookie) for _ in range(3)]
    other, other_got = await connect(rt, cookie=other_cookie)
    assert await rt.destroy_session(session.id) == 3
    for _, got in clients:
        await asyncio.wait_for(got.disconnected.wait(), 5)
    assert other.connected and not other_got.disconnected.is_set()
    assert await refusal_message(rt, cookie=cookie) == "invalid session"
    await other.disconnect()


async def test_destroy_sync_from_a_session_handle_and_regenerate(rt_sync: SessionIo) -> None:
    rt = rt_sync
    found = rt.http_session_sync(None)
    assert found.set_cookie is not None
    cookie = cookie_pair(found.set_cookie)
    client, got = await connect(rt, cookie=cookie)
    renewed = found.session.regenerate_sync()  # sockets of the old id are disconnected
    await asyncio.wait_for(got.disconnected.wait(), 5)
    client2, got2 = await connect(rt, cookie=cookie_pair(rt.set_cookie(renewed.id)))
    assert renewed.destroy_sync() == 1
    await asyncio.wait_for(got2.disconnected.wait(), 5)
    assert not client.connected and not client2.connected


async def test_refused_handshakes(rt: SessionIo) -> None:
    session, cookie = await new_cookie(rt)
    assert await refusal_message(rt) == "session required"
    assert await refusal_message(rt, cookie="sessionio.sid=garbage") == "invalid session"
    # A foreign Origin is refused at the Engine.IO handshake, before any session exists.
    evil = {"Origin": "http://evil.example", "Cookie": cookie}
    polling = await asyncio.to_thread(engine_get, rt, "/socket.io/?EIO=4&transport=polling", evil)
    assert polling == (403, "origin not allowed")
    assert await refusal_message(rt, auth={"token": "nope"}) == "invalid session"
    token = rt.issue_token(session.id, 60)
    client, _ = await connect(rt, auth={"token": token})
    assert await rt.notify_session(session.id, "ping") == 1
    await client.disconnect()


async def test_connection_limit_per_session() -> None:
    async with make_engine(max_connections_per_session=2) as rt:
        _, cookie = await new_cookie(rt)
        clients = [await connect(rt, cookie=cookie) for _ in range(2)]
        assert await refusal_message(rt, cookie=cookie) == "too many connections for this session"
        for client, _ in clients:
            await client.disconnect()


async def test_anonymous_sockets_have_no_session() -> None:
    rt = make_engine(allow_anonymous=True)

    @rt.on("whoami")
    async def whoami(socket: Socket) -> Any:
        if socket.session is None:
            raise HandlerError("session required")
        return socket.session_id

    async with rt:
        client, _ = await connect(rt)
        assert await client.call("whoami", timeout=5) == {"error": "session required"}
        await client.disconnect()


async def test_expired_session_sockets_are_told_and_disconnected() -> None:
    async with make_engine(ttl=0.3) as rt:
        _, cookie = await new_cookie(rt)
        client, got = await connect(rt, cookie=cookie)
        assert len(await got.wait_for("session expired", timeout=3)) == 1
        await asyncio.wait_for(got.disconnected.wait(), 3)
        assert not client.connected


def test_sync_mode_with_a_threaded_client(rt_sync: SessionIo) -> None:
    """start_sync(): async handlers run on the sessionio-loop thread, plain ones on workers."""
    threads: dict[str, str] = {}

    @rt_sync.on("async-incr")
    async def async_incr(socket: Socket) -> int:
        threads["async"] = threading.current_thread().name
        assert socket.session is not None
        n = await socket.session.increment("count")
        await socket.session.notify("current count", n)
        return n

    @rt_sync.on("sync-incr")
    def sync_incr(socket: Socket) -> int:
        threads["sync"] = threading.current_thread().name
        assert socket.session is not None
        n = socket.session.increment_sync("count")
        socket.session.notify_sync("current count", n)
        return n

    found = rt_sync.http_session_sync(None)
    assert found.set_cookie is not None
    counts: list[int] = []
    got_two = threading.Event()
    # websocket-client sends an Origin of its own (http://<server host:port>, not allowed
    # here, as it should be): a non-browser client sends none.
    client = socketio.Client(reconnection=False, websocket_extra_options={"suppress_origin": True})

    @client.on("current count")
    def current_count(n: int) -> None:
        counts.append(n)
        if len(counts) == 2:
            got_two.set()

    headers = {"Cookie": cookie_pair(found.set_cookie)}
    client.connect(rt_sync.url, headers=headers, transports=["websocket"], wait_timeout=5)
    try:
        assert client.call("async-incr", timeout=5) == 1
        assert client.call("sync-incr", timeout=5) == 2
        assert got_two.wait(5) and counts == [1, 2]
        assert threads["async"] == "sessionio-loop"
        assert threads["sync"] not in ("sessionio-loop", threading.main_thread().name)
        assert rt_sync.notify_session_sync(found.session.id, "current count", 3) == 1
    finally:
        client.disconnect()


async def test_a_callable_returning_an_awaitable_is_awaited_on_the_loop(rt: SessionIo) -> None:
    class Handler:
        async def __call__(self, socket: Socket) -> str:
            await asyncio.sleep(0)
            return "awaited"

    rt.on("obj")(Handler())
    _, cookie = await new_cookie(rt)
    client, _ = await connect(rt, cookie=cookie)
    assert await client.call("obj", timeout=5) == "awaited"
    await client.disconnect()


async def test_waiting_calls_release_the_gil_and_the_loop(rt: SessionIo) -> None:
    """While a _sync call waits for the engine, other Python threads (here: the event loop
    that runs the client that must answer) keep running; so does the loop during an
    awaited call."""
    sockets: list[Socket] = []

    @rt.on_connection
    async def keep(socket: Socket) -> None:
        sockets.append(socket)

    _, cookie = await new_cookie(rt)
    client = socketio.AsyncClient(reconnection=False)

    @client.on("slow-question")
    async def slow_answer() -> str:
        await asyncio.sleep(0.3)
        return "late"

    await client.connect(rt.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=5)
    for _ in range(500):  # on_connection runs just after the client's connect completes
        if sockets:
            break
        await asyncio.sleep(0.01)
    [socket] = sockets
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        assert await asyncio.to_thread(socket.emit_with_ack_sync, "slow-question", timeout=3) == ["late"]
        assert ticks >= 15, f"the loop ran only {ticks} times while a thread waited"
        ticks = 0
        assert await socket.emit_with_ack("slow-question", timeout=3) == ["late"]
        assert ticks >= 15, f"the loop ran only {ticks} times during an awaited call"
    finally:
        ticker.cancel()
        await client.disconnect()
