"""Provider batch jobs on the cluster: ``submit_llm_batch``, then ``poll_llm_batch`` with a countdown.

No worker waits while the provider works: each poll is one short task that
reads the batches' states, applies the finished ones, and sends the next
poll with ``countdown = min(LLM_BATCH_POLL_S, max_countdown_s())`` (never
beyond the Redis visibility timeout, :func:`tasks.policies.max_countdown_s`).
The batch ids are committed by the submit before the first poll is sent, so
a worker killed mid-poll loses nothing: the redelivered poll (``acks_late``)
or the next one reads them from the database. The poll task's second
argument is the run's progress text, so Flower's task arguments show it.
"""

from __future__ import annotations

from celery import Task

from tasks.app import app
from tasks.dispatch import CeleryDispatcher, correlation_headers
from tasks.pipeline import RELIABLE
from tasks.policies import max_countdown_s
from tg_parser.config import get_settings
from tg_parser.domain.runs import TaskName
from tg_parser.services.llm_batch_steps import poll_step, submit_step
from tg_parser.services.processors import get_processor


def _send_poll(run_id: str, *, delay_s: float, progress: str) -> None:
    app.send_task(
        TaskName.POLL_LLM_BATCH.value,
        args=(run_id, progress),
        countdown=min(delay_s, max_countdown_s()),
        headers=correlation_headers(),
    )


@app.task(name=TaskName.SUBMIT_LLM_BATCH.value, **RELIABLE)
def submit_llm_batch(self: Task, run_id: str) -> str:
    """Upload the run's pending posts as provider batches (``RETRY_PROCESS_*``); start polling."""
    settings = get_settings()
    delay = submit_step(
        settings=settings,
        run_id=run_id,
        processor=get_processor(settings),
        attempt=int(self.request.retries) + 1,
    )
    if delay is not None:
        raise self.retry(countdown=min(delay, max_countdown_s()), max_retries=None)
    _send_poll(run_id, delay_s=settings.llm.llm_batch_poll_s, progress="batch: submitted")
    return run_id


@app.task(name=TaskName.POLL_LLM_BATCH.value, **RELIABLE)
def poll_llm_batch(self: Task, run_id: str, progress: str = "") -> str:  # noqa: ARG001
    """Poll the run's batches once; apply finished ones; re-send itself until every batch is applied."""
    settings = get_settings()
    delay, now = poll_step(
        settings=settings, run_id=run_id, processor=get_processor(settings), dispatcher=CeleryDispatcher()
    )
    text = now.describe() if now is not None else progress
    if delay is not None:
        _send_poll(run_id, delay_s=delay, progress=text)
    return text
