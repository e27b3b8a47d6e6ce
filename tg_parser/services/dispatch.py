"""How the pipeline hands work to its next step.

The services decide *what* runs next; a :class:`Dispatcher` decides *where*:
in-process (embedded mode, :class:`InlineDispatcher`) or on the Celery cluster
(``tasks.dispatch.CeleryDispatcher``). The task code is the same either way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


class Dispatcher(Protocol):
    """Sends the next steps of a run somewhere to be executed."""

    def process_messages(self, *, run_id: str, message_pks: Sequence[int]) -> None:
        """Schedule one ``process_message`` per post."""
        ...

    def topicize(self, *, channel_key: str, run_id: str) -> None:
        """Schedule ``topicize_channel`` for the run."""
        ...

    def export(self, *, channel_key: str, run_id: str) -> None:
        """Schedule ``export_channel`` for the run."""
        ...


@dataclass(frozen=True)
class WorkItem:
    """One queued unit of in-process work: a step name and its keyword arguments."""

    step: str
    kwargs: dict[str, object]


class InlineDispatcher:
    """Queues steps in memory; :meth:`drain` executes them in order in this process.

    Embedded mode uses it: no broker, no worker, the same service functions.

    Args:
        execute: Called with each :class:`WorkItem` by :meth:`drain`.
    """

    def __init__(self, execute: Callable[[WorkItem], None]) -> None:
        """Start with an empty queue."""
        self._queue: deque[WorkItem] = deque()
        self._execute = execute

    def process_messages(self, *, run_id: str, message_pks: Sequence[int]) -> None:
        """Queue one ``process`` step per post."""
        for pk in message_pks:
            self._queue.append(WorkItem("process", {"run_id": run_id, "message_pk": pk}))

    def topicize(self, *, channel_key: str, run_id: str) -> None:
        """Queue the ``topicize`` step."""
        self._queue.append(WorkItem("topicize", {"channel_key": channel_key, "run_id": run_id}))

    def export(self, *, channel_key: str, run_id: str) -> None:
        """Queue the ``export`` step."""
        self._queue.append(WorkItem("export", {"channel_key": channel_key, "run_id": run_id}))

    def drain(self) -> None:
        """Execute queued steps (and the steps they queue) until none is left."""
        while self._queue:
            self._execute(self._queue.popleft())

    def __len__(self) -> int:
        """Return the number of queued steps."""
        return len(self._queue)
