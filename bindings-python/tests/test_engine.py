"""SessionIo: configuration, start/close, and the host API (async and sync)."""

from __future__ import annotations

import asyncio
import os
import gc
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import sessionio
from sessionio import (
    HttpSession,
    InvalidConfigError,
    InvalidSessionIdError,
    InvalidValueError,
    ServerError,
    Session,
    SessionIo,
    SessionNotFoundError,
    SessionRefused,
    StoreUnavailableError,
)
from sessionio.errors import ERROR_CLASSES, SessionIoError

from .conftest import SECRET, connect, cookie_pair, make_engine, refusal_message

UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA"


def test_version() -> None:
    assert sessionio.__version__ == "0.1.0"


S = {"secret": SECRET}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "a secret is required"),
        ({"secret": "short"}, "secret #1 is 5 bytes; at least 32 are required"),
        ({"secrets": [SECRET, b"short"]}, "secret #2 is 5 bytes"),
        ({**S, "secrets": [SECRET]}, "give either secret or secrets, not both"),
        ({"secrets": SECRET}, "option `secrets`: invalid type: string"),
        ({"secret": 12345}, "option `secret`: invalid type: integer `12345`, expected a string or bytes"),
        ({**S, "ttl": 0}, "ttl must be at least 1 ms"),
        ({**S, "ttl": -1}, "ttl must be a non-negative number of seconds"),
        ({**S, "ttl": timedelta(0)}, "ttl must be at least 1 ms"),
        ({**S, "ttl": 1, "ttl_ms": 1000}, "give either ttl or ttl_ms, not both"),
        ({**S, "ttl": object()}, "option `ttl`: a object is not an option value"),
        ({**S, "ttl": "10"}, "option `ttl`: invalid type: string \"10\", expected f64"),
        ({**S, "ttl": True}, "option `ttl`: invalid type: boolean `true`, expected f64"),
        ({**S, "cookie_nmae": "x"}, "unknown option `cookie_nmae`"),
        ({**S, "express_session": {"redis_urll": "x"}}, "unknown option `express_session.redis_urll`"),
        ({**S, "express_session": {"redis_url": 1}}, "option `express_session.redis_url`: invalid type: integer `1`"),
        ({"express_session": {"secret": "s"}}, "express_session needs express-session's store (or redis_url"),
        ({**S, "port": 70000}, "option `port`: invalid value: integer `70000`, expected u16"),
        ({**S, "host": "example.com"}, 'host must be an IP address such as "127.0.0.1" or "::", or "localhost", not "example.com"'),
        ({**S, "allowed_origins": ["*"]}, "wildcard"),
        ({**S, "allowed_origins": ["https://a.example/"]}, "no path"),
        ({**S, "allowed_origins": ["https://a.example"], "allow_any_origin": True}, "exclusive"),
        ({**S, "max_connections_per_session": 0}, "at least 1"),
        ({**S, "max_sessions": 0}, "max_sessions must be at least 1"),
        ({**S, "cookie_name": "a b"}, "not a valid cookie name"),
        ({**S, "same_site": "sideways"}, 'same_site must be "lax", "strict" or "none"'),
        ({**S, "same_site": "none", "cookie_secure": False}, "SameSite=None requires a Secure cookie"),
        ({**S, "cookie_path": "nope"}, "cookie path"),
        ({**S, "store": "mysql://db"}, 'unknown store URL "mysql://db"'),
        (
            {**S, "adapter": "mysql://x"},
            'unknown adapter URL "mysql://x"; supported: redis://<host>[:<port>][/<db>], local://',
        ),
        ({**S, "adapter": "redis://"}, 'unknown adapter URL "redis://"'),
        ({**S, "adapter": "memory://"}, 'unknown adapter URL "memory://"'),
        ({**S, "workers": True}, "workers(true) needs a redis://"),
        ({**S, "path": "socket.io"}, "path"),
        ({**S, "namespaces": ["chat"]}, "namespaces"),
        ({**S, "ping_timeout": 0}, "ping_timeout must be positive"),
        ({**S, "max_payload": 0}, "max_payload"),
    ],
)
def test_bad_configuration_names_the_value(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfigError) as raised:
        SessionIo(**options)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert str(raised.value).startswith("invalid configuration: ")
    assert raised.value.code == "ERR_INVALID_CONFIG"
    assert isinstance(raised.value, ValueError)


