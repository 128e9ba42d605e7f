"""Process lifecycle, each in a fresh interpreter: exit after close() and without it
(atexit), exit while a handler runs, fork(), and SIGTERM of the examples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio, os, sys, threading, time
import socketio
import sessionio
from sessionio import SessionIo, Socket
SECRET = "lifecycle-secret-0123456789abcdef0123456789"
def cookie(rt):
    found = rt.http_session_sync(None)
    return found.session, found.set_cookie.split(";")[0]
"""

CRASH_MARKERS = ("Fatal Python error", "panicked", "Traceback", "Segmentation", "core dumped")


def run(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    done.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return done


def assert_clean(done: subprocess.CompletedProcess[str], expected_out: str) -> None:
    assert done.returncode == 0, f"exit code {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == expected_out, done.stdout
    for marker in CRASH_MARKERS:
        assert marker not in done.stderr, done.stderr


def test_exit_after_close_async() -> None:
    done = run(
        """
        async def main():
            rt = SessionIo(secret=SECRET)
            @rt.on("ping")
            async def ping(socket: Socket) -> str:
                return "pong"
            await rt.start()
            _, c = cookie(rt)
            client = socketio.AsyncClient()
            await client.connect(rt.url, headers={"Cookie": c}, transports=["websocket"])
            assert await client.call("ping") == "pong"
            await rt.close()
            await asyncio.sleep(0.3)
            assert not client.connected
            print("closed")
        asyncio.run(main())
        """
    )
    assert_clean(done, "closed")
    assert done.elapsed < 10  # type: ignore[attr-defined]


def test_exit_without_close_sync_mode_with_a_connected_client() -> None:
    done = run(
        """
        rt = SessionIo(secret=SECRET)
        @rt.on("ping")
        async def ping(socket: Socket) -> str:
            return "pong"
        rt.start_sync()
        _, c = cookie(rt)
        client = socketio.Client(websocket_extra_options={"suppress_origin": True})
        client.connect(rt.url, headers={"Cookie": c}, transports=["websocket"])
        assert client.call("ping") == "pong"
        print("leaving without close")
        """
    )
    assert_clean(done, "leaving without close")
    assert done.elapsed < 10  # type: ignore[attr-defined]


def test_exit_without_close_async_mode() -> None:
    done = run(
        """
        async def main():
            rt = SessionIo(secret=SECRET)
            await rt.start()
            session = await rt.create_session()
            await session.increment("n")
            print("loop ends with the server running")
        asyncio.run(main())
        """
    )
    assert_clean(done, "loop ends with the server running")


def test_exit_while_a_plain_handler_is_running() -> None:
    done = run(
        """
        rt = SessionIo(secret=SECRET)
        @rt.on("slow")
        def slow(socket: Socket) -> int:
            time.sleep(1.5)
            return socket.session.increment_sync("n")
        rt.start_sync()
        _, c = cookie(rt)
        client = socketio.Client(websocket_extra_options={"suppress_origin": True})
        client.connect(rt.url, headers={"Cookie": c}, transports=["websocket"])
        client.emit("slow", callback=lambda *a: None)
        time.sleep(0.3)
        print("exiting mid-handler")
        """
    )
    assert_clean(done, "exiting mid-handler")


def test_exit_while_an_async_handler_is_running_on_the_loop_thread() -> None:
    done = run(
        """
        rt = SessionIo(secret=SECRET)
        @rt.on("slow")
        async def slow(socket: Socket) -> int:
            await asyncio.sleep(5)
            return 1
        rt.start_sync()
        _, c = cookie(rt)
        client = socketio.Client(websocket_extra_options={"suppress_origin": True})
        client.connect(rt.url, headers={"Cookie": c}, transports=["websocket"])
        client.emit("slow", callback=lambda *a: None)
        time.sleep(0.3)
        print("exiting with a pending coroutine")
        """
    )
    assert_clean(done, "exiting with a pending coroutine")
    assert done.elapsed < 10  # type: ignore[attr-defined]


def test_fork_a_started_engine_raises_in_the_child_and_a_new_one_works() -> None:
    done = run(
        """
        rt = SessionIo(secret=SECRET)
        rt.start_sync()
        session, _ = cookie(rt)
        not_started = SessionIo(secret=SECRET)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                try:
                    rt.notify_session_sync(session.id, "x")
                except sessionio.ServerError as e:
                    assert "started before fork()" in str(e), e
                    assert "gunicorn" in str(e)
                else:
                    raise AssertionError("no error in the forked child")
                for call in (rt.create_session_sync, rt.close_sync):
                    try:
                        call()
                    except sessionio.ServerError:
                        pass
                    else:
                        raise AssertionError(f"{call} worked in the child")
                # An engine that was not started before the fork starts in the child.
                not_started.start_sync()
                child_session = not_started.create_session_sync()
                assert child_session.increment_sync("n") == 1
                fresh = SessionIo(secret=SECRET)
                fresh.start_sync()
                assert fresh.create_session_sync().increment_sync("n") == 1
                fresh.close_sync()
                not_started.close_sync()
                status = 0
            except BaseException as e:
                print("child failed:", repr(e), file=sys.stderr)
            finally:
                sys.stdout.flush()
                os._exit(status)
        _, child_status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(child_status) == 0, child_status
        # The parent's engine is untouched.
        assert session.increment_sync("n") == 1
        rt.close_sync()
        print("fork ok")
        """
    )
    assert_clean(done, "fork ok")


@pytest.mark.parametrize("example", ["python-fastapi", "python-flask"])
def test_examples_print_their_line_and_stop_cleanly_on_sigterm(example: str) -> None:
    env = {**os.environ, "PORT": "0", "SOCKET_PORT": "0"}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / example / "app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening http=http://127.0.0.1:") and " socket=http://127.0.0.1:" in line, line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""  # exactly one line
        assert process.stderr is not None
        stderr = process.stderr.read()
        for marker in CRASH_MARKERS:
            assert marker not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
