"""Session: every method, as a coroutine and as its _sync twin, and the values it stores."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sessionio import (
    ConflictError,
    InvalidValueError,
    Session,
    SessionExpiredError,
    SessionIo,
    SessionNotFoundError,
)

from .conftest import cookie_pair, make_engine

JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**63 - 1,
    2**64 - 1,
    1.5,
    "héllo ✓",
    [],
    [1, "two", [3.0, None]],
    {},
    {"nested": {"list": [True, {"deep": "x"}]}, "n": 1},
]


@pytest.mark.parametrize("value", JSON_VALUES)
async def test_set_get_roundtrip(rt: SessionIo, value: Any) -> None:
    session = await rt.create_session()
    await session.set("key", value)
    assert await session.get("key") == value
    session.set_sync("other", value)
    assert session.get_sync("other") == value


async def test_tuples_are_stored_as_lists_and_key_order_is_kept(rt: SessionIo) -> None:
    session = await rt.create_session()
    await session.set("t", (1, 2))
    assert await session.get("t") == [1, 2]
    await session.set("d", {"z": 1, "a": 2, "m": 3})
    assert list((await session.get("d")).keys()) == ["z", "a", "m"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"raw", "a bytes cannot be stored in a session (session data is JSON: encode bytes"),
        (bytearray(b"raw"), "a bytearray cannot be stored in a session"),
        (object(), "a object cannot be stored in a session (use dict, list"),
        ({1: "x"}, "session keys must be str, not int"),
        (float("nan"), "NaN is not a JSON number"),
        (float("inf"), "inf is not a JSON number"),
        (2**64, "does not fit in 64 bits"),
        ({"s": {1, 2}}, "a set cannot be stored"),
    ],
)
async def test_values_that_cannot_be_stored(rt: SessionIo, value: Any, message: str) -> None:
    session = await rt.create_session()
    with pytest.raises(InvalidValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        await session.set("key", value)
    assert raised.value.code == "ERR_INVALID_VALUE"
    with pytest.raises(InvalidValueError):
        session.set_sync("key", value)
    assert await session.data() == {}


async def test_deeply_nested_values_are_refused(rt: SessionIo) -> None:
    session = await rt.create_session()
    nested: list[Any] = []
    nested.append(nested)  # a list that contains itself
    with pytest.raises(InvalidValueError, match="nested more than 128 levels"):
        await session.set("loop", nested)


async def test_get_default_remove_and_data(rt: SessionIo) -> None:
    session = await rt.create_session()
    assert await session.get("missing") is None
    assert await session.get("missing", 42) == 42
    assert session.get_sync("missing", "d") == "d"
    await session.set("a", 1)
    await session.set("b", [2])
    assert await session.data() == {"a": 1, "b": [2]}
    assert session.data_sync() == {"a": 1, "b": [2]}
    assert await session.remove("a") == 1
    assert await session.remove("a") is None
    assert session.remove_sync("b") == [2]
    assert await session.data() == {}


async def test_increment(rt: SessionIo) -> None:
    session = await rt.create_session()
    assert await session.increment("n") == 1
    assert await session.increment("n", 10) == 11
    assert session.increment_sync("n") == 12
    assert session.increment_sync("n", -20) == -8
    await session.set("s", "text")
    with pytest.raises(InvalidValueError, match="`s` is not an integer"):
        await session.increment("s")
    await session.set("big", 2**63 - 1)
    with pytest.raises(InvalidValueError, match="would overflow"):
        session.increment_sync("big")


async def test_concurrent_increments_lose_nothing(rt: SessionIo) -> None:
    session = await rt.create_session()
    results = await asyncio.gather(*(session.increment("n") for _ in range(200)))

    def in_threads() -> list[int]:
        out: list[int] = []
        lock = threading.Lock()

        def work() -> None:
            for _ in range(50):
                n = session.increment_sync("n")
                with lock:
                    out.append(n)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    results += await asyncio.to_thread(in_threads)
    assert sorted(results) == list(range(1, 401))
    assert await session.get("n") == 400


async def test_update_runs_a_transaction(rt: SessionIo) -> None:
    session = await rt.create_session()
    await session.set("items", [1])

    def add_item(data: dict[str, Any]) -> int:
        data["items"].append(len(data["items"]) + 1)
        data["touched"] = True
        return len(data["items"])

    assert await session.update(add_item) == 2
    assert session.update_sync(add_item) == 3
    assert await session.data() == {"items": [1, 2, 3], "touched": True}

    def clear(data: dict[str, Any]) -> None:
        data.clear()

    assert await session.update(clear) is None
    assert await session.data() == {}


async def test_update_that_raises_writes_nothing(rt: SessionIo) -> None:
    session = await rt.create_session()
    await session.set("n", 1)

    def fail(data: dict[str, Any]) -> None:
        data["n"] = 2
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        await session.update(fail)
    with pytest.raises(KeyError):
        session.update_sync(fail)

    def store_bytes(data: dict[str, Any]) -> None:
        data["b"] = b"x"

    with pytest.raises(InvalidValueError, match="a bytes cannot be stored"):
        await session.update(store_bytes)

    async def coroutine_function(data: dict[str, Any]) -> None:
        data["n"] = 3

    with pytest.raises(InvalidValueError, match="takes a plain function"):
        await session.update(coroutine_function)
    assert await session.data() == {"n": 1}


async def test_update_retries_on_conflict_then_gives_up(rt: SessionIo) -> None:
    session = await rt.create_session()
    runs = 0

    def write_elsewhere_first(data: dict[str, Any]) -> None:
        nonlocal runs
        runs += 1
        # Another writer changes the session while this transaction runs: every attempt
        # conflicts. (The _sync twin works inside the function, on any thread.)
        session.increment_sync("other")
        data["mine"] = runs

    with pytest.raises(ConflictError, match="gave up after 64 attempts") as raised:
        await session.update(write_elsewhere_first)
    assert raised.value.code == "ERR_CONFLICT"
    assert runs == 64
    assert await session.get("mine") is None
    assert await session.get("other") == 64

    once = 0

    def conflict_once(data: dict[str, Any]) -> str:
        nonlocal once
        once += 1
        if once == 1:
            session.set_sync("interloper", True)
        data["mine"] = once
        return "done"

    assert session.update_sync(conflict_once) == "done"
    assert once == 2
    assert await session.get("mine") == 2 and await session.get("interloper") is True


async def test_expires_at_and_expiry() -> None:
    rt = make_engine(ttl=timedelta(milliseconds=300))
    session = await rt.create_session()
    expires = await session.expires_at()
    assert isinstance(expires, datetime) and expires.tzinfo == timezone.utc
    now = datetime.now(timezone.utc)
    assert now < expires <= now + timedelta(milliseconds=400)
    assert session.expires_at_sync() == expires
    # A write through a request's handle counts as activity and extends the session.
    found = await rt.http_session(None)
    assert found.set_cookie is not None
    await asyncio.sleep(0.2)
    await found.session.increment("n")
    await asyncio.sleep(0.2)
    assert await found.session.get("n") == 1
    await asyncio.sleep(0.35)
    for call in (session.get("n"), session.increment("n"), session.data(), found.session.expires_at()):
        with pytest.raises(SessionExpiredError, match="session expired") as raised:
            await call
        assert raised.value.code == "ERR_SESSION_EXPIRED"
    with pytest.raises(SessionExpiredError):
        session.get_sync("n")


async def test_destroy_and_regenerate(rt: SessionIo) -> None:
    session = await rt.create_session()
    await session.set("user", "ada")
    renewed = await session.regenerate()
    assert isinstance(renewed, Session) and renewed != session
    assert await renewed.get("user") == "ada"
    with pytest.raises(SessionNotFoundError):
        await session.get("user")
    again = renewed.regenerate_sync()
    assert again.get_sync("user") == "ada"
    assert await again.destroy() == 0
    with pytest.raises(SessionNotFoundError, match="session not found") as raised:
        again.get_sync("user")
    assert raised.value.code == "ERR_SESSION_NOT_FOUND"
    other = await rt.create_session()
    assert other.destroy_sync() == 0
    with pytest.raises(SessionNotFoundError):
        await other.set("k", 1)


async def test_notify_through_the_session(rt: SessionIo) -> None:
    session = await rt.create_session()
    assert await session.notify("event", {"x": b"bin"}) == 0
    assert session.notify_sync("event") == 0
    with pytest.raises(InvalidValueError):
        await session.notify("event", {1, 2})


async def test_http_request_outcome_follows_the_request_session(rt: SessionIo) -> None:
    request = await rt.http_request(None)
    assert request.session is not None and request.refusal is None
    # A new session is stored, and its cookie set, by its first write or save().
    assert await request.session.get("count") is None
    assert request.set_cookie() is None
    await request.session.save()
    assert request.set_cookie() == rt.set_cookie(request.session.id)
    renewed = await request.session.regenerate()
    assert request.set_cookie() == rt.set_cookie(renewed.id)
    await renewed.destroy()
    assert request.set_cookie() == rt.clear_cookie()
    # An existing session's request carries no cookie until it changes.
    plain = await rt.create_session()
    known = rt.http_request_sync(cookie_pair(rt.set_cookie(plain.id)))
    assert known.session == plain and known.set_cookie() is None
    assert "HttpOutcome session=" in repr(known)
    await plain.destroy()
    assert cookie_pair(rt.clear_cookie()) == "sessionio.sid="


async def test_http_request_outcome_of_a_refused_cookie(rt: SessionIo) -> None:
    refused = await rt.http_request("sessionio.sid=forged")
    assert refused.session is None
    assert refused.refusal is not None
    assert (refused.refusal.status, refused.refusal.message) == (401, "invalid session")
    assert refused.refusal.clear_cookie == rt.clear_cookie()
    assert refused.set_cookie() == rt.clear_cookie()
    assert repr(refused) == "<sessionio.HttpOutcome refused 401 \"invalid session\">"


def test_session_equality_and_repr(rt_sync: SessionIo) -> None:
    session = rt_sync.create_session_sync()
    same = rt_sync.session_sync(session.id)
    assert session == same and session != object()
    assert len({session, same}) == 1
    assert repr(session) == f"<sessionio.Session {session.id}>"