def test_every_option_is_accepted() -> None:
    rt = SessionIo(
        secrets=[SECRET.encode(), "another-secret-for-rotation-0123456789"],
        port=0,
        host="127.0.0.1",
        ttl=timedelta(minutes=5),
        allowed_origins=["https://app.example", "http://localhost:3000"],
        allow_anonymous=True,
        token_auth=False,
        extend_on_socket_activity=False,
        max_connections_per_session=4,
        cookie_name="app.sid",
        cookie_secure=True,
        same_site="Strict",
        cookie_path="/app",
        cookie_domain="app.example",
        store="memory://",
        adapter="local://",
        path="/realtime",
        namespaces=["/", "/chat"],
        ping_interval=10,
        ping_timeout=timedelta(seconds=5),
        connect_timeout=2.5,
        max_payload=10_000,
        max_buffer_size=64,
    )
    assert rt.cookie_name == "app.sid"
    assert rt.clear_cookie() == "app.sid=; Max-Age=0; Path=/app; Domain=app.example; HttpOnly; SameSite=Strict; Secure"
    assert not rt.started
    assert "not started" in repr(rt)


def test_secret_rotation_accepts_cookies_of_the_old_secret() -> None:
    old_secret = "the-old-secret-0123456789abcdef0123456789"
    rotated = make_engine(secrets=["the-new-secret-0123456789abcdef0123456789", old_secret])
    session = rotated.create_session_sync()
    # Another engine with the old secret signs this session's id as before the rotation.
    signed_by_old = cookie_pair(make_engine(secret=old_secret).set_cookie(session.id))
    assert signed_by_old != cookie_pair(rotated.set_cookie(session.id))
    assert rotated.http_session_sync(signed_by_old).session == session
    signed_by_stranger = cookie_pair(make_engine(secret="a-stranger-secret-0123456789abcdef01234").set_cookie(session.id))
    with pytest.raises(SessionRefused, match="invalid session"):
        rotated.http_session_sync(signed_by_stranger)


def test_error_classes_and_codes() -> None:
    assert set(ERROR_CLASSES) == {
        "ERR_INVALID_CONFIG",
        "ERR_SESSION_NOT_FOUND",
        "ERR_SESSION_EXPIRED",
        "ERR_INVALID_SESSION_ID",
        "ERR_STORE_UNAVAILABLE",
        "ERR_CONFLICT",
        "ERR_INVALID_VALUE",
        "ERR_SERVER",
        "ERR_TOO_MANY_SESSIONS",
    }
    for code, cls in ERROR_CLASSES.items():
        assert issubclass(cls, SessionIoError)
        assert cls.code == code
        assert getattr(sessionio, cls.__name__) is cls


@pytest.mark.parametrize("code", sorted(ERROR_CLASSES))
def test_every_engine_error_code_raises_its_class(code: str) -> None:
    with pytest.raises(ERROR_CLASSES[code]) as raised:
        sessionio._sessionio._raise_engine_error(code, "7")
    assert raised.value.code == code
    expected = {
        "ERR_INVALID_CONFIG": "invalid configuration: 7",
        "ERR_SESSION_NOT_FOUND": "session not found",
        "ERR_SESSION_EXPIRED": "session expired",
        "ERR_INVALID_SESSION_ID": "invalid session id",
        "ERR_STORE_UNAVAILABLE": "store unavailable: 7",
        "ERR_CONFLICT": "update conflict: gave up after 7 attempts",
        "ERR_INVALID_VALUE": "invalid value: 7",
        "ERR_SERVER": "server error: 7",
        "ERR_TOO_MANY_SESSIONS": "too many sessions",
    }[code]
    assert str(raised.value) == expected


async def test_start_port_url_and_close() -> None:
    rt = make_engine()
    with pytest.raises(ServerError, match="not started"):
        _ = rt.port
    await rt.start()
    assert rt.started
    port = rt.port
    assert port > 0
    assert rt.url == f"http://127.0.0.1:{rt.port}"
    assert f"serving 127.0.0.1:{rt.port}" in repr(rt)
    with pytest.raises(ServerError, match="already started"):
        await rt.start()
    # The port really listens.
    reader, writer = await asyncio.open_connection("127.0.0.1", rt.port)
    writer.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    writer.close()
    await rt.close()
    assert not rt.started
    await rt.close()  # again: nothing to do
    with pytest.raises(ServerError, match="was closed"):
        await rt.start()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


def test_start_sync_and_close_sync() -> None:
    rt = make_engine()
    rt.start_sync()
    port = rt.port
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    rt.close_sync()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


