"""The per-process Telethon runtime: one loop thread, one lazy client, clean shutdown, reset after fork."""

# Test helpers and fakes need no docstrings; every test has one.
# ruff: noqa: D102

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from typing import Any

import pytest

from tg_parser.sources import telethon_runtime
from tg_parser.sources.telethon_runtime import TelethonRuntime


class FakeClient:
    """Records connects/disconnects and the loop it was connected on."""

    def __init__(self) -> None:
        self.connected = False
        self.connects = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def is_connected(self) -> bool:
        return self.connected

    async def connect(self) -> None:
        self.connects += 1
        self.connected = True
        self.loop = asyncio.get_running_loop()

    async def disconnect(self) -> None:
        self.connected = False


def test_runtime_runs_everything_on_one_loop_with_one_lazy_client() -> None:
    """Every run() uses the same loop thread and the same client, built on first use only."""
    made: list[FakeClient] = []

    def factory() -> FakeClient:
        made.append(FakeClient())
        return made[-1]

    runtime = TelethonRuntime(factory)
    assert made == []  # nothing is built before it is needed

    async def who() -> tuple[Any, asyncio.AbstractEventLoop, str]:
        client = await runtime.client()
        return client, asyncio.get_running_loop(), threading.current_thread().name

    try:
        first = runtime.run(who())
        second = runtime.run(who())
        assert first == second
        assert len(made) == 1
        assert made[0].connects == 1
        assert made[0].loop is first[1]
        assert first[2] == "telethon-loop"
    finally:
        runtime.shutdown()


def test_iterate_drives_an_async_generator_from_sync_code_and_propagates_errors() -> None:
    """Pages come to the caller's thread one by one; an error inside the generator is raised to the caller."""
    runtime = TelethonRuntime(FakeClient)

    async def pages() -> Any:
        yield 1
        yield 2
        msg = "flood"
        raise RuntimeError(msg)

    got: list[int] = []

    def consume() -> None:
        for item in runtime.iterate(pages()):
            got.append(item)  # noqa: PERF402 - the loop body stands for a database commit

    try:
        with pytest.raises(RuntimeError, match="flood"):
            consume()
        assert got == [1, 2]
    finally:
        runtime.shutdown()


def test_shutdown_disconnects_stops_the_loop_and_refuses_more_work() -> None:
    """shutdown() disconnects the client and joins the loop thread; later calls are refused."""
    client = FakeClient()
    runtime = TelethonRuntime(lambda: client)
    runtime.run(runtime.client())
    thread = runtime._thread  # noqa: SLF001 - the test checks the loop thread really ends
    runtime.shutdown()
    runtime.shutdown()  # idempotent
    assert not client.connected
    assert thread is not None
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="shut down"):
        runtime.run(asyncio.sleep(0))


def _child_reports(queue: Any, parent_runtime_id: int) -> None:
    runtime = telethon_runtime.get_runtime(FakeClient)
    client = runtime.run(runtime.client())
    queue.put((id(runtime) != parent_runtime_id, client.connected, os.getpid()))
    telethon_runtime.shutdown_runtime()


def test_forked_child_builds_its_own_runtime() -> None:
    """After fork the child forgets the parent's loop and client and gets a fresh working runtime."""
    parent = telethon_runtime.get_runtime(FakeClient)
    parent_client = parent.run(parent.client())
    try:
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_child_reports, args=(queue, id(parent)))
        child.start()
        fresh, connected, pid = queue.get(timeout=30)
        child.join(30)
        assert child.exitcode == 0
        assert fresh
        assert connected
        assert pid != os.getpid()
        assert parent_client.connected  # the parent's client was not touched by the child
    finally:
        telethon_runtime.shutdown_runtime()
