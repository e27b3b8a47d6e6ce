"""Thin Celery tasks: ids in → a service call → ids out.

Task names are explicit strings (``tg_parser.*``) so ``celery call`` and
Flower show stable names. Retries go through ``Task.retry`` with the
countdown from :mod:`tasks.policies`; a task that gives up writes a dead
letter and lets its run go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from celery import Task

from tasks.app import app
from tasks.dispatch import CeleryDispatcher, correlation_headers
from tasks.policies import decide
from tg_parser.config import Settings, get_settings
from tg_parser.services import pipeline
from tg_parser.services.processors import get_processor
from tg_parser.storage import repositories as repo
from tg_parser.storage.session import session_scope

log = structlog.get_logger(__name__)

RELIABLE: dict[str, Any] = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


def _run_id(task: Task, run_id: str | None) -> str:
    return run_id or task.request.root_id or task.request.id


@app.task(name="tg_parser.run_pipeline", bind=True)
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
    app.send_task("tg_parser.ingest_channel", args=(channel, run_id), headers=correlation_headers())
    return run_id


@app.task(name="tg_parser.ingest_channel", **RELIABLE)
def ingest_channel(self: Task, channel: str, run_id: str | None = None) -> dict[str, Any]:
    """Read the channel's source, store its posts and fan out one ``process_message`` per post."""
    settings = get_settings()
    if run_id is None:
        run_id = _run_id(self, None)
        pipeline.start_run(database_url=settings.database_url, channel=channel, run_id=run_id, mode="celery")
    try:
        with _channel_lock(settings, channel):
            report = pipeline.ingest_channel(
                settings=settings,
                channel=channel,
                run_id=run_id,
                processor=get_processor(settings),
                dispatcher=CeleryDispatcher(),
            )
    except Exception as exc:
        _retry_or_give_up(self, exc, channel=channel, run_id=run_id)
        raise
    return {"run_id": run_id, "posts_read": report.posts_read, "to_process": report.to_process}


@app.task(name="tg_parser.process_message", **RELIABLE)
def process_message(self: Task, run_id: str | None, message_pk: int) -> str:
    """Process one post into its document (idempotent); the last one of a run starts topicize."""
    settings = get_settings()
    dispatcher = CeleryDispatcher()
    try:
        return pipeline.process_message(
            settings=settings,
            run_id=run_id,
            message_pk=message_pk,
            processor=get_processor(settings),
            dispatcher=dispatcher,
        )
    except Exception as exc:
        decision = decide(self.name, retries_done=self.request.retries, error=exc)
        if decision.retry:
            raise self.retry(exc=exc, countdown=decision.countdown_s, max_retries=None) from exc
        pipeline.record_failure(
            settings=settings,
            run_id=run_id,
            message_pk=message_pk,
            error=exc,
            attempts=decision.attempts,
            dispatcher=dispatcher,
        )
        return "failed"


@app.task(name="tg_parser.topicize_channel", **RELIABLE)
def topicize_channel(self: Task, channel: str, run_id: str | None = None) -> int:
    """Group the channel's documents into topics; then export."""
    settings = get_settings()
    try:
        return pipeline.topicize_channel(
            settings=settings, channel=channel, run_id=run_id, dispatcher=CeleryDispatcher()
        )
    except Exception as exc:
        _retry_or_give_up(self, exc, channel=channel, run_id=run_id)
        raise


@app.task(name="tg_parser.export_channel", **RELIABLE)
def export_channel(self: Task, channel: str, run_id: str | None = None) -> str | None:
    """Write the channel's ``documents.ndjson`` and ``topics.json``; the run succeeds."""
    settings = get_settings()
    try:
        result = pipeline.export_channel(settings=settings, channel=channel, run_id=run_id)
    except Exception as exc:
        _retry_or_give_up(self, exc, channel=channel, run_id=run_id)
        raise
    return str(result.documents_path) if result else None


@app.task(name="tg_parser.schedule_due_channels", bind=True)
def schedule_due_channels(self: Task) -> list[str]:  # noqa: ARG001
    """Start a run for every channel whose schedule is due (Beat ticks it every minute)."""
    from tg_parser.services.health import beat_redis_url, record_beat_tick
    from tg_parser.services.schedule import claim_due_channels

    settings = get_settings()
    record_beat_tick(beat_redis_url(settings))
    started = []
    for key in claim_due_channels(database_url=settings.database_url):
        result = app.send_task("tg_parser.run_pipeline", args=(key,))
        started.append(f"{key}:{result.id}")
    return started


@app.task(name="tg_parser.sweep_stalled_runs", bind=True)
def sweep_stalled_runs(self: Task) -> list[str]:  # noqa: ARG001
    """Re-drive runs without progress for ``RUN_STALL_TIMEOUT_S`` (Beat ticks it)."""
    from tg_parser.services.sweeper import sweep_stalled_runs as sweep

    def resend_ingest(*, channel_key: str, run_id: str) -> None:
        app.send_task("tg_parser.ingest_channel", args=(channel_key, run_id))

    redrives = sweep(settings=get_settings(), dispatcher=CeleryDispatcher(), resend_ingest=resend_ingest)
    return [f"{r.run_id}:{r.status}:{r.resent}" for r in redrives]


@contextmanager
def _channel_lock(settings: Settings, channel: str) -> Iterator[None]:
    """Hold the per-channel ingest lock in Redis (two ingests of a channel never overlap)."""
    broker = settings.celery_broker_url or ""
    if not broker.startswith(("redis://", "rediss://")):
        yield
        return
    from tg_parser.sources.locks import redis_lock

    with redis_lock(broker, f"tg_parser:lock:ingest:{channel}", timeout_s=60.0, blocking_timeout_s=2.0):
        yield


def _retry_or_give_up(task: Task, exc: Exception, *, channel: str, run_id: str | None) -> None:
    """Retry a channel-level task through ``Task.retry`` when the policy allows, else give up.

    Returns only after giving up (the caller re-raises); a retry raises Celery's ``Retry``.
    Permanent errors (bad input, unknown channel) are never retried.
    """
    decision = decide(task.name, retries_done=task.request.retries, error=exc)
    if decision.retry:
        raise task.retry(exc=exc, countdown=decision.countdown_s, max_retries=None) from exc
    _give_up(
        task,
        run_id=run_id,
        args={"channel": channel, "run_id": run_id},
        error=exc,
        attempts=decision.attempts,
    )


def _give_up(
    task: Task, *, run_id: str | None, args: dict[str, Any], error: BaseException, attempts: int
) -> None:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        repo.add_dead_letter(
            session,
            run_id=run_id,
            task_name=task.name,
            args=args,
            error_type=type(error).__name__,
            error_message=str(error),
            attempts=attempts,
        )
    if run_id is not None:
        pipeline.fail_run(
            database_url=settings.database_url, run_id=run_id, error=f"{type(error).__name__}: {error}"
        )
    log.error("task_gave_up", task=task.name, run_id=run_id, error=str(error), attempts=attempts)
