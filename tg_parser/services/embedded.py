"""Embedded mode: a whole run executed in this process, no broker, no worker.

The same step executions the Celery tasks call (:mod:`tg_parser.services.execute`)
run here, driven by an :class:`~tg_parser.services.dispatch.InlineDispatcher`;
the step runner waits between attempts with real sleeps instead of
``Task.retry``, and gives up with the same dead letters and run states.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from tg_parser.config import Settings
from tg_parser.services import execute, pipeline
from tg_parser.services.dispatch import InlineDispatcher, WorkItem
from tg_parser.services.processors import ProcessPoolProcessor, process_concurrency, process_pool_kind
from tg_parser.services.steps import SleepBackoff, or_raise

log = structlog.get_logger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``(run_id, items_finished, items_total)`` after each post."""


@dataclass(frozen=True)
class EmbeddedRun:
    """The outcome of one embedded run: its id, channel and ingest report."""

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
    run_id: str | None = None,
) -> EmbeddedRun:
    """Run ingest → process → topicize → export for one channel in-process.

    Args:
        settings: Settings.
        channel: Channel key.
        export_dir: Export folder for this run (default: the channel's, then ``EXPORT_DIR``).
        on_ingested: Called with ``(run_id, posts_to_process)`` after ingest.
        on_progress: See :data:`ProgressCallback`.
        sleep: Sleep function for retry delays (tests pass a fake).
        run_id: The run id to use (default: a new UUID).

    Returns:
        The run id and ingest report; read the run's final state from the database.

    Raises:
        NotFoundError: Unknown channel.
        Exception: The last error of ingest, topicize or export when that step
            gave up; the run is then ``failed`` with a dead letter, as on the cluster.
    """
    run_id = run_id or str(uuid.uuid4())
    pipeline.start_run(
        database_url=settings.database_url,
        channel=channel,
        run_id=run_id,
        mode="embedded",
        export_dir=export_dir,
    )
    total = 0

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(run_id, done, total)

    dispatcher = inline_dispatcher(settings=settings, on_processed=progress, sleep=sleep, prestart=True)
    try:
        # A step that gave up is dead-lettered and its run failed, as on the cluster; the caller hears why.
        report = or_raise(
            execute.execute_ingest(
                settings=settings,
                channel=channel,
                run_id=run_id,
                dispatcher=dispatcher,
                backoff=SleepBackoff(sleep),
            )
        )
        total = report.to_process
        if on_ingested is not None:
            on_ingested(run_id, total)
        dispatcher.drain()
    finally:
        dispatcher.close()
    return EmbeddedRun(run_id=run_id, channel=channel, ingest=report)


def inline_dispatcher(
    *,
    settings: Settings,
    on_processed: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    prestart: bool = False,
) -> InlineDispatcher:
    """Return a dispatcher that runs process/topicize/export in this process on :meth:`drain`.

    Posts run :func:`~tg_parser.services.processors.process_concurrency` at a
    time (``PROCESS_CONCURRENCY``): in threads, and for the offline processor
    with its CPU work in as many worker processes
    (:class:`~tg_parser.services.processors.ProcessPoolProcessor`). Each post
    is still one :func:`~tg_parser.services.execute.execute_process`, so the
    retries, dead letters and the guarded hand-over to topicize (exactly one
    post's claim wins) are those of the sequential path.

    Args:
        settings: Settings.
        on_processed: Called with the number of posts finished so far (in
            increasing order, one call per post, from whichever thread finished it).
        sleep: Sleep function for retry delays.
        prestart: Start the worker processes now (they boot while ingest
            runs) rather than at the first post; :meth:`InlineDispatcher.close` stops them.
    """
    finished = 0
    counter = threading.Lock()
    backoff = SleepBackoff(sleep)
    concurrency = process_concurrency(settings)
    pool: ProcessPoolProcessor | None = None
    if concurrency > 1 and process_pool_kind(settings) == "process":
        pool = ProcessPoolProcessor(settings, workers=concurrency)
        if prestart:
            pool.start()

    def run_item(item: WorkItem) -> None:
        nonlocal finished
        kwargs = item.kwargs
        run_id = kwargs.get("run_id")
        run = str(run_id) if run_id is not None else None
        if item.step == "process":
            execute.execute_process(
                settings=settings,
                run_id=run,
                message_pk=int(str(kwargs["message_pk"])),
                dispatcher=dispatcher,
                backoff=backoff,
                processor=pool,
            )
            with counter:
                finished += 1
                if on_processed is not None:
                    on_processed(finished)
        elif item.step == "topicize":
            or_raise(
                execute.execute_topicize(
                    settings=settings,
                    channel=str(kwargs["channel_key"]),
                    run_id=run,
                    dispatcher=dispatcher,
                    backoff=backoff,
                )
            )
        elif item.step == "export":
            or_raise(
                execute.execute_export(
                    settings=settings,
                    channel=str(kwargs["channel_key"]),
                    run_id=run,
                    backoff=backoff,
                    dispatcher=dispatcher,
                )
            )
        elif item.step == "webhook":
            from tg_parser.services.webhooks import execute_delivery

            payload = kwargs["payload"]
            execute_delivery(
                settings=settings,
                webhook_id=str(kwargs["webhook_id"]),
                message_id=str(kwargs["message_id"]),
                payload=payload if isinstance(payload, dict) else {},
                backoff=backoff,
            )

    # A process worker waits on the database while its post's neighbour computes:
    # two posts in flight per worker process keep every core busy.
    in_flight = concurrency * 2 if pool is not None else concurrency
    dispatcher = InlineDispatcher(
        run_item,
        concurrency=in_flight,
        on_start=pool.start if pool is not None else None,
        on_close=pool.close if pool is not None else None,
    )
    return dispatcher
