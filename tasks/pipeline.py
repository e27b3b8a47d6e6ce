"""Thin Celery tasks: ids in → the step runner → ids out.

Task names are explicit strings (:class:`tg_parser.domain.runs.TaskName`) so
``celery call`` and Flower show stable names. Every step runs through
:mod:`tg_parser.services.execute`, the same code embedded mode runs; here the
back-off is :class:`tasks.policies.CeleryBackoff` (``Task.retry``). A channel
step that gives up has written its dead letter and failed its run; the task
then raises the error so Celery records the failure too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task

from tasks.app import app
from tasks.dispatch import CeleryDispatcher, correlation_headers
from tasks.policies import CeleryBackoff
from tg_parser.config import Settings, get_settings
from tg_parser.domain.runs import TaskName
from tg_parser.services import execute, pipeline
from tg_parser.services.steps import or_raise

RELIABLE: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


def _run_id(task: Task, run_id: str | None) -> str:
    return run_id or task.request.root_id or task.request.id


@app.task(name=TaskName.RUN_PIPELINE.value, bind=True)
def run_pipeline(self: Task, channel: str, export_dir: str | None = None) -> str:
    """Start a run of ``channel`` from its recorded source; returns the run id (the root id)."""
    settings = get_settings()
    run_id = _run_id(self, None)
    pipeline.start_run(
        database_url=settings.database_url,
        channel=channel,
        run_id=run_id,
        mode="celery",
        export_dir=export_dir,
    )
    app.send_task(TaskName.INGEST.value, args=(channel, run_id), headers=correlation_headers())
    return run_id


@app.task(name=TaskName.INGEST.value, **RELIABLE)
def ingest_channel(self: Task, channel: str, run_id: str | None = None) -> dict[str, Any]:
    """Read the channel's source, store its posts and fan out one ``process_message`` per post."""
    settings = get_settings()
    if run_id is None:
        run_id = _run_id(self, None)
        pipeline.start_run(database_url=settings.database_url, channel=channel, run_id=run_id, mode="celery")
    backoff = CeleryBackoff(self)
    report = or_raise(
        execute.execute_ingest(
            settings=settings,
            channel=channel,
            run_id=run_id,
            dispatcher=CeleryDispatcher(),
            backoff=backoff,
            attempt=backoff.attempt,
            guard=lambda: _channel_lock(settings, channel),
        )
    )
    return {"run_id": run_id, "posts_read": report.posts_read, "to_process": report.to_process}


@app.task(name=TaskName.PROCESS.value, ignore_result=True, **RELIABLE)
def process_message(self: Task, run_id: str | None, message_pk: int) -> str:
    """Process one post into its document (idempotent); the last one of a run starts topicize."""
    backoff = CeleryBackoff(self)
    return execute.execute_process(
        settings=get_settings(),
        run_id=run_id,
        message_pk=message_pk,
        dispatcher=CeleryDispatcher(),
        backoff=backoff,
        attempt=backoff.attempt,
    )


@app.task(name=TaskName.TOPICIZE.value, **RELIABLE)
def topicize_channel(self: Task, channel: str, run_id: str | None = None, full: bool = False) -> int:  # noqa: FBT001, FBT002 - a task's positional args
    """Place new posts in the channel's topics (or re-cluster it: drift, no fit, ``full``); then export."""
    backoff = CeleryBackoff(self)
    return or_raise(
        execute.execute_topicize(
            settings=get_settings(),
            channel=channel,
            run_id=run_id,
            dispatcher=CeleryDispatcher(),
            backoff=backoff,
            attempt=backoff.attempt,
            full=full,
        )
    )


@app.task(name=TaskName.EXPORT.value, **RELIABLE)
def export_channel(self: Task, channel: str, run_id: str | None = None) -> str | None:
    """Write the channel's ``documents.ndjson`` and ``topics.json``; the run succeeds."""
    backoff = CeleryBackoff(self)
    result = or_raise(
        execute.execute_export(
            settings=get_settings(),
            channel=channel,
            run_id=run_id,
            backoff=backoff,
            attempt=backoff.attempt,
            dispatcher=CeleryDispatcher(),
        )
    )
    return str(result.documents_path) if result is not None else None


@app.task(name=TaskName.DELIVER_WEBHOOK.value, **RELIABLE)
def deliver_webhook(self: Task, webhook_id: str, message_id: str, payload: dict[str, Any]) -> str:
    """POST one signed webhook delivery under the ``RETRY_WEBHOOK_*`` policy; gives up to a dead letter."""
    from tg_parser.services.webhooks import execute_delivery

    backoff = CeleryBackoff(self)
    return execute_delivery(
        settings=get_settings(),
        webhook_id=webhook_id,
        message_id=message_id,
        payload=payload,
        backoff=backoff,
        attempt=backoff.attempt,
    )


@app.task(name=TaskName.DOWNLOAD_MEDIA.value, **RELIABLE)
def download_media(self: Task, channel_key: str, message_id: int) -> str:
    """Download one live post's media into MEDIA_DIR under ``RETRY_MEDIA_*``; gives up to a dead letter."""
    from tg_parser.services.media import execute_download

    backoff = CeleryBackoff(self)
    return execute_download(
        settings=get_settings(),
        channel_key=channel_key,
        message_id=message_id,
        backoff=backoff,
        attempt=backoff.attempt,
    )


@app.task(name=TaskName.SCHEDULE.value, bind=True)
def schedule_due_channels(self: Task) -> list[str]:  # noqa: ARG001
    """Start a run for every channel whose schedule is due (Beat ticks it every minute)."""
    from tg_parser.services.health import record_beat_tick
    from tg_parser.services.schedule import claim_due_channels

    settings = get_settings()
    record_beat_tick(settings.redis_url)
    started = []
    for key in claim_due_channels(database_url=settings.database_url):
        result = app.send_task(TaskName.RUN_PIPELINE.value, args=(key,))
        started.append(f"{key}:{result.id}")
    return started


@app.task(name=TaskName.SWEEP.value, bind=True)
def sweep_stalled_runs(self: Task) -> list[str]:  # noqa: ARG001
    """Re-drive runs without progress for ``RUN_STALL_TIMEOUT_S`` (Beat ticks it)."""
    from tg_parser.services.sweeper import sweep_stalled_runs as sweep

    def resend_ingest(*, channel_key: str, run_id: str) -> None:
        app.send_task(TaskName.INGEST.value, args=(channel_key, run_id))

    redrives = sweep(settings=get_settings(), dispatcher=CeleryDispatcher(), resend_ingest=resend_ingest)
    return [f"{r.run_id}:{r.status}:{r.resent}" for r in redrives]


@contextmanager
def _channel_lock(settings: Settings, channel: str) -> Iterator[None]:
    """Hold the per-channel ingest lock in Redis (two ingests of a channel never overlap)."""
    redis_url = settings.redis_url
    if redis_url is None:
        yield
        return
    from tg_parser.sources.locks import redis_lock

    with redis_lock(redis_url, f"tg_parser:lock:ingest:{channel}", timeout_s=60.0, blocking_timeout_s=2.0):
        yield
