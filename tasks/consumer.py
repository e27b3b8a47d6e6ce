"""The worker's consumer: task events leave a moment later, together, off the path between two tasks.

A prefork worker's main process buffers each task event (``task-received``,
``task-started``, ``task-succeeded``…; Celery's ``EventDispatcher`` with
``buffer_group=['task']``) and Celery's own consumer flushes the buffer at the
very next turn of the event loop: one Redis ``PUBLISH``, with its round trip,
per event. Two of them sit on the path between two tasks: the previous task's
``task-succeeded`` is published before the next message is fetched
(``BRPOP``), and the next task's ``task-received`` before the task is written
to the pool's child. (Measured with py-spy on a 1-slot prefork worker,
docs/performance.md: the event publishes were the largest share of the main
process's time per post.)

:class:`EventBatchingConsumer` flushes :data:`EVENT_FLUSH_DELAY_S` after an
event is buffered instead, through the event loop's timer. Meanwhile the loop
fetches the next message and hands it to the pool, and the events of that
interval leave in one ``task.multi`` message (Celery's format for a buffered
group: Flower and ``celery events`` read it as the single events, in order).
Every event is still sent, at most :data:`EVENT_FLUSH_DELAY_S` later; a full
buffer (Celery's ``buffer_limit``, 24 events) is still flushed at once; and the
buffer is flushed when the consumer stops or shuts down. Pools without an event
loop (threads, solo) send each event at once, as before.

Selected by ``worker_consumer`` in :func:`tasks.app.celery_config`.
"""

from __future__ import annotations

import contextlib

from celery.worker.consumer import Consumer

EVENT_FLUSH_DELAY_S = 0.01
"""How long a buffered task event waits for others before the buffer is published, in seconds.

Longer than the loop's work between two tasks (an ack, a ``BRPOP``, a write to
the pool: about a millisecond), so that work goes first; short next to
anything a person watching Flower would notice.
"""


class EventBatchingConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, flushing buffered task events on a timer (see the module docstring)."""

    def on_send_event_buffered(self) -> None:
        """Flush the event buffer :data:`EVENT_FLUSH_DELAY_S` from now (Celery: at the next loop turn).

        Each buffered event sets its own timer; the first that fires publishes
        everything buffered, and the others find the buffer empty (no publish).
        """
        if self.hub:
            self.hub.call_later(EVENT_FLUSH_DELAY_S, self._flush_events)

    def stop(self) -> None:
        """Publish the buffered events, then stop as Celery does."""
        self._flush_buffered()
        super().stop()

    def shutdown(self) -> None:
        """Publish the buffered events, then shut down as Celery does."""
        self._flush_buffered()
        super().shutdown()

    def _flush_buffered(self) -> None:
        # A timer's flush may not come now that the loop ends; an unreachable broker
        # loses these events as Celery's own close would (they are not retried).
        with contextlib.suppress(Exception):  # stopping must go on
            self._flush_events()
