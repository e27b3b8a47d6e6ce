# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Run an iterator ahead of its consumer, in a thread.

Used where producing an item and consuming it can overlap because one side
waits with the GIL released: the export import reads and parses a file while
the database writes the previous batch (``services.sources.prefetched``);
topicize's assignment pass reads and tokenises posts while the previous batch
is projected (sparse and dense products) in ``topics.build``.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["read_ahead"]

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1


class _Failed:
    """Carries the producer's exception to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Producer:
    """The thread's side: runs ``items`` and hands each item over, until told to stop."""

    def __init__(self, items: Iterator[object], depth: int) -> None:
        self.items = items
        self.ready: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()

    def put(self, item: object) -> bool:
        """Queue ``item`` (waiting for room); ``False`` when told to stop first."""
        while not self.stop.is_set():
            try:
                self.ready.put(item, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False

    def run(self) -> None:
        """Produce every item, then the end mark, or the exception that ended the iterator."""
        try:
            for item in self.items:
                if not self.put(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self.put(_Failed(exc))
            return
        self.put(_DONE)


def read_ahead(items: Iterator[T], *, depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """Yield what ``items`` yields, in order, computing up to ``depth`` items ahead in a thread.

    ``items`` runs entirely in the thread, so whatever it uses (a database
    session, a cache) must not be used by anyone else until this generator is
    exhausted or closed. Closing it early (``break``, an exception in the
    consumer) stops the thread after the item it is computing and waits for it.

    Args:
        items: The iterator to run ahead.
        depth: Items computed and not yet taken, at most (memory bound: ``depth + 1`` items).
        name: The thread's name (seen in thread dumps and by tests).

    Yields:
        The items of ``items``.

    Raises:
        BaseException: Whatever ``items`` raised, re-raised in the consumer at its position.
    """
    producer = _Producer(items, depth)
    thread = threading.Thread(target=producer.run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = producer.ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        producer.stop.set()
        thread.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()