async def test_context_managers() -> None:
    async with make_engine() as rt:
        assert rt.started
    assert not rt.started
    with make_engine() as rt_sync:
        assert rt_sync.started
    assert not rt_sync.started


async def test_a_taken_port_is_a_server_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rt = make_engine(port=taken.getsockname()[1])
        with pytest.raises(ServerError, match="Address already in use"):
            await rt.start()
        with pytest.raises(ServerError, match="Address already in use"):
            rt.start_sync()
        assert not rt.started


async def test_async_api_needs_a_running_loop() -> None:
    rt = make_engine()
    session = await rt.create_session()

    def outside_loop() -> None:
        with pytest.raises(ServerError, match="no running asyncio event loop"):
            rt.notify_session(session.id, "x", 1)

    await asyncio.to_thread(outside_loop)


async def test_create_session_and_session(rt: SessionIo) -> None:
    created = await rt.create_session()
    assert isinstance(created, Session)
    assert len(created.id) == 22
    found = await rt.session(created.id)
    assert found == created and hash(found) == hash(created)
    assert rt.session_sync(created.id) == created
    assert rt.create_session_sync() != created
    with pytest.raises(SessionNotFoundError, match="session not found"):
        await rt.session(UNKNOWN_ID)
    with pytest.raises(SessionNotFoundError):
        rt.session_sync(UNKNOWN_ID)
    with pytest.raises(InvalidSessionIdError, match="invalid session id"):
        await rt.session("not-an-id")


async def test_notify_and_destroy_without_sockets(rt: SessionIo) -> None:
    session = await rt.create_session()
    assert await rt.notify_session(session.id, "hello", {"a": 1}) == 0
    assert rt.notify_session_sync(session.id, "hello") == 0
    assert await rt.notify_session(UNKNOWN_ID, "hello", 1) == 0
    assert await rt.destroy_session(session.id) == 0
    with pytest.raises(SessionNotFoundError):
        await rt.session(session.id)
    other = rt.create_session_sync()
    assert rt.destroy_session_sync(other.id) == 0
    for call in (
        lambda: rt.notify_session_sync("bad id", "e"),
        lambda: rt.destroy_session_sync("bad id"),
        lambda: rt.issue_token("bad id", 10),
        lambda: rt.set_cookie("bad id"),
    ):
        with pytest.raises(InvalidSessionIdError):
            call()
    with pytest.raises(InvalidSessionIdError):
        await rt.destroy_session("x")
    with pytest.raises(InvalidValueError, match="a object cannot be sent"):
        await rt.notify_session(UNKNOWN_ID, "e", object())


def test_issue_token(rt_sync: SessionIo) -> None:
    session = rt_sync.create_session_sync()
    token = rt_sync.issue_token(session.id, 60)
    assert token.startswith(session.id + ".")
    assert rt_sync.issue_token(session.id, timedelta(seconds=60)).startswith(session.id + ".")
    with pytest.raises(InvalidValueError, match="token ttl must be positive"):
        rt_sync.issue_token(session.id, 0)
    with pytest.raises(InvalidValueError, match="ttl must be a non-negative"):
        rt_sync.issue_token(session.id, -5)


async def test_http_session_new_existing_and_refused(rt: SessionIo) -> None:
    new = await rt.http_session(None)
    assert isinstance(new, HttpSession)
    assert new.set_cookie is not None and new.set_cookie.startswith("sessionio.sid=")
    assert "HttpOnly" in new.set_cookie and "Secure" in new.set_cookie
    cookie = cookie_pair(new.set_cookie)
    again = await rt.http_session(f"other=1; {cookie}")
    assert again.session == new.session
    assert again.set_cookie is None
    assert rt.http_session_sync(cookie).session == new.session
    assert rt.set_cookie(new.session.id) == new.set_cookie
    assert new.session.id in repr(again)

    for header in ("sessionio.sid=garbage", f"{cookie[:-2]}xx"):
        with pytest.raises(SessionRefused) as refused:
            await rt.http_session(header)
        assert (refused.value.status, refused.value.message) == (401, "invalid session")
        assert refused.value.clear_cookie == rt.clear_cookie()
        assert refused.value.clear_cookie.startswith("sessionio.sid=; Max-Age=0")

    await new.session.destroy()
    with pytest.raises(SessionRefused, match="invalid session"):
        rt.http_session_sync(cookie)


