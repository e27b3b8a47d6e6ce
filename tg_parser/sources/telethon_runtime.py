"""One Telethon client per worker process, on one event loop that lives with the process.

Telethon clients are bound to the event loop they connect on, and a Telegram
session must not be used by two connections at once. Celery workers are
synchronous, so each worker process gets a :class:`TelethonRuntime`: a
background thread running an asyncio loop for the whole life of the process,
a client created lazily on that loop, and :meth:`TelethonRuntime.run` /
:meth:`TelethonRuntime.iterate` to drive coroutines and async generators from
synchronous code.

Wiring (done by the task layer): nothing at import; :func:`get_runtime` on first
use; :func:`shutdown_runtime` from Celery's ``worker_process_shutdown`` signal.
After ``fork()`` the child forgets the parent's runtime (its thread does not
exist in the child and its sockets belong to the parent) and builds its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")


class TelethonRuntime:
    """A background event loop owning one lazily connected Telethon client.

    Args:
        client_factory: Returns a new, unconnected client (e.g.
            ``lambda: build_client(settings.telegram)``). Called once, on
            the runtime's loop, the first time :meth:`client` is awaited.
    """

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        """Remember the factory; no thread, loop or client is made yet."""
        self._factory = client_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._client_lock: asyncio.Lock | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runtime's event loop, started on first access.

        Raises:
            RuntimeError: After :meth:`shutdown`.
        """
        with self._start_lock:
            if self._closed:
                msg = "the Telethon runtime was shut down"
                raise RuntimeError(msg)
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name="telethon-loop", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, _T], *, timeout_s: float | None = None) -> _T:
        """Run a coroutine on the runtime's loop and wait for its result.

        Args:
            coro: The coroutine; it may ``await runtime.client()``.
            timeout_s: Give up waiting after this many seconds (the coroutine is cancelled).

        Returns:
            The coroutine's result; its exception is raised here.

        Raises:
            RuntimeError: Called from the runtime's own loop thread (it would
                deadlock), or after :meth:`shutdown`.
            TimeoutError: ``timeout_s`` passed.
        """
        try:
            loop = self.loop
        except RuntimeError:
            coro.close()
            raise
        if threading.current_thread() is self._thread:
            coro.close()
            msg = "TelethonRuntime.run() called from its own loop; await the coroutine instead"
            raise RuntimeError(msg)
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def iterate(self, agen: AsyncIterator[_T]) -> Iterator[_T]:
        """Iterate an async generator from synchronous code, one item per loop round-trip.

        The caller's own thread handles each item (e.g. commits a page to the
        database) before the next is fetched; closing the iterator closes the
        async generator on the loop.

        Args:
            agen: An async iterator created for this runtime's loop.

        Yields:
            The iterator's items; its exceptions are raised in the caller.
        """
        try:
            while True:
                try:
                    item = self.run(_anext(agen))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not self._closed:
                with contextlib.suppress(Exception):
                    self.run(aclose())

    async def client(self) -> Any:
        """Return the connected client, creating and connecting it on first call.

        Must be awaited on the runtime's loop (inside :meth:`run`). A client that
        lost its connection is connected again.

        Returns:
            The process's Telethon client.
        """
        if self._client_lock is None:
            self._client_lock = asyncio.Lock()
        async with self._client_lock:
            if self._client is None:
                self._client = self._factory()
                _log.info("telegram.client_created", pid=os.getpid())
            if not self._client.is_connected():
                await self._client.connect()
            return self._client

    def shutdown(self, *, timeout_s: float = 10.0) -> None:
        """Disconnect the client, stop the loop and join its thread. Idempotent.

        Args:
            timeout_s: Longest wait for the disconnect and for the thread.
        """
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            loop, thread, client = self._loop, self._thread, self._client
        if loop is None or thread is None:
            return
        if client is not None:
            future = asyncio.run_coroutine_threadsafe(_disconnect(client), loop)
            try:
                future.result(timeout_s)
            except Exception as exc:  # noqa: BLE001 - shutdown goes on whatever the network says
                _log.warning("telegram.disconnect_failed", error=type(exc).__name__)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if not thread.is_alive():
            loop.close()
        _log.info("telegram.runtime_shutdown", pid=os.getpid())


async def _anext(agen: AsyncIterator[_T]) -> _T:
    return await agen.__anext__()


async def _disconnect(client: Any) -> None:
    result = client.disconnect()
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result


_runtime: TelethonRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime(client_factory: Callable[[], Any] | None = None) -> TelethonRuntime:
    """Return this process's runtime, creating it on first call.

    Args:
        client_factory: Used only when the runtime is created; default builds
            the client from ``get_settings().telegram`` (``TELEGRAM_*``,
            :func:`tg_parser.sources.telegram_session.build_client`).

    Returns:
        The process-wide :class:`TelethonRuntime`.
    """
    global _runtime  # noqa: PLW0603 - one runtime per process is the point
    with _runtime_lock:
        if _runtime is None:
            _runtime = TelethonRuntime(client_factory or _default_client)
        return _runtime


def shutdown_runtime(*, timeout_s: float = 10.0) -> None:
    """Shut this process's runtime down (Celery ``worker_process_shutdown``); no-op if none.

    Args:
        timeout_s: See :meth:`TelethonRuntime.shutdown`.
    """
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown(timeout_s=timeout_s)


def _default_client() -> Any:
    from tg_parser.config import get_settings
    from tg_parser.sources.telegram_session import build_client

    return build_client(get_settings().telegram)


def _reset_after_fork() -> None:
    """Forget the parent's runtime in a forked child (its loop thread is not there)."""
    global _runtime, _runtime_lock  # noqa: PLW0603 - the child must drop the parent's runtime
    _runtime = None
    _runtime_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)
