"""How the pipeline hands work to its next step.

The services decide *what* runs next; a :class:`Dispatcher` decides *where*:
in-process (embedded mode, :class:`InlineDispatcher`) or on the Celery cluster
(``tasks.dispatch.CeleryDispatcher``). The task code is the same either way.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol


class Dispatcher(Protocol):
    """Sends the next steps of a run somewhere to be executed."""

    def process_messages(self, *, run_id: str, message_pks: Sequence[int]) -> None:
        """Schedule one ``process_message`` per post."""
        ...

    def submit_llm_batch(self, *, run_id: str) -> None:
        """Schedule ``submit_llm_batch``: the run's pending posts go to the provider's batch API."""
        ...

    def topicize(self, *, channel_key: str, run_id: str) -> None:
        """Schedule ``topicize_channel`` for the run."""
        ...

    def export(self, *, channel_key: str, run_id: str) -> None:
        """Schedule ``export_channel`` for the run."""
        ...

    def deliver_webhook(self, *, webhook_id: str, message_id: str, payload: dict[str, Any]) -> None:
        """Schedule ``deliver_webhook``: a signed POST of ``payload``, ``message_id`` its ``webhook-id``."""
        ...

    def download_media(self, *, channel_key: str, message_id: int) -> None:
        """Schedule ``download_media`` of one live post's file (``MEDIA_DOWNLOAD``)."""
        ...


PROCESS_STEPS = frozenset({"process", "process_batch"})
"""Steps that process posts: the ones a concurrent :meth:`InlineDispatcher.drain` runs side by side."""


@dataclass(frozen=True)
class WorkItem:
    """One queued unit of in-process work: a step name and its keyword arguments."""

    step: str
    kwargs: dict[str, object]


class InlineDispatcher:
    """Queues steps in memory; :meth:`drain` executes them in this process.

    Embedded mode uses it: no broker, no worker, the same service functions.
    With ``batch_size`` above 1, posts are queued as ``process_batch`` steps
    of up to that many posts (``message_pks``) instead of one ``process``
    step each. With ``concurrency`` above 1, ``process`` and ``process_batch``
    steps run in that many threads at once (each one call of ``execute``);
    any other step (topicize, export) waits until no post is in flight and
    runs alone, as it would after the last post sequentially. With
    ``concurrency=1`` everything runs in order in the calling thread.

    Args:
        execute: Called with each :class:`WorkItem` by :meth:`drain`; must be
            safe to call from several threads when ``concurrency`` > 1.
        concurrency: ``process`` steps in flight at once.
        on_start: Called by a concurrent :meth:`drain` before its threads start
            (to start worker processes while this is the only thread).
        on_close: Called by :meth:`close`, which a concurrent :meth:`drain` calls
            when it ends (to stop worker processes).
        batch_size: Posts per queued step (1: one ``process`` step per post).
    """

    def __init__(
        self,
        execute: Callable[[WorkItem], None],
        *,
        concurrency: int = 1,
        on_start: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
        batch_size: int = 1,
    ) -> None:
        """Start with an empty queue."""
        self._queue: deque[WorkItem] = deque()
        #: Media downloads: run only when nothing else is queued, so they never hold up a run.
        self._later: deque[WorkItem] = deque()
        self._lock = threading.Lock()
        self._execute = execute
        self._concurrency = max(1, concurrency)
        self._batch_size = max(1, batch_size)
        self._on_start = on_start
        self._on_close = on_close

    @property
    def concurrency(self) -> int:
        """``process`` steps in flight at once."""
        return self._concurrency

    def _push(self, item: WorkItem) -> None:
        with self._lock:
            self._queue.append(item)

    def _pop(self) -> WorkItem | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return self._later.popleft() if self._later else None

    def process_messages(self, *, run_id: str | None, message_pks: Sequence[int]) -> None:
        """Queue one ``process`` step per post, or ``process_batch`` steps of ``batch_size`` posts.

        ``run_id`` is ``None`` for posts processed outside a run (``tg-parser process``).
        """
        size = self._batch_size
        with self._lock:
            if size == 1:
                self._queue.extend(
                    WorkItem("process", {"run_id": run_id, "message_pk": pk}) for pk in message_pks
                )
                return
            self._queue.extend(
                WorkItem("process_batch", {"run_id": run_id, "message_pks": tuple(message_pks[i : i + size])})
                for i in range(0, len(message_pks), size)
            )

    def submit_llm_batch(self, *, run_id: str) -> None:
        """Queue the ``llm_batch`` step (submit, then poll until the batches are applied)."""
        self._push(WorkItem("llm_batch", {"run_id": run_id}))

    def topicize(self, *, channel_key: str, run_id: str) -> None:
        """Queue the ``topicize`` step."""
        self._push(WorkItem("topicize", {"channel_key": channel_key, "run_id": run_id}))

    def export(self, *, channel_key: str, run_id: str) -> None:
        """Queue the ``export`` step."""
        self._push(WorkItem("export", {"channel_key": channel_key, "run_id": run_id}))

    def deliver_webhook(self, *, webhook_id: str, message_id: str, payload: dict[str, Any]) -> None:
        """Queue a ``webhook`` delivery."""
        self._push(
            WorkItem("webhook", {"webhook_id": webhook_id, "message_id": message_id, "payload": payload})
        )

    def download_media(self, *, channel_key: str, message_id: int) -> None:
        """Queue a ``media`` download, run after every other queued step."""
        with self._lock:
            self._later.append(WorkItem("media", {"channel_key": channel_key, "message_id": message_id}))

    def drain(self) -> None:
        """Execute queued steps (and the steps they queue) until none is left.

        Raises:
            Exception: The first error ``execute`` raised; the posts already
                in flight finish first, the queued ones stay queued.
        """
        if self._concurrency == 1:
            while (item := self._pop()) is not None:
                self._execute(item)
            return
        try:
            if self._on_start is not None:
                self._on_start()
            with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="tg-process") as pool:
                self._drain_concurrently(pool)
        finally:
            self.close()

    def close(self) -> None:
        """Release what concurrent draining holds (worker processes); draining again restarts it."""
        if self._on_close is not None:
            self._on_close()

    def _drain_concurrently(self, pool: ThreadPoolExecutor) -> None:
        in_flight: set[Future[None]] = set()

        def reap(*, everything: bool) -> None:
            nonlocal in_flight
            done, in_flight = wait(in_flight, return_when="ALL_COMPLETED" if everything else FIRST_COMPLETED)
            for future in done:
                future.result()  # re-raise a step's error here, in the draining thread

        try:
            while True:
                if len(in_flight) >= self._concurrency:
                    reap(everything=False)
                    continue
                item = self._pop()
                if item is not None and item.step in PROCESS_STEPS:
                    in_flight.add(pool.submit(self._execute, item))
                    continue
                if in_flight:
                    if item is not None:
                        with self._lock:
                            self._queue.appendleft(item)  # runs once the posts in flight are done
                    reap(everything=item is not None)
                    continue
                if item is None:
                    return
                self._execute(item)
        finally:
            wait(in_flight)

    def __len__(self) -> int:
        """Return the number of queued steps."""
        with self._lock:
            return len(self._queue)