async def test_http_session_of_an_expired_session_is_refused() -> None:
    rt = make_engine(ttl=0.05)
    found = await rt.http_session(None)
    assert found.set_cookie is not None
    await asyncio.sleep(0.1)
    with pytest.raises(SessionRefused) as refused:
        await rt.http_session(cookie_pair(found.set_cookie))
    assert (refused.value.status, refused.value.message) == (401, "session expired")
    assert refused.value.clear_cookie == rt.clear_cookie()


def test_stats(rt_sync: SessionIo) -> None:
    assert rt_sync.stats() == {"sockets": 0, "sessions_with_sockets": 0}


def test_metrics_text_is_the_engines_prometheus_text(rt_sync: SessionIo) -> None:
    text = rt_sync.metrics_text()
    assert "# TYPE sessionio_sockets_connected gauge" in text
    assert "sessionio_sockets_connected 0" in text.splitlines()
    assert 'sessionio_handshakes_refused_total{reason="invalid session"} 0' in text


def test_an_engine_dropped_without_close_stops_its_server_and_loop_thread() -> None:
    rt = make_engine()
    rt.start_sync()
    port = rt.port
    loop_threads = [t for t in threading.enumerate() if t.name == "sessionio-loop"]
    assert loop_threads
    del rt
    gc.collect()
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            break
        assert time.monotonic() < deadline, "the server still listens"
        time.sleep(0.05)
    for thread in loop_threads:
        thread.join(timeout=5)
        assert not thread.is_alive()


async def test_a_start_scheduled_before_close_fails() -> None:
    rt = make_engine()
    starting = asyncio.ensure_future(rt.start())
    await rt.close()
    with pytest.raises(ServerError, match="was closed; create a new one"):
        await starting
    assert not rt.started


async def test_sqlite_store_keeps_sessions_across_engines(tmp_path: "os.PathLike[str]") -> None:
    store = f"sqlite://{tmp_path}/sessions.db"
    first = SessionIo(secret=SECRET, store=store)
    await first.start()
    session = await first.create_session()
    await session.set("user", "ada")
    await first.close()

    second = SessionIo(secret=SECRET, store=store)
    await second.start()
    try:
        again = await second.session(session.id)
        assert await again.get("user") == "ada"
    finally:
        await second.close()
    with pytest.raises(InvalidConfigError, match="unknown store URL"):
        SessionIo(secret=SECRET, store="mysql://x")


async def _pair(**options: Any) -> tuple[SessionIo, SessionIo]:
    """Two engines started with the same options."""
    a = make_engine(**options)
    b = make_engine(**options)
    await a.start()
    try:
        await b.start()
    except BaseException:
        await a.close()
        raise
    return a, b


async def _new_cookie(rt: SessionIo) -> tuple[str, str]:
    """A new session of `rt` as an HTTP request would create it: its id and cookie."""
    found = await rt.http_session(None)
    assert found.set_cookie is not None
    return found.session.id, cookie_pair(found.set_cookie)


async def test_redis_store_is_shared_by_two_engines(redis_url: str) -> None:
    a, b = await _pair(store=redis_url)
    try:
        session = await a.create_session()
        await session.set("user", "ada")
        assert await (await b.session(session.id)).increment("visits") == 1
        assert await session.get("visits") == 1
        assert await (await b.session(session.id)).get("user") == "ada"
    finally:
        await a.close()
        await b.close()


async def test_redis_store_links_engines_notify_session_reaches_the_other(redis_url: str) -> None:
    a, b = await _pair(store=redis_url)
    try:
        session_id, cookie = await _new_cookie(a)
        client, got = await connect(b, cookie=cookie)
        try:
            assert b.stats() == {"sockets": 1, "sessions_with_sockets": 1}
            assert a.stats() == {"sockets": 0, "sessions_with_sockets": 0}
            # a has no socket of the session: it reaches b's through Redis, and counts 0.
            assert await a.notify_session(session_id, "current count", {"n": 7, "from": "a", "tags": ["x", 1]}) == 0
            assert await got.wait_for("current count") == [({"n": 7, "from": "a", "tags": ["x", 1]},)]
            assert a.notify_session_sync(session_id, "current count", 8) == 0
            assert await got.wait_for("current count", 2) == [({"n": 7, "from": "a", "tags": ["x", 1]},), (8,)]
            # The engine that has the socket counts it, and reaches it once.
            assert await b.notify_session(session_id, "current count", 9) == 1
            await got.wait_for("current count", 3)
            await asyncio.sleep(0.1)
            assert got.of("current count") == [({"n": 7, "from": "a", "tags": ["x", 1]},), (8,), (9,)]
            assert [name for name, _ in got.events] == ["current count"] * 3
        finally:
            await client.disconnect()
    finally:
        await a.close()
        await b.close()


