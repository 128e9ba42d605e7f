"""The ASGI (FastAPI/Starlette) and WSGI (Flask) middlewares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from flask import Flask, g
from flask import Response as FlaskResponse
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from sessionio import Session, SessionIo, TooManySessionsError
from sessionio.asgi import SessionMiddleware, get_optional_session, get_session, session_of
from sessionio.wsgi import ENVIRON_REFUSAL, ENVIRON_SESSION, ENVIRON_SESSION_ID, current_session, init_flask
from sessionio.wsgi import SessionMiddleware as WsgiSessionMiddleware
from sessionio.wsgi import optional_session
from sessionio.wsgi import session_of as wsgi_session_of

from .conftest import ORIGIN, cookie_pair, make_engine

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SessionDep = Annotated[Session, Depends(get_session)]
OptionalSessionDep = Annotated[Session | None, Depends(get_optional_session)]


def fastapi_app(rt: SessionIo) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SessionMiddleware, sessionio=rt)

    @app.post("/incr")
    async def incr(session: SessionDep) -> PlainTextResponse:
        return PlainTextResponse(str(await session.increment("count")))

    @app.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        session = request.state.session
        return {
            "id": request.state.session_id,
            "same": session is not None and session.id == request.state.session_id,
            "refusal": None if request.state.session_refusal is None else request.state.session_refusal.message,
        }

    @app.post("/login")
    async def login(session: SessionDep) -> PlainTextResponse:
        renewed = await session.regenerate()
        return PlainTextResponse(renewed.id)

    @app.post("/logout")
    async def logout(session: OptionalSessionDep) -> Response:
        if session is not None:
            await session.destroy()
        return Response(status_code=204)

    return app


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


@pytest.fixture
def engine() -> SessionIo:
    return make_engine(cookie_secure=False)


async def test_asgi_new_session_then_same_session(engine: SessionIo) -> None:
    transport = httpx.ASGITransport(app=fastapi_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post("/incr")
        assert (first.status_code, first.text) == (200, "1")
        [cookie] = set_cookies(first)
        assert cookie.startswith("sessionio.sid=") and "HttpOnly" in cookie and "Secure" not in cookie
        headers = {"cookie": cookie_pair(cookie)}
        second = await client.post("/incr", headers=headers)
        assert (second.text, set_cookies(second)) == ("2", [])
        state = (await client.get("/state", headers=headers)).json()
        assert state == {"id": cookie_pair(cookie).split("=")[1].split(".")[0], "same": True, "refusal": None}


async def test_asgi_refused_cookie_answers_the_refusal_and_clears_it(engine: SessionIo) -> None:
    transport = httpx.ASGITransport(app=fastapi_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = await client.post("/incr", headers={"cookie": "sessionio.sid=forged"})
        assert (refused.status_code, refused.text) == (401, "invalid session")
        assert refused.headers["content-type"] == "text/plain; charset=utf-8"
        assert set_cookies(refused) == [engine.clear_cookie()]
        state = (await client.get("/state", headers={"cookie": "sessionio.sid=forged"})).json()
        assert state == {"id": None, "same": False, "refusal": "invalid session"}
        # A route that accepts refusals still runs, and the cookie is still cleared.
        out = await client.post("/logout", headers={"cookie": "sessionio.sid=forged"})
        assert (out.status_code, set_cookies(out)) == (204, [engine.clear_cookie()])


async def test_asgi_csrf_refuses_state_changing_requests_from_foreign_sites(engine: SessionIo) -> None:
    transport = httpx.ASGITransport(app=fastapi_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post("/incr")
        headers = {"cookie": cookie_pair(set_cookies(first)[0])}
        for site in ({"origin": "http://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}):
            refused = await client.post("/incr", headers={**headers, **site})
            assert (refused.status_code, refused.text, set_cookies(refused)) == (403, "origin not allowed", []), site
        assert (await client.post("/incr", headers={**headers, "origin": ORIGIN})).text == "2"
        same_origin = {**headers, "origin": "http://evil.example", "sec-fetch-site": "same-origin"}
        assert (await client.post("/incr", headers=same_origin)).text == "3"
        assert (await client.get("/state", headers={**headers, "origin": "http://evil.example"})).status_code == 200
    off = make_engine(cookie_secure=False, csrf_check=False)
    transport = httpx.ASGITransport(app=fastapi_app(off))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/incr", headers={"origin": "http://evil.example"})).text == "1"


async def test_asgi_regenerate_and_destroy_set_the_cookie(engine: SessionIo) -> None:
    transport = httpx.ASGITransport(app=fastapi_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        [cookie] = set_cookies(await client.post("/incr"))
        login = await client.post("/login", headers={"cookie": cookie_pair(cookie)})
        assert set_cookies(login) == [engine.set_cookie(login.text)]
        renewed = cookie_pair(set_cookies(login)[0])
        assert (await client.post("/incr", headers={"cookie": renewed})).text == "2"
        assert (await client.post("/incr", headers={"cookie": cookie_pair(cookie)})).status_code == 401
        out = await client.post("/logout", headers={"cookie": renewed})
        assert (out.status_code, set_cookies(out)) == (204, [engine.clear_cookie()])
        assert (await client.post("/incr", headers={"cookie": renewed})).status_code == 401
        # Logging out without a cookie: the request's session was never stored, so there
        # is no cookie to clear.
        fresh = await client.post("/logout")
        assert (fresh.status_code, set_cookies(fresh)) == (204, [])


async def test_asgi_on_plain_starlette_and_other_scopes(engine: SessionIo) -> None:
    async def page(request: Any) -> PlainTextResponse:
        session = session_of(request.scope)
        return PlainTextResponse(str(await session.increment("n")))

    # Inside Starlette's error middleware, as add_middleware() puts it.
    app = Starlette(routes=[Route("/", page)], middleware=[Middleware(SessionMiddleware, sessionio=engine)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/")).text == "1"
        refused = await client.get("/", headers={"cookie": "sessionio.sid=x"})
        assert (refused.status_code, refused.text) == (401, "invalid session")

    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert "state" not in scope

    await SessionMiddleware(inner, engine)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


async def test_asgi_without_the_middleware_is_a_clear_error() -> None:
    app = FastAPI()

    @app.get("/")
    async def page(session: SessionDep) -> str:
        return session.id

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(RuntimeError, match="SessionMiddleware is not installed"):
            await client.get("/")


async def test_finding_2_asgi_requests_that_do_not_write_get_no_cookie_and_store_nothing() -> None:
    """Finding 2 (issue 15): every cookieless request stored a session and got its cookie,
    health checks included. Now only a write (or save()) does, within max_sessions."""
    engine = make_engine(cookie_secure=False, max_sessions=1)
    app = fastapi_app(engine)

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/count")
    async def count(session: SessionDep) -> PlainTextResponse:
        return PlainTextResponse(str(await session.get("count", 0)))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(20):
            for path in ("/health", "/count", "/state"):
                response = await client.get(path)
                assert (response.status_code, set_cookies(response)) == (200, []), path
        # Had those requests stored sessions, max_sessions=1 would refuse this one.
        first = await client.post("/incr")
        assert (first.status_code, first.text) == (200, "1")
        [cookie] = set_cookies(first)
        client.cookies.clear()  # the next request comes without a cookie
        refused = await client.post("/incr")
        assert (refused.status_code, refused.text, set_cookies(refused)) == (503, "too many sessions", [])
        assert (await client.post("/incr", headers={"cookie": cookie_pair(cookie)})).text == "2"
    with pytest.raises(TooManySessionsError) as raised:
        await engine.create_session()
    error = raised.value
    assert (error.code, error.status, error.message, error.clear_cookie) == (
        "ERR_TOO_MANY_SESSIONS",
        503,
        "too many sessions",
        None,
    )


def test_finding_2_wsgi_requests_that_do_not_write_get_no_cookie_and_store_nothing() -> None:
    """Finding 2 (issue 15), through the WSGI middleware and Flask."""
    engine = make_engine(cookie_secure=False, max_sessions=1)
    app = flask_app(engine)

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/count")
    def count() -> str:
        return str(current_session().get_sync("count", 0))

    @app.get("/page")
    def page() -> str:
        session = current_session()
        session.save_sync()
        return session.id

    client = app.test_client(use_cookies=False)
    for _ in range(20):
        for path in ("/health", "/count", "/environ"):
            response = client.get(path)
            assert (response.status_code, response.headers.getlist("Set-Cookie")) == (200, []), path
    first = client.get("/page")
    assert first.headers.getlist("Set-Cookie") == [engine.set_cookie(first.text)]
    refused = client.post("/incr")
    assert (refused.status_code, refused.text, refused.headers.getlist("Set-Cookie")) == (503, "too many sessions", [])
    with pytest.raises(TooManySessionsError):
        engine.create_session_sync()


def flask_app(rt: SessionIo) -> Flask:
    app = Flask(__name__)
    init_flask(app, rt)

    @app.post("/incr")
    def incr() -> str:
        session = current_session()
        assert g.session is session
        return str(session.increment_sync("count"))

    @app.get("/environ")
    def environ() -> dict[str, Any]:
        env = flask_request.environ
        refusal = env[ENVIRON_REFUSAL]
        return {
            "id": env[ENVIRON_SESSION_ID],
            "has_session": env[ENVIRON_SESSION] is not None,
            "refusal": None if refusal is None else [refusal.status, refusal.message],
        }

    @app.post("/login")
    def login() -> str:
        return current_session().regenerate_sync().id

    @app.post("/logout")
    def logout() -> FlaskResponse:
        session = optional_session(flask_request.environ)
        if session is not None:
            session.destroy_sync()
        return FlaskResponse(status=204)

    return app


def test_wsgi_flask_sessions(engine: SessionIo) -> None:
    client = flask_app(engine).test_client(use_cookies=False)  # cookies by hand
    first = client.post("/incr")
    assert (first.status_code, first.text) == (200, "1")
    [cookie] = first.headers.getlist("Set-Cookie")
    headers = {"Cookie": cookie_pair(cookie)}
    second = client.post("/incr", headers=headers)
    assert (second.text, second.headers.getlist("Set-Cookie")) == ("2", [])
    env = client.get("/environ", headers=headers).get_json()
    assert env == {"id": cookie_pair(cookie).split("=")[1].split(".")[0], "has_session": True, "refusal": None}

    login = client.post("/login", headers=headers)
    assert login.headers.getlist("Set-Cookie") == [engine.set_cookie(login.text)]
    renewed = {"Cookie": cookie_pair(engine.set_cookie(login.text))}
    assert client.post("/incr", headers=renewed).text == "3"

    refused = client.post("/incr", headers=headers)
    assert (refused.status_code, refused.text) == (401, "invalid session")
    assert refused.headers.getlist("Set-Cookie") == [engine.clear_cookie()]
    assert refused.headers["Content-Type"].startswith("text/plain")
    env = client.get("/environ", headers=headers).get_json()
    assert env == {"id": None, "has_session": False, "refusal": [401, "invalid session"]}

    out = client.post("/logout", headers=renewed)
    assert (out.status_code, out.headers.getlist("Set-Cookie")) == (204, [engine.clear_cookie()])
    again = client.post("/logout", headers=renewed)
    assert (again.status_code, again.headers.getlist("Set-Cookie")) == (204, [engine.clear_cookie()])


def test_wsgi_csrf_refuses_state_changing_requests_from_foreign_sites(engine: SessionIo) -> None:
    client = flask_app(engine).test_client(use_cookies=False)
    first = client.post("/incr")
    headers = {"Cookie": cookie_pair(first.headers.getlist("Set-Cookie")[0])}
    for site in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = client.post("/incr", headers={**headers, **site})
        assert (refused.status_code, refused.text) == (403, "origin not allowed"), site
        assert refused.headers.getlist("Set-Cookie") == []
    assert client.post("/incr", headers={**headers, "Origin": ORIGIN}).text == "2"
    assert client.get("/environ", headers={**headers, "Origin": "http://evil.example"}).status_code == 200


def test_wsgi_on_a_plain_wsgi_app(engine: SessionIo) -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session = wsgi_session_of(environ)
        body = str(session.increment_sync("n")).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    wrapped = WsgiSessionMiddleware(app, engine)
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        calls.append((status, headers))
        return lambda data: None

    assert list(wrapped({"REQUEST_METHOD": "GET"}, start_response)) == [b"1"]
    status, headers = calls[-1]
    [(name, cookie)] = [h for h in headers if h[0] == "Set-Cookie"]
    assert status == "200 OK" and cookie.startswith("sessionio.sid=")
    assert list(wrapped({"HTTP_COOKIE": cookie_pair(cookie)}, start_response)) == [b"2"]
    assert [h for h in calls[-1][1] if h[0] == "Set-Cookie"] == []

    assert list(wrapped({"HTTP_COOKIE": "sessionio.sid=bad"}, start_response)) == [b"invalid session"]
    status, headers = calls[-1]
    assert status == "401 Unauthorized"
    assert ("Set-Cookie", engine.clear_cookie()) in headers

    with pytest.raises(RuntimeError, match="SessionMiddleware is not installed"):
        wsgi_session_of({})
