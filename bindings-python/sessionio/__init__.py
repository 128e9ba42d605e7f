"""sessionio: a Socket.IO server that shares the web app's sessions, on a Rust engine.

>>> rt = SessionIo(secret=..., allowed_origins=["http://localhost:3000"], port=3001)
>>> @rt.on("incr")
... async def incr(socket: Socket) -> int:
...     n = await socket.session.increment("count")
...     await socket.session.notify("current count", n)
...     return n                                   # the ack
>>> await rt.start()                               # or rt.start_sync() in WSGI apps

Threading model: ``await rt.start()`` runs ``async def`` callbacks on the event loop that
awaited it; ``rt.start_sync()`` runs them on a dedicated loop thread (``sessionio-loop``).
Plain ``def`` callbacks run on the engine's worker threads, where the ``_sync`` methods
may be used. No call holds the GIL while it waits for the engine.

Fork: a ``SessionIo`` started before ``fork()`` raises :class:`ServerError` in the child
(its server and threads stayed in the parent); create and start one in each worker.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from . import _sessionio
from ._runner import LoopRunner
from ._sessionio import Address, Handshake, HttpOutcome, HttpSession, Session, Socket, UserSession, __version__
from .errors import (
    ConflictError,
    HandlerError,
    InvalidConfigError,
    InvalidSessionIdError,
    InvalidValueError,
    ServerError,
    SessionExpiredError,
    SessionIoError,
    SessionNotFoundError,
    SessionRefused,
    StoreUnavailableError,
    TooManySessionsError,
)

__all__ = [
    "Address",
    "ConflictError",
    "HandlerError",
    "Handshake",
    "HttpOutcome",
    "HttpSession",
    "InvalidConfigError",
    "InvalidSessionIdError",
    "InvalidValueError",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "SessionIo",
    "SessionIoError",
    "SessionNotFoundError",
    "SessionRefused",
    "Socket",
    "StoreUnavailableError",
    "TooManySessionsError",
    "UserSession",
    "__version__",
]

logger = logging.getLogger("sessionio")

F = TypeVar("F", bound=Callable[..., Any])

# Servers still running at exit are closed before the interpreter finalizes.
_running: weakref.WeakSet[SessionIo] = weakref.WeakSet()


def _guard(func: Callable[..., Any], what: str, runner: Callable[[], LoopRunner | None]) -> tuple[Callable[..., Any], bool]:
    """Wraps a user callback so that what it raises is logged; tells if it is async.

    A :class:`HandlerError` is logged at debug level, any other exception with its
    traceback. What the client's ack then gets is decided by the native side (only a
    ``HandlerError``'s message reaches a client; anything else is ``internal error``).
    A plain callable that returns an awaitable (e.g. an object with an async
    ``__call__``) has it awaited on the loop.
    """
    if inspect.iscoroutinefunction(func):

        async def run_coroutine(*args: Any) -> Any:
            try:
                return await func(*args)
            except HandlerError as e:
                logger.debug("%s answered an error: %s", what, e)
                raise
            except Exception:
                logger.exception("%s raised", what)
                raise

        return run_coroutine, True

    def run_plain(*args: Any) -> Any:
        try:
            result = func(*args)
            if inspect.isawaitable(result):
                loop_runner = runner()
                if loop_runner is None:
                    raise ServerError("sessionio is not started")
                result = loop_runner.run_sync(result)
            return result
        except HandlerError as e:
            logger.debug("%s answered an error: %s", what, e)
            raise
        except Exception:
            logger.exception("%s raised", what)
            raise

    return run_plain, False


class SessionIo(_sessionio.SessionIo):
    """The engine: Socket.IO on its own port, sharing the app's sessions.

    Keyword options are core's ``Options`` in snake_case (the ``SessionIo.__new__`` stub
    types and documents every one); an omitted keyword or ``None`` takes core's default, and
    core checks them all at construction: an unknown keyword, a wrong type or a bad value
    raises :class:`InvalidConfigError` (``invalid configuration: unknown option `x```).
    Every option, with its default, is listed once in the typed signature of
    ``SessionIo.__new__`` (``sessionio/_sessionio.pyi``: ``help(sessionio.SessionIo)``).
    """

    _runner: LoopRunner | None = None

    def _current_runner(self) -> LoopRunner | None:
        return self._runner

    def on(self, event: str) -> Callable[[F], F]:
        """Decorator: the handler of socket event ``event``, called as
        ``handler(socket, *args)``. Its return value answers the client's ack. Raising
        :class:`HandlerError` answers ``{"error": <its message>}``; any other exception
        answers ``{"error": "internal error"}`` and is logged with its traceback (its text
        never reaches the client). ``async def`` handlers run on the loop, plain ones on a
        worker thread."""

        def register(handler: F) -> F:
            guarded, is_async = _guard(handler, f"sessionio handler of {event!r}", self._current_runner)
            self._on(event, guarded, is_async)
            return handler

        return register

    def use(self, middleware: F) -> F:
        """Decorator: a per-event middleware, called as ``middleware(socket, event, args)``
        before the handler of every event, in the order added; raising stops the event
        (its ack is answered as for a handler: a :class:`HandlerError`'s message, else
        ``{"error": "internal error"}``)."""
        guarded, is_async = _guard(middleware, "sessionio middleware", self._current_runner)
        self._use(guarded, is_async)
        return middleware

    def on_connection(self, callback: F) -> F:
        """Decorator: called as ``callback(socket)`` for every accepted socket, after it
        joined its session's room."""
        guarded, is_async = _guard(callback, "sessionio on_connection callback", self._current_runner)
        self._on_connection(guarded, is_async)
        return callback

    async def start(self) -> None:
        """Binds and serves Socket.IO; ``async def`` callbacks run on this event loop."""
        runner = LoopRunner(asyncio.get_running_loop())
        self._set_runner(runner)
        self._runner = runner
        await self._serve()
        _running.add(self)

    async def _attach_here(self) -> None:
        """Serves Socket.IO through the ASGI app (``sessionio.asgi.SocketIOMiddleware``
        calls it at its first request): ``async def`` callbacks run on this event loop."""
        if self._runner is None:
            runner = LoopRunner(asyncio.get_running_loop())
            self._set_runner(runner)
            self._runner = runner
        await self._attach()
        _running.add(self)

    def start_sync(self) -> None:
        """Binds and serves Socket.IO from synchronous code (WSGI apps); ``async def``
        callbacks run on a dedicated loop thread, ``sessionio-loop``."""
        runner = LoopRunner.in_thread()
        self._set_runner(runner)
        self._runner = runner
        try:
            self._serve_sync()
        except BaseException:
            runner.stop()
            raise
        _running.add(self)
        # An engine dropped without close(): its server stops (the native side), and so
        # does this loop thread.
        weakref.finalize(self, runner.stop)

    async def close(self) -> None:
        """Disconnects every socket and stops the server. Calling it again does nothing."""
        await self._close()
        self._stop_runner()

    def close_sync(self) -> None:
        """:meth:`close` for synchronous code."""
        self._close_sync()
        self._stop_runner()

    def _stop_runner(self) -> None:
        _running.discard(self)
        runner = self._runner
        if runner is not None:
            runner.stop()

    async def __aenter__(self) -> SessionIo:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __enter__(self) -> SessionIo:
        self.start_sync()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_sync()


def _close_at_exit() -> None:
    for engine in list(_running):
        try:
            engine.close_sync()
        except SessionIoError as e:
            logger.debug("closing %r at exit: %s", engine, e)


# atexit runs handlers last-registered first: engines are closed, then the runtime's
# threads stop entering Python before the interpreter finalizes.
atexit.register(_sessionio._before_exit)
atexit.register(_close_at_exit)
os.register_at_fork(after_in_child=_sessionio._after_fork_in_child)
