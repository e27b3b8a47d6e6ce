"""``read_ahead``: order, errors, bounded look-ahead and early close."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tg_parser.read_ahead import read_ahead


def test_yields_every_item_in_order_from_another_thread() -> None:
    """Every item comes through, in order, and is computed off the consumer's thread."""
    threads: list[str] = []

    def items() -> Iterator[int]:
        for i in range(1000):
            threads.append(threading.current_thread().name)
            yield i

    assert list(read_ahead(items())) == list(range(1000))
    assert set(threads) == {"read-ahead"}


def test_an_error_reaches_the_consumer_at_its_position() -> None:
    """Items before the error are yielded; then the producer's exception is raised as it was."""

    def items() -> Iterator[int]:
        yield 1
        yield 2
        msg = "broken row"
        raise ValueError(msg)

    stream = read_ahead(items())
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(ValueError, match="broken row"):
        next(stream)


def test_looks_ahead_at_most_depth_items_and_stops_when_closed() -> None:
    """The producer runs at most ``depth`` (+1 being computed) ahead; a break stops and closes it."""
    produced: list[int] = []
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    stream = read_ahead(items(), depth=2)
    assert next(stream) == 0
    taken = 1
    # Whatever the timing, the producer cannot be more than depth + 1 items past the consumer.
    for _ in range(50):
        assert len(produced) <= taken + 3
        assert next(stream) == taken
        taken += 1
    stream.close()
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert len(produced) <= taken + 3
