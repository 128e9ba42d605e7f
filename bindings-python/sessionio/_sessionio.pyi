"""Type stubs of the native module (Rust, pyo3). Use it through ``sessionio``."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Self, TypeAlias, TypedDict, final

from .errors import SessionRefused


__version__: str

JsonValue: TypeAlias = None | bool | int | float | str | Sequence["JsonValue"] | Mapping[str, "JsonValue"]
"""What a session stores (JSON)."""

EventValue: TypeAlias = None | bool | int | float | str | bytes | bytearray | Sequence["EventValue"] | Mapping[str, "EventValue"]
"""What an event carries; ``bytes`` travel as binary attachments."""

Seconds: TypeAlias = float | timedelta

class ExpressSessionOptions(TypedDict, total=False):
    """``SessionIo(express_session=...)``: express-session's settings, read through
    connect-redis."""

    secret: str | bytes | Sequence[str | bytes]
    name: str
    redis_url: str
    redis_prefix: str

@final
class Session:
    """A live handle on one session: every read goes to the store, every write is atomic
    there (no reload; no save after a write). Each method is a coroutine with a ``_sync``
    twin.

    A request without a cookie gets a session that is not stored yet: reads see empty data
    and store nothing, and the response sends no cookie. Its first write (``set``,
    ``increment``, ``remove``, ``update``, ``regenerate``) or ``save()`` stores it and makes
    the response set its cookie; a page that opens a socket calls ``save()``. At
    ``max_sessions`` that raises :class:`sessionio.TooManySessionsError`."""

    @property
    def id(self) -> str: ...
    def get(self, key: str, default: Any = None) -> Awaitable[Any]: ...
    def get_sync(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: JsonValue) -> Awaitable[None]: ...
    def set_sync(self, key: str, value: JsonValue) -> None: ...
    def remove(self, key: str) -> Awaitable[Any]: ...
    def remove_sync(self, key: str) -> Any: ...
    def increment(self, key: str, by: int = 1) -> Awaitable[int]: ...
    def increment_sync(self, key: str, by: int = 1) -> int: ...
    def update(self, func: Callable[[dict[str, Any]], Any]) -> Awaitable[Any]: ...
    def update_sync(self, func: Callable[[dict[str, Any]], Any]) -> Any: ...
    def data(self) -> Awaitable[dict[str, Any]]: ...
    def data_sync(self) -> dict[str, Any]: ...
    def expires_at(self) -> Awaitable[datetime]: ...
    def expires_at_sync(self) -> datetime: ...
    def regenerate(self) -> Awaitable[Session]: ...
    def regenerate_sync(self) -> Session: ...
    def login(self, user_id: str) -> Awaitable[Session]:
        """Binds the session to ``user_id`` and gives it a new id, as ``regenerate()`` does
        (the old id's sockets are disconnected; in a request the response sets the new
        cookie); returns the new session. A user id has 1 to 256 bytes and no control
        characters, else :class:`sessionio.InvalidValueError`."""
    def login_sync(self, user_id: str) -> Session: ...
    def logout(self) -> Awaitable[Session]:
        """Unbinds the session from its user and gives it a new id; the data stays."""
    def logout_sync(self) -> Session: ...
    def user_id(self) -> Awaitable[str | None]:
        """The user the session is logged in as, ``None`` if none."""
    def user_id_sync(self) -> str | None: ...
    def save(self) -> Awaitable[None]: ...
    def save_sync(self) -> None: ...
    def destroy(self) -> Awaitable[int]: ...
    def destroy_sync(self) -> int: ...
    def notify(self, event: str, data: EventValue = None) -> Awaitable[int]: ...
    def notify_sync(self, event: str, data: EventValue = None) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

@final
class HttpSession:
    """What ``SessionIo.http_session()`` resolved a request's cookie to."""

    @property
    def session(self) -> Session: ...
    @property
    def set_cookie(self) -> str | None: ...

@final
class HttpOutcome:
    """What ``SessionIo.http_request()`` resolved a request's ``Cookie`` header to (the
    engine decides it all; host middlewares copy it)."""

    @property
    def session(self) -> Session | None:
        """The request's session (live and extended, or new); ``None`` if refused."""
    @property
    def refusal(self) -> SessionRefused | None:
        """Why the cookie was refused (answer its ``status`` with its ``message``)."""
    def set_cookie(self) -> str | None:
        """The ``Set-Cookie`` value the response carries, ``None`` when the cookie does not
        change. Read it when the response starts: it follows a ``regenerate()`` or
        ``destroy()`` made through the request's session."""