async def test_redis_store_links_engines_destroy_session_disconnects_the_others_sockets(redis_url: str) -> None:
    a, b = await _pair(store=redis_url)
    try:
        session_id, cookie = await _new_cookie(a)
        _, other_cookie = await _new_cookie(a)
        clients = [await connect(b, cookie=cookie) for _ in range(2)]
        other, other_got = await connect(b, cookie=other_cookie)
        try:
            assert await a.destroy_session(session_id) == 0
            for _, got in clients:
                await asyncio.wait_for(got.disconnected.wait(), 5)
                # python-socketio's reason for a DISCONNECT packet from the server
                # (socket.io-client calls it "io server disconnect").
                assert got.disconnect_reason == "server disconnect"
            await asyncio.sleep(0.1)
            assert other.connected and not other_got.disconnected.is_set()
            assert b.stats() == {"sockets": 1, "sessions_with_sockets": 1}
            assert await refusal_message(b, cookie=cookie) == "invalid session"
        finally:
            for client, _ in clients:
                await client.disconnect()
            await other.disconnect()
    finally:
        await a.close()
        await b.close()


async def test_adapter_redis_links_engines_whose_store_is_not_redis(redis_url: str) -> None:
    a, b = await _pair(store="memory://", adapter=redis_url)
    try:
        # The session lives in b's memory store only; a notifies it by id.
        session_id, cookie = await _new_cookie(b)
        client, got = await connect(b, cookie=cookie)
        try:
            assert await a.notify_session(session_id, "news", "from a") == 0
            assert await got.wait_for("news") == [("from a",)]
        finally:
            await client.disconnect()
    finally:
        await a.close()
        await b.close()


async def test_adapter_local_keeps_notify_and_destroy_on_their_engine(redis_url: str) -> None:
    a, b = await _pair(store=redis_url, adapter="local://")
    try:
        session_id, cookie = await _new_cookie(a)
        client, got = await connect(b, cookie=cookie)
        try:
            assert await a.notify_session(session_id, "current count", 1) == 0
            await asyncio.sleep(0.5)
            assert got.events == [], "a's notification must not cross to b"
            # b itself reaches it: the silence above is not a broken socket.
            assert await b.notify_session(session_id, "current count", 2) == 1
            assert await got.wait_for("current count") == [(2,)]

            assert await a.destroy_session(session_id) == 0
            await asyncio.sleep(0.5)
            assert client.connected and not got.disconnected.is_set(), "a's destroy must not disconnect b's socket"
            # The record is gone from the shared store all the same.
            with pytest.raises(SessionNotFoundError):
                await b.session(session_id)
        finally:
            await client.disconnect()
    finally:
        await a.close()
        await b.close()


async def test_adapter_whose_redis_does_not_answer_fails_start() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rt = make_engine(adapter=f"redis://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="redis adapter: not subscribed within 5000 ms") as raised:
        await rt.start()
    assert raised.value.code == "ERR_STORE_UNAVAILABLE"
    assert time.monotonic() - started < 7
    assert not rt.started
    await rt.close()


def test_options_are_cores_millisecond_spellings_and_localhost() -> None:
    rt = SessionIo(
        secret=SECRET,
        host="localhost",
        ttl_ms=1500,
        ping_interval_ms=10_000,
        ping_timeout_ms=5_000,
        connect_timeout_ms=2_500,
        cookie_secure=None,
    )
    rt.start_sync()
    try:
        assert rt.url == f"http://127.0.0.1:{rt.port}"
        session = rt.create_session_sync()
        remaining = (session.expires_at_sync() - datetime.now(timezone.utc)).total_seconds()
        assert 0.5 < remaining <= 1.5
    finally:
        rt.close_sync()


def test_an_unknown_keyword_is_refused_by_name() -> None:
    with pytest.raises(InvalidConfigError) as raised:
        SessionIo(secret=SECRET, cookie_nmae="x")  # type: ignore[call-arg]
    assert str(raised.value) == "invalid configuration: unknown option `cookie_nmae`"
    assert raised.value.code == "ERR_INVALID_CONFIG"
