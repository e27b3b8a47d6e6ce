"""Dispatcher that sends the next steps of a run to the Celery cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from tasks.app import app
from tg_parser.domain.runs import TaskName

CORRELATION_HEADER = "tg_correlation_id"
"""Message header carrying the correlation id through a run's chain of tasks."""


def correlation_headers() -> dict[str, str]:
    """Headers that pass the current log context's correlation id on to the next task."""
    cid = structlog.contextvars.get_contextvars().get("correlation_id")
    return {CORRELATION_HEADER: str(cid)} if cid else {}


class CeleryDispatcher:
    """Sends ``process_message``/``topicize_channel``/``export_channel`` as Celery tasks.

    Sent from inside a task, the new tasks inherit the run's ``root_id``, so
    Flower and the ``runs`` table show one id for the whole run.

    Tasks are sent by name, so a process that never imported the task
    modules (the CLI replaying dead letters) can send them too.
    """

    def process_messages(self, *, run_id: str | None, message_pks: Sequence[int]) -> None:
        """Send one ``tg_parser.process_message`` per post over one producer connection.

        With ``task_send_sent_event`` on (``CELERY_TASK_SEND_SENT_EVENT``, for
        Flower), each post's ``task-sent`` event is still sent, in order, but
        :data:`SENT_EVENTS_PER_MESSAGE` of them go in one ``task.multi``
        message (Celery's own batching of a worker's task events), not one
        publish per post.
        """
        headers = correlation_headers()
        with app.producer_or_acquire() as producer:
            events = _SentEvents(producer) if app.conf.task_send_sent_event else None
            try:
                for pk in message_pks:
                    app.send_task(
                        TaskName.PROCESS.value,
                        args=(run_id, pk),
                        producer=producer,
                        headers=headers,
                        event_dispatcher=events,
                    )
            finally:
                if events is not None:
                    events.close()

    def submit_llm_batch(self, *, run_id: str) -> None:
        """Send ``tg_parser.submit_llm_batch`` (then polled by ``tg_parser.poll_llm_batch``)."""
        app.send_task(TaskName.SUBMIT_LLM_BATCH.value, args=(run_id,), headers=correlation_headers())

    def topicize(self, *, channel_key: str, run_id: str) -> None:
        """Send ``tg_parser.topicize_channel``."""
        app.send_task(TaskName.TOPICIZE.value, args=(channel_key, run_id), headers=correlation_headers())

    def export(self, *, channel_key: str, run_id: str) -> None:
        """Send ``tg_parser.export_channel``."""
        app.send_task(TaskName.EXPORT.value, args=(channel_key, run_id), headers=correlation_headers())

    def deliver_webhook(self, *, webhook_id: str, message_id: str, payload: dict[str, Any]) -> None:
        """Send ``tg_parser.deliver_webhook``."""
        app.send_task(
            TaskName.DELIVER_WEBHOOK.value,
            args=(webhook_id, message_id, payload),
            headers=correlation_headers(),
        )

    def download_media(self, *, channel_key: str, message_id: int) -> None:
        """Send ``tg_parser.download_media`` (its own task type, so downloads never hold up a run)."""
        app.send_task(
            TaskName.DOWNLOAD_MEDIA.value,
            args=(channel_key, message_id),
            headers=correlation_headers(),
        )


SENT_EVENTS_PER_MESSAGE = 100
"""``task-sent`` events of a fan-out per ``task.multi`` message."""


class _SentEvents:
    """What ``send_task`` takes as its ``event_dispatcher``: the fan-out's ``task-sent`` events, buffered.

    Celery publishes a task's ``task-sent`` event through ``publish`` right
    after the task's message; here it joins the ``task`` group's buffer of an
    ``EventDispatcher`` (``buffer_group``), which sends every
    :data:`SENT_EVENTS_PER_MESSAGE` events, and the rest on :meth:`close`,
    as one ``task.multi`` message each; event receivers (Flower's included)
    unpack the list.
    """

    def __init__(self, producer: Any) -> None:
        self._dispatcher = app.events.Dispatcher(
            producer.connection, buffer_group={"task"}, buffer_limit=SENT_EVENTS_PER_MESSAGE
        )

    def publish(self, type: str, fields: dict[str, Any], producer: Any, **_: Any) -> None:  # noqa: A002 - Celery's name
        """Buffer one event (``producer`` and the retry options are Celery's; the buffer has its own)."""
        del producer
        self._dispatcher.send(type, **fields)

    def close(self) -> None:
        """Send what is buffered and close the dispatcher."""
        try:
            self._dispatcher.flush()
        finally:
            self._dispatcher.close()