@final
class UserSession:
    """One live session of a user, as ``SessionIo.user_sessions()`` lists it ("your
    devices"), named by an opaque handle, never its id."""

    @property
    def handle(self) -> str:
        """Names the session for ``SessionIo.destroy_user_session()``."""
    @property
    def created_at(self) -> datetime:
        """When the session logged in as the user (aware, UTC)."""
    @property
    def last_seen(self) -> datetime:
        """Its last activity (aware, UTC), to the precision its expiry moves with."""
    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` of its login request, or of its latest socket."""
    @property
    def address(self) -> str | None:
        """The client's IP address at its login request, or at its latest socket."""
    @property
    def sockets(self) -> int:
        """Sockets connected to it now, on every node."""
    def as_dict(self) -> dict[str, Any]:
        """The entry exactly as core's JSON writes it in every language: ``{"handle",
        "createdAt", "lastSeen" (unix ms), "userAgent", "address", "sockets"}``."""

class UserIndexSize(TypedDict):
    """What ``SessionIo.user_index_size()`` returns."""

    users: int
    """Users with at least one indexed session."""
    sessions: int
    """Sessions bound to a user (expired ones until the store lets them go)."""

@final
class Address:
    """The client's address."""

    @property
    def ip(self) -> str: ...
    @property
    def port(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...

@final
class Handshake:
    """What the client sent when it connected, in core's one handshake shape (the same in
    Rust, Node and Python)."""

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; repeated headers joined with ", " (``cookie`` with "; ")."""
    @property
    def query(self) -> dict[str, str | list[str]]:
        """Query parameters; a repeated key gives the list of its values, in order."""
    @property
    def auth(self) -> Any: ...
    @property
    def time(self) -> datetime:
        """When the socket connected (aware, UTC)."""
    @property
    def address(self) -> Address | None: ...
    def as_dict(self) -> dict[str, Any]:
        """Core's JSON of the handshake, exactly: ``{"headers", "query", "auth", "time"
        (unix ms), "address" ({"ip", "port"} or None)}``."""

@final
class Socket:
    """One connected Socket.IO client."""

    @property
    def id(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def session_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None:
        """The user the session was logged in as when the socket connected."""
    @property
    def session(self) -> Session | None: ...
    @property
    def connected(self) -> bool: ...
    @property
    def handshake(self) -> Handshake: ...
    def emit(self, event: str, *args: EventValue) -> None: ...
    def emit_with_ack(self, event: str, *args: EventValue, timeout: Seconds | None = None) -> Awaitable[list[Any]]:
        """Emits and waits for the client's ack (its arguments); ``timeout`` defaults to
        core's ``DEFAULT_ACK_TIMEOUT`` (5 s)."""
    def emit_with_ack_sync(self, event: str, *args: EventValue, timeout: Seconds | None = None) -> list[Any]: ...
    def join(self, room: str) -> None:
        """Joins a room; a name starting with ``sessionio:`` (the engine's own rooms) raises
        ``InvalidValueError``."""
    def leave(self, room: str) -> None:
        """Leaves a room; a name starting with ``sessionio:`` raises ``InvalidValueError``."""
    def rooms(self) -> list[str]:
        """The rooms the socket joined (the engine's own rooms are not listed)."""
    def disconnect(self) -> None: ...

class SessionIo:
    def __new__(
        cls,
        *,
        secret: str | bytes | None = None,
        secrets: Sequence[str | bytes] | None = None,
        host: str | None = None,
        port: int | None = None,
        cookie_name: str | None = None,
        cookie_secure: bool | None = None,
        same_site: str | None = None,
        cookie_path: str | None = None,
        cookie_domain: str | None = None,
        ttl: Seconds | None = None,
        ttl_ms: int | None = None,
        extend_on_socket_activity: bool | None = None,
        allowed_origins: Sequence[str] | None = None,
        allow_any_origin: bool | None = None,
        allow_anonymous: bool | None = None,
        token_auth: bool | None = None,
        csrf_check: bool | None = None,
        max_connections_per_session: int | None = None,
        max_session_bytes: int | None = None,
        store: str | None = None,
        adapter: str | None = None,
        workers: bool | None = None,
        path: str | None = None,
        namespaces: Sequence[str] | None = None,
        ping_interval: Seconds | None = None,
        ping_interval_ms: int | None = None,
        ping_timeout: Seconds | None = None,
        ping_timeout_ms: int | None = None,
        connect_timeout: Seconds | None = None,
        connect_timeout_ms: int | None = None,
        max_payload: int | None = None,
        max_buffer_size: int | None = None,
        ws_read_buffer_size: int | None = None,
        max_pending_handshakes: int | None = None,
        max_pending_handshakes_per_address: int | None = None,
        max_sessions: int | None = None,
        express_session: ExpressSessionOptions | None = None,
    ) -> Self:
        """Every keyword is an option of the engine (core's ``Options``, snake_case); an
        omitted keyword or ``None`` takes core's default. Core checks them all: an unknown
        keyword, a value of the wrong type or a bad value raises ``InvalidConfigError``
        (``invalid configuration: unknown option `x```).

        - ``secret``: signs cookies and tokens, >= 32 bytes; or ``secrets`` (the first
          signs, any verifies). One of them is required.
        - ``host``: an IP address or ``"localhost"`` (default ``"127.0.0.1"``); ``port``
          (default 0: any free port).
        - ``cookie_name`` (default ``"sessionio.sid"``), ``cookie_secure`` (default
          ``True``), ``same_site``: ``"lax"`` (default), ``"strict"`` or ``"none"``,
          ``cookie_path`` (default ``"/"``), ``cookie_domain`` (default: host-only).
        - ``ttl``: inactivity timeout in seconds or a ``timedelta`` (default 24 h), or
          ``ttl_ms`` in milliseconds (not both).
        - ``extend_on_socket_activity`` (default ``True``).
        - ``allowed_origins`` (default none), ``allow_any_origin`` (default ``False``),
          ``allow_anonymous`` (default ``False``), ``token_auth`` (default ``True``),
          ``max_connections_per_session`` (default 32), ``max_session_bytes`` (default
          65 536: a write that would make a session's data larger, as JSON, raises
          ``InvalidValueError`` and writes nothing), ``csrf_check`` (default ``True``: the
          HTTP middlewares refuse state-changing requests from sites off the allow-list).
        - ``store``: ``"memory://"`` (default), ``"sqlite://<file>"``,
          ``"redis://<host>[:<port>][/<db>]"``; ``adapter``: ``"redis://..."`` links the
          engines of every process on that Redis, ``"local://"`` links nothing (default:
          the store URL if it is ``redis://``).
        - ``workers`` (default ``False``): this engine is one of several worker processes
          behind one port (``gunicorn -w``, ``uvicorn --workers``), each with its own
          engine created in the worker. Engine.IO polling requests and websocket upgrades
          reach the worker that holds their session, whichever worker gets them; the
          engine's own ``port`` is bound with ``SO_REUSEPORT``, so every worker binds the
          same one. Needs a ``redis://`` (or ``redis-cluster://``) store and its adapter,
          and the same secret in every worker.
        - ``path`` (default ``"/socket.io"``), ``namespaces`` (default ``["/"]``).
        - ``ping_interval`` (default 25 s), ``ping_timeout`` (default 20 s),
          ``connect_timeout`` (default 10 s): seconds or ``timedelta``, or the ``_ms``
          spellings in milliseconds.
        - ``max_payload`` (default 1 000 000 bytes), ``max_buffer_size`` (default 1024
          packets queued per socket), ``ws_read_buffer_size`` (default 1024 bytes a
          websocket reads at a time: memory per idle socket; larger messages still pass, up
          to ``max_payload``).
        - ``max_pending_handshakes`` (default 4096) and
          ``max_pending_handshakes_per_address`` (default 256): Engine.IO sessions not yet
          connected to a namespace; past them a new handshake gets HTTP 503 ``server busy``
          / 429 ``too many pending handshakes``.
        - ``max_sessions`` (default 1 000 000): sessions the store may hold; a new one past
          it raises ``TooManySessionsError`` (HTTP 503 ``too many sessions``).
        - ``express_session``: read the sessions of an Express app's express-session with
          connect-redis: ``{"secret": ..., "name": "connect.sid", "redis_url": ...,
          "redis_prefix": "sess:"}`` (``redis_url`` is required from Python).
        """
    @property
    def started(self) -> bool: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def cookie_name(self) -> str: ...
    def notify_session(self, session_id: str, event: str, data: EventValue = None) -> Awaitable[int]: ...
    def notify_session_sync(self, session_id: str, event: str, data: EventValue = None) -> int: ...
    def destroy_session(self, session_id: str) -> Awaitable[int]: ...
    def destroy_session_sync(self, session_id: str) -> int: ...
    def notify_user(self, user_id: str, event: str, data: EventValue = None) -> Awaitable[int]:
        """Emits to every socket of every session logged in as ``user_id`` (on every
        process with the Redis adapter); returns the sockets reached in this process."""
    def notify_user_sync(self, user_id: str, event: str, data: EventValue = None) -> int: ...
    def destroy_user(self, user_id: str, except_session: str | None = None) -> Awaitable[int]:
        """Destroys every session logged in as ``user_id`` but ``except_session`` (a session
        id: the caller's own, to sign out the other devices): their sockets disconnected,
        their cookies refused. Returns how many live sessions it destroyed."""
    def destroy_user_sync(self, user_id: str, except_session: str | None = None) -> int: ...
    def user_sessions(self, user_id: str) -> Awaitable[list[UserSession]]:
        """The live sessions logged in as ``user_id``, oldest login first."""
    def user_sessions_sync(self, user_id: str) -> list[UserSession]: ...
    def destroy_user_session(self, user_id: str, handle: str) -> Awaitable[bool]:
        """Destroys the session of ``user_id`` that ``handle`` names ("sign out that
        device"); ``False`` if the user has no live session of that handle."""
    def destroy_user_session_sync(self, user_id: str, handle: str) -> bool: ...
    def user_index_size(self) -> Awaitable[UserIndexSize]:
        """How many users and sessions the store's user index holds."""
    def user_index_size_sync(self) -> UserIndexSize: ...
    def issue_token(self, session_id: str, ttl: Seconds) -> str: ...
    def create_session(self) -> Awaitable[Session]: ...
    def create_session_sync(self) -> Session: ...
    def session(self, session_id: str) -> Awaitable[Session]: ...
    def session_sync(self, session_id: str) -> Session: ...
    def http_request(
        self, cookie_header: str | None = None, *, user_agent: str | None = None, address: str | None = None
    ) -> Awaitable[HttpOutcome]:
        """What a request's ``Cookie`` header resolves to. ``user_agent`` (the request's
        ``User-Agent``) and ``address`` (the client address as the server gives it) say who
        made it: ``Session.login()`` records them for the user's list of sessions."""
    def http_request_sync(
        self, cookie_header: str | None = None, *, user_agent: str | None = None, address: str | None = None
    ) -> HttpOutcome: ...
    def http_session(
        self, cookie_header: str | None = None, *, user_agent: str | None = None, address: str | None = None
    ) -> Awaitable[HttpSession]: ...
    def http_session_sync(
        self, cookie_header: str | None = None, *, user_agent: str | None = None, address: str | None = None
    ) -> HttpSession: ...
    def set_cookie(self, session_id: str) -> str: ...
    def clear_cookie(self) -> str: ...
    def check_request_site(
        self,
        method: str,
        origin: str | None = None,
        fetch_site: str | None = None,
        host: str | None = None,
    ) -> SessionRefused | None:
        """The cross-site request forgery check the HTTP middlewares run first: ``None``,
        or the :class:`SessionRefused` to answer (403 ``origin not allowed``, no cookie
        change) for a state-changing request whose ``Origin`` or ``Sec-Fetch-Site`` shows
        a site off the allow-list (``csrf_check=False`` turns it off). ``host`` is the
        request's ``Host``: a page of the server's own origin needs no list entry."""
    def stats(self) -> dict[str, int]: ...
    def metrics_text(self) -> str:
        """Every counter in the Prometheus text format (version 0.0.4), for a
        ``/metrics`` route the app serves to its operators only."""
    def _serve(self) -> Awaitable[int]: ...
    def _serve_sync(self) -> int: ...
    def _close(self) -> Awaitable[None]: ...
    def _attach(self) -> Awaitable[None]: ...
    def _serves(self, target: str) -> bool: ...
    @property
    def _max_body_bytes(self) -> int: ...
    def _forward(
        self,
        request_id: int,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        client: tuple[str, int] | None,
    ) -> Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]: ...
    def _cancel_forward(self, request_id: int) -> None: ...
    def _bridge(
        self, target: str, headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None
    ) -> Awaitable[Bridge | tuple[int, list[tuple[bytes, bytes]], bytes]]: ...
    def _close_sync(self) -> None: ...
    def _set_runner(self, runner: object) -> None: ...
    def _on(self, event: str, handler: Callable[..., Any], is_async: bool) -> None:
        """Registers ``handler(socket, *args)``; its value answers the ack. If it raises a
        ``HandlerError``, the ack gets ``{"error": <its message>}``; any other failure
        (another exception, a value that cannot be sent) answers
        ``{"error": "internal error"}`` and its detail is logged."""
    def _use(self, middleware: Callable[..., Any], is_async: bool) -> None:
        """Registers ``middleware(socket, event, args)``; a failure stops the event and
        answers its ack as ``_on``'s handlers do."""
    def _on_connection(self, callback: Callable[..., Any], is_async: bool) -> None: ...

class Bridge:
    """A websocket relayed between an ASGI server's connection and the engine."""
    def send(self, message: str | bytes) -> Awaitable[None]: ...
    def recv(self) -> Awaitable[str | bytes | None]: ...
    def close(self) -> Awaitable[None]: ...

class OutcomeSender:
    def __call__(self, task: object) -> None: ...

def _after_fork_in_child() -> None: ...
def _before_exit() -> None: ...
def _raise_engine_error(code: str, detail: str) -> None: ...
