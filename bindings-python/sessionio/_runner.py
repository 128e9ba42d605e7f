"""Where ``async def`` socket callbacks run: an asyncio loop that the engine's threads
hand coroutines to."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


class LoopRunner:
    """Runs coroutines on ``loop``. ``submit`` may be called from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread | None = None) -> None:
        self.loop = loop
        self._thread = thread
        # asyncio keeps only weak references to tasks: hold them until they finish.
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def in_thread(cls) -> LoopRunner:
        """A runner with its own loop on a daemon thread ``sessionio-loop`` (sync mode)."""
        loop = asyncio.new_event_loop()
        running = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(running.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="sessionio-loop", daemon=True)
        thread.start()
        running.wait()
        return cls(loop, thread)

    def submit(self, coroutine: Coroutine[Any, Any, Any], done: Callable[[asyncio.Task[Any]], object]) -> None:
        """Starts ``coroutine`` as a task of the loop; ``done(task)`` runs when it ends.
        Raises ``RuntimeError`` if the loop is closed."""
        self.loop.call_soon_threadsafe(self._start, coroutine, done)

    def _start(self, coroutine: Coroutine[Any, Any, Any], done: Callable[[asyncio.Task[Any]], object]) -> None:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(done)

    def run_sync(self, awaitable: Awaitable[T]) -> T:
        """Awaits ``awaitable`` on the loop from another thread and returns its result."""
        return asyncio.run_coroutine_threadsafe(_await(awaitable), self.loop).result()

    def stop(self) -> None:
        """Stops and closes a loop this runner started; its pending tasks are cancelled."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        if thread is threading.current_thread():
            # Called from the loop itself (a finalizer run there): just stop it.
            self.loop.call_soon(self.loop.stop)
            return
        try:
            asyncio.run_coroutine_threadsafe(self._drain(), self.loop)
        except RuntimeError:
            return  # the loop is already closed
        thread.join(timeout=5)
        if not thread.is_alive():
            self.loop.close()

    async def _drain(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.loop.stop()
