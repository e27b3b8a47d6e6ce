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
        """Send one ``tg_parser.process_message`` per post over one producer connection."""
        headers = correlation_headers()
        with app.producer_or_acquire() as producer:
            for pk in message_pks:
                app.send_task(TaskName.PROCESS.value, args=(run_id, pk), producer=producer, headers=headers)

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
