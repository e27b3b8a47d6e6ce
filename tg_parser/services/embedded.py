"""Embedded mode: a whole run executed in this process, no broker, no worker.

The same service functions the Celery tasks call run here, driven by an
:class:`~tg_parser.services.dispatch.InlineDispatcher`; retries follow the
same ``RETRY_*`` policy (with real sleeps), and a post that gives up is
dead-lettered exactly as on the cluster.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from tg_parser.config import Settings
from tg_parser.errors import TgParserError
from tg_parser.services import pipeline
from tg_parser.services.dispatch import InlineDispatcher, WorkItem
from tg_parser.services.processors import get_processor

log = structlog.get_logger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``(run_id, items_finished, items_total)`` after each post."""


@dataclass(frozen=True)
class EmbeddedRun:
    """The outcome of one embedded run."""

    run_id: str
    channel: str
    ingest: pipeline.IngestReport


def run_channel_embedded(
    *,
    settings: Settings,
    channel: str,
    export_dir: str | None = None,
    on_ingested: Callable[[str, int], None] | None = None,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> EmbeddedRun:
    """Run ingest → process → topicize → export for one channel in-process.

    Args:
        settings: Settings.
        channel: Channel key.
        export_dir: Export folder for this run (default: the channel's, then ``EXPORT_DIR``).
        on_ingested: Called with ``(run_id, posts_to_process)`` after ingest.
        on_progress: See :data:`ProgressCallback`.
        sleep: Sleep function for retry delays (tests pass a fake).

    Returns:
        The run id and ingest report; read the run's final state from the database.

    Raises:
        InputError: The source is unreadable (the run is marked failed).
        NotFoundError: Unknown channel.
    """
    run_id = str(uuid.uuid4())
    pipeline.start_run(
        database_url=settings.database_url,
        channel=channel,
        run_id=run_id,
        mode="embedded",
        export_dir=export_dir,
    )
    processor = get_processor(settings)
    total = 0

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(run_id, done, total)

    dispatcher = inline_dispatcher(settings=settings, on_processed=progress, sleep=sleep)
    try:
        report = pipeline.ingest_channel(
            settings=settings, channel=channel, run_id=run_id, processor=processor, dispatcher=dispatcher
        )
    except TgParserError as exc:
        pipeline.fail_run(database_url=settings.database_url, run_id=run_id, error=str(exc))
        raise
    total = report.to_process
    if on_ingested is not None:
        on_ingested(run_id, total)
    dispatcher.drain()
    return EmbeddedRun(run_id=run_id, channel=channel, ingest=report)


def inline_dispatcher(
    *,
    settings: Settings,
    on_processed: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> InlineDispatcher:
    """Return a dispatcher that runs process/topicize/export in this process on :meth:`drain`.

    Args:
        settings: Settings.
        on_processed: Called with the number of posts finished so far.
        sleep: Sleep function for retry delays.
    """
    finished = 0

    def execute(item: WorkItem) -> None:
        nonlocal finished
        kwargs = item.kwargs
        run_id = kwargs.get("run_id")
        run = str(run_id) if run_id is not None else None
        if item.step == "process":
            _process_with_retries(settings, dispatcher, run, int(kwargs["message_pk"]), sleep)  # type: ignore[call-overload]
            finished += 1
            if on_processed is not None:
                on_processed(finished)
        elif item.step == "topicize":
            channel = str(kwargs["channel_key"])
            _stage_or_fail(
                settings,
                run,
                lambda: pipeline.topicize_channel(
                    settings=settings, channel=channel, run_id=run, dispatcher=dispatcher
                ),
            )
        elif item.step == "export":
            channel = str(kwargs["channel_key"])
            _stage_or_fail(
                settings, run, lambda: pipeline.export_channel(settings=settings, channel=channel, run_id=run)
            )

    dispatcher = InlineDispatcher(execute)
    return dispatcher


def _process_with_retries(
    settings: Settings,
    dispatcher: InlineDispatcher,
    run_id: str | None,
    message_pk: int,
    sleep: Callable[[float], None],
) -> None:
    policy = settings.retry_policy("process")
    attempt = 0
    while True:
        attempt += 1
        try:
            pipeline.process_message(
                settings=settings,
                run_id=run_id,
                message_pk=message_pk,
                processor=get_processor(settings),
                dispatcher=dispatcher,
            )
        except Exception as exc:  # noqa: BLE001 - one bad post never sinks a run
            delay = policy.retry_delay_s(attempts_made=attempt, error=exc, rand=random.random())  # noqa: S311
            if delay is None:
                pipeline.record_failure(
                    settings=settings,
                    run_id=run_id,
                    message_pk=message_pk,
                    error=exc,
                    attempts=attempt,
                    dispatcher=dispatcher,
                )
                return
            log.info(
                "retrying", message_pk=message_pk, attempt=attempt, delay_s=round(delay, 2), error=str(exc)
            )
            sleep(delay)
        else:
            return


def _stage_or_fail(settings: Settings, run_id: str | None, step: Callable[[], object]) -> None:
    try:
        step()
    except Exception as exc:
        if run_id is not None:
            pipeline.fail_run(
                database_url=settings.database_url, run_id=run_id, error=f"{type(exc).__name__}: {exc}"
            )
        raise
