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
from tg_parser.services.process_batch import BATCH_SIZE, process_batch
from tg_parser.services.processors import (
    ProcessPoolProcessor,
    get_processor,
    process_concurrency,
    process_pool_kind,
    warm_up,
)
from tg_parser.services.steps import SleepBackoff, or_raise
from tg_parser.storage.session import reserve_connections

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


def resume_run_embedded(
    *,
    settings: Settings,
    run_id: str,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Continue an embedded run left in ``processing`` (the process was stopped) in this process.

    A run with provider batches picks them up: batches already submitted are
    polled, not sent again (their ids are in ``llm_batches``); the rest of
    the run's pending posts, if it has no batches, are processed one by one.
    Topicize and export follow as in :func:`run_channel_embedded`.

    Args:
        settings: Settings.
        run_id: The run.
        on_progress: See :data:`ProgressCallback` (``done`` counts from this resume).
        sleep: Sleep function for polls and retry delays.

    Returns:
        The posts the run had pending when resumed.

    Raises:
        NotFoundError: No such run.
        InputError: The run is not in ``processing``.
    """
    from tg_parser.domain.runs import RunStatus
    from tg_parser.errors import InputError
    from tg_parser.storage import llm_batches, runs, session_scope

    with session_scope(settings.database_url, read_only=True) as session:
        run = runs.get_run(session, run_id=run_id)
        pending = runs.pending_items(session, run_id=run_id)
        has_batches = bool(llm_batches.run_batches(session, run_id=run_id))
    if run.status is not RunStatus.PROCESSING:
        msg = f"run {run_id} is {run.status.value}; only a run left in processing can be resumed"
        raise InputError(msg)

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(run_id, done, len(pending))

    dispatcher = inline_dispatcher(settings=settings, on_processed=progress, sleep=sleep, prestart=True)
    try:
        if has_batches:
            dispatcher.submit_llm_batch(run_id=run_id)
        elif pending:
            dispatcher.process_messages(run_id=run_id, message_pks=pending)
        else:
            pipeline.maybe_finish_processing(
                settings.database_url, channel=run.channel_key, run_id=run_id, dispatcher=dispatcher
            )
        dispatcher.drain()
    finally:
        dispatcher.close()
    return len(pending)


def inline_dispatcher(
    *,
    settings: Settings,
    on_processed: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    prestart: bool = False,
    on_failed: Callable[[], None] | None = None,
) -> InlineDispatcher:
    """Return a dispatcher that runs process/topicize/export in this process on :meth:`drain`.

    Posts run :func:`~tg_parser.services.processors.process_concurrency` at a
    time (``PROCESS_CONCURRENCY``):

    * the built-in offline processor goes by batches of
      :data:`~tg_parser.services.process_batch.BATCH_SIZE` posts
      (:func:`~tg_parser.services.process_batch.process_batch`: one read and
      one write transaction per batch), each batch loaded, processed and
      written by one of as many worker processes
      (:class:`~tg_parser.services.processors.ProcessPoolProcessor`), or in
      this process at concurrency 1;
    * any other processor runs one :func:`~tg_parser.services.execute.execute_process`
      per post, in threads.

    A post that failed inside a batch continues its retry policy through
    :func:`~tg_parser.services.execute.execute_process` (``first_error``), so
    the retries, dead letters and the guarded hand-over to topicize (exactly
    one post's claim wins) are those of the one-post path.

    Args:
        settings: Settings.
        on_processed: Called with the number of posts finished so far (in
            increasing order, one call per post, from whichever thread finished it).
        sleep: Sleep function for retry delays.
        prestart: Start the worker processes now (they boot while ingest
            runs) rather than at the first post; :meth:`InlineDispatcher.close` stops them.
            Offline without worker processes (concurrency 1), load its models now instead.
        on_failed: Called once per post that gave up (dead-lettered).
    """
    concurrency = process_concurrency(settings)
    batched = process_pool_kind(settings) == "process"
    pool: ProcessPoolProcessor | None = None
    if concurrency > 1 and batched:
        pool = ProcessPoolProcessor(settings, workers=concurrency)
        if prestart:
            pool.start()
    elif prestart and batched:
        warm_up(settings)  # what the worker processes do when they start: load the models now
    steps = _EmbeddedSteps(
        settings=settings,
        pool=pool,
        backoff=SleepBackoff(sleep),
        on_processed=on_processed,
        on_failed=on_failed,
    )
    # A process worker waits on the database while its batch's neighbour computes:
    # two batches in flight per worker process keep every core busy.
    in_flight = concurrency * 2 if pool is not None else concurrency
    # Each thread in flight holds a connection for its transactions (PostgreSQL): pool them all.
    reserve_connections(in_flight)
    steps.dispatcher = InlineDispatcher(
        steps.run_item,
        concurrency=in_flight,
        on_start=pool.start
        if pool is not None
        else _warming_up(settings, start=prestart and concurrency > 1),
        on_close=pool.close if pool is not None else None,
        batch_size=BATCH_SIZE if batched else 1,
    )
    return steps.dispatcher


class _EmbeddedSteps:
    """Executes the :class:`WorkItem` s of :func:`inline_dispatcher` (from several threads at once)."""

    dispatcher: InlineDispatcher | None = None

    def __init__(
        self,
        *,
        settings: Settings,
        pool: ProcessPoolProcessor | None,
        backoff: SleepBackoff,
        on_processed: Callable[[int], None] | None,
        on_failed: Callable[[], None] | None,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._backoff = backoff
        self._on_processed = on_processed
        self._on_failed = on_failed
        self._finished = 0
        self._counter = threading.Lock()

    def run_item(self, item: WorkItem) -> None:
        """Execute one queued step."""
        kwargs = item.kwargs
        run_id = kwargs.get("run_id")
        run = str(run_id) if run_id is not None else None
        if item.step == "process_batch":
            pks = kwargs["message_pks"]
            self._process_many(run, [int(str(pk)) for pk in pks] if isinstance(pks, tuple | list) else [])
        elif item.step == "process":
            self._count(1, failed=int(self._process_one(run, int(str(kwargs["message_pk"])))))
        elif item.step == "llm_batch" and run is not None:
            self._llm_batch(run)
        elif item.step == "topicize":
            or_raise(
                execute.execute_topicize(
                    settings=self._settings,
                    channel=str(kwargs["channel_key"]),
                    run_id=run,
                    dispatcher=self.dispatcher,
                    backoff=self._backoff,
                )
            )
        elif item.step == "export":
            or_raise(
                execute.execute_export(
                    settings=self._settings,
                    channel=str(kwargs["channel_key"]),
                    run_id=run,
                    backoff=self._backoff,
                    dispatcher=self.dispatcher,
                )
            )
        elif item.step == "media":
            from tg_parser.services.media import execute_download

            execute_download(
                settings=self._settings,
                channel_key=str(kwargs["channel_key"]),
                message_id=int(str(kwargs["message_id"])),
                backoff=self._backoff,
            )
        elif item.step == "webhook":
            from tg_parser.services.webhooks import execute_delivery

            payload = kwargs["payload"]
            execute_delivery(
                settings=self._settings,
                webhook_id=str(kwargs["webhook_id"]),
                message_id=str(kwargs["message_id"]),
                payload=payload if isinstance(payload, dict) else {},
                backoff=self._backoff,
            )

    def _llm_batch(self, run: str) -> None:
        """Submit the run's batches, then poll them until applied, sleeping ``LLM_BATCH_POLL_S`` between.

        Progress moves by the requests the provider reports done. A submit the
        provider refuses leaves every post to the synchronous path.
        """
        from tg_parser.services.llm_batch_steps import run_batches_embedded

        def advance(done: int) -> None:
            self._count(done, failed=0)

        run_batches_embedded(
            settings=self._settings,
            run_id=run,
            processor=get_processor(self._settings),
            dispatcher=self.dispatcher,
            sleep=self._backoff.sleep,
            on_done=advance,
        )

    def _count(self, posts: int, *, failed: int) -> None:
        with self._counter:
            for _ in range(failed):
                if self._on_failed is not None:
                    self._on_failed()
            for _ in range(posts):
                self._finished += 1
                if self._on_processed is not None:
                    self._on_processed(self._finished)

    def _process_one(
        self, run: str | None, message_pk: int, first_error: BaseException | None = None
    ) -> bool:
        """Run one post through the step runner; return whether it gave up."""
        outcome = execute.execute_process(
            settings=self._settings,
            run_id=run,
            message_pk=message_pk,
            dispatcher=self.dispatcher,
            backoff=self._backoff,
            processor=self._pool,
            first_error=first_error,
        )
        return outcome == "failed"

    def _process_many(self, run: str | None, message_pks: list[int]) -> None:
        """Process a batch (in a worker process when there is a pool); its failed posts one by one."""
        if self._pool is not None:
            outcome = self._pool.process_batch(run_id=run, message_pks=message_pks)
        else:
            outcome = process_batch(
                settings=self._settings,
                run_id=run,
                message_pks=message_pks,
                processor=get_processor(self._settings),
            )
        failed = sum(self._process_one(run, pk, error) for pk, error in outcome.errors.items())
        if run is not None and outcome.channel_key is not None and outcome.outcomes:
            pipeline.maybe_finish_processing(
                self._settings.database_url,
                channel=outcome.channel_key,
                run_id=run,
                dispatcher=self.dispatcher,
            )
        self._count(len(message_pks), failed=failed)


def _warming_up(settings: Settings, *, start: bool) -> Callable[[], None] | None:
    """Start loading the processor's models on a thread now; return what waits for it (or ``None``).

    Threads of a provider run (no worker processes) would otherwise all find
    the language model and the SDK's response models unloaded at their first
    post and load them at once, inside the processing phase; loaded while
    ingest runs, they cost the run nothing.
    """
    if not start:
        return None

    def load() -> None:
        try:
            warm_up(settings)
        except Exception as exc:  # noqa: BLE001 - the first post meets the same error and reports it
            log.warning("warm_up_failed", error=str(exc))

    thread = threading.Thread(target=load, name="tg-warm-up", daemon=True)
    thread.start()
    return thread.join


@dataclass(frozen=True)
class ProcessReport:
    """What :func:`process_channel_embedded` did: posts due, and how many of them gave up."""

    posts: int
    failed: int


def process_channel_embedded(
    *,
    settings: Settings,
    channel: str,
    on_progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ProcessReport:
    """Process the channel's posts that have no current document, in this process (``tg-parser process``).

    The posts go through the same dispatcher as an embedded run's
    (:func:`inline_dispatcher`: batches in worker processes for the offline
    processor, ``PROCESS_CONCURRENCY`` at once), outside any run.

    Args:
        settings: Settings.
        channel: Channel key.
        on_progress: Called as ``(posts_finished, posts_total)`` after each post.
        sleep: Sleep function for retry delays.

    Returns:
        The number of posts due and of those that gave up (dead-lettered).

    Raises:
        NotFoundError: Unknown channel.
    """
    pks = pipeline.stale_posts(settings=settings, channel=channel, processor=get_processor(settings))
    failed = 0

    def one_failed() -> None:
        nonlocal failed
        failed += 1

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, len(pks))

    dispatcher = inline_dispatcher(
        settings=settings, on_processed=progress, sleep=sleep, prestart=True, on_failed=one_failed
    )
    try:
        dispatcher.process_messages(run_id=None, message_pks=pks)
        dispatcher.drain()
    finally:
        dispatcher.close()
    return ProcessReport(posts=len(pks), failed=failed)
