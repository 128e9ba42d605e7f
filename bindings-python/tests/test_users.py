"""Users across sessions: Session.login/logout/user_id, SessionIo.notify_user,
destroy_user, user_sessions, destroy_user_session, user_index_size, Socket.user_id, and
the client the ASGI and WSGI middlewares report for a login."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from flask import Flask

from sessionio import (
    InvalidSessionIdError,
    InvalidValueError,
    Session,
    SessionIo,
    SessionNotFoundError,
    Socket,
    UserSession,
)
from sessionio.asgi import SessionMiddleware, get_session
from sessionio.wsgi import current_session, init_flask

from .conftest import connect, cookie_pair, make_engine


async def logged_in(rt: SessionIo, user: str, **client: str) -> tuple[Session, str]:
    """A request's new session (with the client of `client`) logged in as `user`, and the
    cookie its response carries."""
    outcome = await rt.http_request(None, **client)
    assert outcome.session is not None
    session = await outcome.session.login(user)
    cookie = outcome.set_cookie()
    assert cookie is not None
    return session, cookie_pair(cookie)


def ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


async def test_login_rotates_the_id_keeps_the_data_and_binds_the_user(rt: SessionIo) -> None:
    session = await rt.create_session()
    await session.set("k", 1)
    assert await session.user_id() is None
    renewed = await session.login("ada")
    assert renewed.id != session.id
    assert await renewed.user_id() == "ada"
    assert await renewed.get("k") == 1
    with pytest.raises(SessionNotFoundError):
        await rt.session(session.id)
    # Logging in again (as another user) rotates again.
    again = renewed.login_sync("bob")
    assert again.id != renewed.id
    assert again.user_id_sync() == "bob"
    assert await rt.user_sessions("ada") == []
    assert len(await rt.user_sessions("bob")) == 1


async def test_logout_unbinds_rotates_and_keeps_the_data(rt: SessionIo) -> None:
    session = await (await rt.create_session()).login("ada")
    await session.set("k", "v")
    out = await session.logout()
    assert out.id != session.id
    assert await out.user_id() is None
    assert await out.get("k") == "v"
    assert await rt.user_sessions("ada") == []
    back = await out.login("ada")
    out_again = back.logout_sync()
    assert out_again.user_id_sync() is None and out_again.get_sync("k") == "v"


async def test_login_in_a_request_sets_the_new_cookie(rt: SessionIo) -> None:
    outcome = await rt.http_request(None)
    assert outcome.session is not None
    renewed = await outcome.session.login("ada")
    assert outcome.set_cookie() == rt.set_cookie(renewed.id)


@pytest.mark.parametrize("user", ["", "x" * 257, "a\nb", "tab\there"])
async def test_a_bad_user_id_is_an_invalid_value_error(rt: SessionIo, user: str) -> None:
    session = await rt.create_session()
    with pytest.raises(InvalidValueError) as raised:
        await session.login(user)
    assert raised.value.code == "ERR_INVALID_VALUE"
    with pytest.raises(InvalidValueError):
        session.login_sync(user)
    # Nothing was rotated.
    assert await session.user_id() is None
    assert (await rt.session(session.id)).id == session.id
    for call in (
        rt.notify_user(user, "e", 1),
        rt.destroy_user(user),
        rt.user_sessions(user),
        rt.destroy_user_session(user, "h" * 22),
    ):
        with pytest.raises(InvalidValueError):
            await call


async def test_the_longest_user_id_is_accepted(rt: SessionIo) -> None:
    session = await (await rt.create_session()).login("é" * 128)  # 256 bytes
    assert await session.user_id() == "é" * 128


async def test_user_sessions_lists_handles_clients_and_sockets(rt: SessionIo) -> None:
    before = time.time() * 1000
    phone, phone_cookie = await logged_in(rt, "ada", user_agent="phone/1.0", address="::ffff:10.0.0.7")
    laptop, _ = await logged_in(rt, "ada", user_agent="laptop/2.0", address="127.0.0.1")
    bare = await (await rt.create_session()).login("ada")  # no request: no client
    await logged_in(rt, "bob")
    # Before any socket: each entry shows the client of its login (logins of one
    # millisecond may list in any order).
    at_login = await rt.user_sessions("ada")
    assert all(isinstance(e, UserSession) for e in at_login)
    by_agent = {e.user_agent: e for e in at_login}
    assert {agent: e.address for agent, e in by_agent.items()} == {
        "phone/1.0": "10.0.0.7",
        "laptop/2.0": "127.0.0.1",
        None: None,
    }
    assert [e.sockets for e in at_login] == [0, 0, 0]
    handles = {e.handle for e in at_login}
    assert len(handles) == 3
    for entry in at_login:
        assert len(entry.handle) >= 16
        for session in (phone, laptop, bare):
            assert entry.handle not in session.id and session.id not in entry.handle
            assert session.id not in repr(entry.as_dict())
        assert entry.created_at.tzinfo == timezone.utc
        assert before - 1000 <= ms(entry.created_at) <= time.time() * 1000 + 1000
        assert ms(entry.last_seen) >= ms(entry.created_at) - 1000
    first = by_agent["phone/1.0"]
    assert first.as_dict() == {
        "handle": first.handle,
        "createdAt": ms(first.created_at),
        "lastSeen": ms(first.last_seen),
        "userAgent": "phone/1.0",
        "address": "10.0.0.7",
        "sockets": 0,
    }
    assert by_agent[None].as_dict()["userAgent"] is None
    assert first.handle in repr(first)

    client, _ = await connect(rt, cookie=phone_cookie)
    try:
        listed = await rt.user_sessions("ada")
        assert {e.handle: e.sockets for e in listed} == {e.handle: int(e is first) for e in at_login}
        # The same list from sync code; another user's is their own.
        assert [e.handle for e in rt.user_sessions_sync("ada")] == [e.handle for e in listed]
        [bobs] = await rt.user_sessions("bob")
        assert bobs.handle not in handles
        assert await rt.user_sessions("nobody") == []
    finally:
        await client.disconnect()


async def test_destroy_user_session_signs_out_that_session_only(rt: SessionIo) -> None:
    phone, phone_cookie = await logged_in(rt, "ada")
    laptop, _ = await logged_in(rt, "ada")
    bob, _ = await logged_in(rt, "bob")
    client, got = await connect(rt, cookie=phone_cookie)
    [bobs] = await rt.user_sessions("bob")
    assert await rt.destroy_user_session("ada", bobs.handle) is False  # another user's
    assert await rt.destroy_user_session("ada", "not-a-handle-of-anything") is False
    by_phone = {e.sockets: e.handle for e in await rt.user_sessions("ada")}
    assert await rt.destroy_user_session("ada", by_phone[1]) is True
    await asyncio.wait_for(got.disconnected.wait(), 5)
    assert not client.connected
    with pytest.raises(SessionNotFoundError):
        await rt.session(phone.id)
    assert await laptop.user_id() == "ada"
    assert await bob.user_id() == "bob"
    assert await rt.destroy_user_session("ada", by_phone[1]) is False
    assert rt.destroy_user_session_sync("ada", by_phone[0]) is True
    assert await rt.user_sessions("ada") == []


async def test_destroy_user_spares_the_session_it_is_told_to(rt: SessionIo) -> None:
    sessions = [(await logged_in(rt, "ada"))[0] for _ in range(3)]
    bob, _ = await logged_in(rt, "bob")
    keep = sessions[0]
    assert await rt.destroy_user("ada", except_session=keep.id) == 2
    for gone in sessions[1:]:
        with pytest.raises(SessionNotFoundError):
            await rt.session(gone.id)
    assert len(await rt.user_sessions("ada")) == 1
    assert await keep.increment("n") == 1
    with pytest.raises(InvalidSessionIdError):
        await rt.destroy_user("ada", except_session="not a session id")
    assert rt.destroy_user_sync("ada") == 1
    assert await rt.user_sessions("ada") == []
    assert await rt.destroy_user("ada") == 0
    assert await bob.user_id() == "bob"


async def test_notify_user_reaches_every_socket_of_the_user_and_socket_user_id() -> None:
    rt = make_engine()

    @rt.on("whoami")
    async def whoami(socket: Socket) -> Any:
        return socket.user_id

    async with rt:
        _, phone = await logged_in(rt, "ada")
        _, laptop = await logged_in(rt, "ada")
        _, other = await logged_in(rt, "bob")
        anonymous = await rt.http_session(None)
        assert anonymous.set_cookie is not None
        mine = [await connect(rt, cookie=c) for c in (phone, phone, laptop)]
        theirs, theirs_got = await connect(rt, cookie=other)
        nobody, _ = await connect(rt, cookie=cookie_pair(anonymous.set_cookie))
        try:
            assert await rt.notify_user("ada", "user message", {"text": "hi"}) == 3
            for _, got in mine:
                assert await got.wait_for("user message") == [({"text": "hi"},)]
            assert await rt.notify_user("nobody", "user message", "x") == 0
            assert await mine[0][0].call("whoami", timeout=5) == "ada"
            assert await theirs.call("whoami", timeout=5) == "bob"
            assert await nobody.call("whoami", timeout=5) is None
            await asyncio.sleep(0.2)
            assert theirs_got.of("user message") == []
            # From a worker thread, as a WSGI view would call it.
            assert await asyncio.to_thread(rt.notify_user_sync, "bob", "user message") == 1
            assert await theirs_got.wait_for("user message") == [(None,)]
        finally:
            for client, _ in [*mine, (theirs, None), (nobody, None)]:
                await client.disconnect()


async def test_login_disconnects_the_old_ids_sockets(rt: SessionIo) -> None:
    found = await rt.http_session(None)
    assert found.set_cookie is not None
    client, got = await connect(rt, cookie=cookie_pair(found.set_cookie))
    await found.session.login("ada")
    await asyncio.wait_for(got.disconnected.wait(), 5)
    assert not client.connected


async def test_user_index_size() -> None:
    async with make_engine() as rt:
        assert await rt.user_index_size() == {"users": 0, "sessions": 0}
        await logged_in(rt, "ada")
        await logged_in(rt, "ada")
        await logged_in(rt, "bob")
        assert await rt.user_index_size() == {"users": 2, "sessions": 3}
        assert await asyncio.to_thread(rt.user_index_size_sync) == {"users": 2, "sessions": 3}
        await rt.destroy_user("ada")
        assert await rt.user_index_size() == {"users": 1, "sessions": 1}


async def test_asgi_middleware_reports_the_client_of_a_login() -> None:
    rt = make_engine(cookie_secure=False)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, sessionio=rt)

    @app.post("/login")
    async def login(session: Annotated[Session, Depends(get_session)]) -> PlainTextResponse:
        return PlainTextResponse((await session.login("ada")).id)

    transport = httpx.ASGITransport(app=app, client=("::ffff:10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post("/login", headers={"user-agent": "asgi-browser/1.0"})
    assert r.status_code == 200
    assert r.headers.get_list("set-cookie") == [rt.set_cookie(r.text)]
    [entry] = await rt.user_sessions("ada")
    assert (entry.user_agent, entry.address) == ("asgi-browser/1.0", "10.1.2.3")


def test_wsgi_middleware_reports_the_client_of_a_login() -> None:
    rt = make_engine(cookie_secure=False)
    app = Flask(__name__)
    init_flask(app, rt)

    @app.post("/login")
    def login() -> str:
        return current_session().login_sync("ada").id

    client = app.test_client(use_cookies=False)
    r = client.post("/login", headers={"User-Agent": "wsgi-browser/2.0"}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert r.status_code == 200
    assert r.headers.getlist("Set-Cookie") == [rt.set_cookie(r.get_data(as_text=True))]
    [entry] = rt.user_sessions_sync("ada")
    assert (entry.user_agent, entry.address) == ("wsgi-browser/2.0", "10.9.8.7")
