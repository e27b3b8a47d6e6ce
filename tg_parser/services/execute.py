"""Each step of a run executed through the step runner: the same code for the cluster and embedded.

``tasks.pipeline`` calls these with a back-off that raises ``Task.retry``;
embedded mode (:mod:`tg_parser.services.embedded`) calls them with
:class:`~tg_parser.services.steps.SleepBackoff`. The give-up consequences are
written here once:

* a post that gives up: its item ``failed`` (once), a dead letter, and the run
  goes on (it topicizes when its last item is terminal);
* ingest, topicize or export giving up: a dead letter and the run ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

from tg_parser.config import Settings
from tg_parser.domain.runs import ItemStatus, TaskName
from tg_parser.errors import NotFoundError
from tg_parser.export.writer import ExportResult
from tg_parser.processing.base import Processor
from tg_parser.services import pipeline
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.processors import get_processor
from tg_parser.services.steps import Backoff, GaveUp, GiveUpHook, Step, StepRunner, give_up
from tg_parser.storage import Session, messages, runs, session_scope

T = TypeVar("T")


def _fail_run_hook(run_id: str | None, failed: list[bool]) -> GiveUpHook:
    """Return the give-up consequence of a channel step: its run fails (a dead letter is always written).

    ``failed`` gets ``True`` appended when this give-up is the one that failed the run.
    """

    def hook(session: Session, error: BaseException, _attempts: int) -> bool:
        if run_id is not None and runs.fail_run(
            session, run_id=run_id, error=f"{type(error).__name__}: {error}"
        ):
            failed.append(True)
        return True

    return hook


def _channel_step(
    *,
    settings: Settings,
    backoff: Backoff,
    task: TaskName,
    channel: str,
    run_id: str | None,
    call: Callable[[], T],
    attempt: int,
    dispatcher: Dispatcher | None = None,
) -> T | GaveUp:
    step = Step(task_name=task, args={"channel": channel, "run_id": run_id}, run_id=run_id)
    runner = StepRunner(settings=settings, backoff=backoff)
    failed: list[bool] = []
    outcome = runner.run(step, call, on_give_up=_fail_run_hook(run_id, failed), attempt=attempt)
    if failed and run_id is not None:
        from tg_parser.services.webhooks import emit_run_events

        emit_run_events(settings=settings, run_id=run_id, dispatcher=dispatcher)
    return outcome


def execute_ingest(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    dispatcher: Dispatcher | None,
    backoff: Backoff,
    attempt: int = 1,
    guard: Callable[[], AbstractContextManager[object]] | None = None,
) -> pipeline.IngestReport | GaveUp:
    """Run the ingest step of ``run_id`` under the ``ingest`` policy.

    Args:
        settings: Settings.
        channel: Channel key.
        run_id: The run (``None``: a bare import).
        dispatcher: Where the run's next steps go.
        backoff: How to wait between attempts.
        attempt: Number of the first attempt made here.
        guard: A context-manager factory held around each attempt (the
            cluster's per-channel lock), or ``None``.

    Returns:
        The ingest report, or :class:`GaveUp` (the run is then ``failed`` and dead-lettered).
    """

    def call() -> pipeline.IngestReport:
        with guard() if guard is not None else nullcontext():
            return pipeline.ingest_channel(
                settings=settings,
                channel=channel,
                run_id=run_id,
                processor=get_processor(settings),
                dispatcher=dispatcher,
            )

    return _channel_step(
        settings=settings,
        backoff=backoff,
        task=TaskName.INGEST,
        channel=channel,
        run_id=run_id,
        call=call,
        attempt=attempt,
        dispatcher=dispatcher,
    )


def execute_topicize(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    dispatcher: Dispatcher | None,
    backoff: Backoff,
    attempt: int = 1,
    full: bool = False,
) -> int | GaveUp:
    """Run the topicize step under the ``topics`` policy; returns the topic count or :class:`GaveUp`.

    ``full`` re-clusters the channel even when its stored fit would place the new posts.
    """
    return _channel_step(
        settings=settings,
        backoff=backoff,
        task=TaskName.TOPICIZE,
        channel=channel,
        run_id=run_id,
        call=lambda: pipeline.topicize_channel(
            settings=settings, channel=channel, run_id=run_id, dispatcher=dispatcher, full=full
        ),
        attempt=attempt,
        dispatcher=dispatcher,
    )


def execute_export(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    backoff: Backoff,
    export_dir: str | None = None,
    attempt: int = 1,
    dispatcher: Dispatcher | None = None,
) -> ExportResult | GaveUp | None:
    """Run the export step under the ``export`` policy; ``None`` when skipped as a redelivery.

    The run's end raises its webhook events through ``dispatcher`` (none without one).
    """
    return _channel_step(
        settings=settings,
        backoff=backoff,
        task=TaskName.EXPORT,
        channel=channel,
        run_id=run_id,
        call=lambda: pipeline.export_channel(
            settings=settings, channel=channel, run_id=run_id, export_dir=export_dir, dispatcher=dispatcher
        ),
        attempt=attempt,
        dispatcher=dispatcher,
    )


def execute_process(
    *,
    settings: Settings,
    run_id: str | None,
    message_pk: int,
    dispatcher: Dispatcher | None,
    backoff: Backoff,
    attempt: int = 1,
    processor: Processor | None = None,
    first_error: BaseException | None = None,
) -> str:
    """Run the process step of one post under the ``process`` policy.

    Args:
        settings: Settings.
        run_id: The run (``None``: a bare ``tg-parser process``).
        message_pk: The post's key.
        dispatcher: Where topicize goes when this post is the run's last.
        backoff: How to wait between attempts.
        attempt: Number of the first attempt made here.
        processor: The processor to use (default: the configured one,
            :func:`~tg_parser.services.processors.get_processor`).
        first_error: What attempt ``attempt`` already raised elsewhere (the post
            failed inside a batch, :mod:`tg_parser.services.process_batch`): the
            policy goes on from that failure (wait and retry, or give up) as
            if this call had made the attempt.

    Returns:
        ``processed``, ``current`` or ``skipped`` (see
        :func:`~tg_parser.services.pipeline.process_message`), or ``failed``
        after the post was dead-lettered; the run goes on either way.
    """
    runner = StepRunner(settings=settings, backoff=backoff)
    pending_error = [first_error] if first_error is not None else []

    def call() -> str:
        if pending_error:
            raise pending_error.pop()
        return pipeline.process_message(
            settings=settings,
            run_id=run_id,
            message_pk=message_pk,
            processor=processor or get_processor(settings),
            dispatcher=dispatcher,
        )

    outcome = runner.run(
        _process_step(settings, run_id=run_id, message_pk=message_pk),
        call,
        on_give_up=_item_failed_hook(run_id=run_id, message_pk=message_pk),
        attempt=attempt,
    )
    if isinstance(outcome, GaveUp):
        _after_post_failed(settings, run_id=run_id, message_pk=message_pk, dispatcher=dispatcher)
        return "failed"
    return outcome


def record_failure(
    *,
    settings: Settings,
    run_id: str | None,
    message_pk: int,
    error: BaseException,
    attempts: int,
    dispatcher: Dispatcher | None,
) -> None:
    """Give up on one post now: what the step runner does when a post's policy gives up.

    Its item becomes ``failed`` and a dead letter is written, once however
    often this is called; the run goes on.
    """
    give_up(
        settings=settings,
        step=_process_step(settings, run_id=run_id, message_pk=message_pk),
        error=error,
        attempts=attempts,
        on_give_up=_item_failed_hook(run_id=run_id, message_pk=message_pk),
    )
    _after_post_failed(settings, run_id=run_id, message_pk=message_pk, dispatcher=dispatcher)


def _process_step(settings: Settings, *, run_id: str | None, message_pk: int) -> Step:
    """Return the process step of one post; its dead-letter arguments are read only on give-up."""

    def args_of() -> dict[str, object]:
        with session_scope(settings.database_url) as session:
            try:
                stored = messages.load_message(session, message_pk=message_pk)
                key, mid = stored.channel.key, stored.message.message_id
            except NotFoundError:
                key, mid = None, None
        return {"run_id": run_id, "message_pk": message_pk, "channel": key, "message_id": mid}

    return Step(task_name=TaskName.PROCESS, run_id=run_id, args_of=args_of)


def _item_failed_hook(*, run_id: str | None, message_pk: int) -> GiveUpHook:
    def hook(session: Session, error: BaseException, attempts: int) -> bool:
        if run_id is None:
            return True
        # Only the first give-up of an item writes its dead letter (a redelivery gives up again).
        return runs.finish_item(
            session,
            run_id=run_id,
            message_pk=message_pk,
            status=ItemStatus.FAILED,
            attempts=attempts,
            error=f"{type(error).__name__}: {error}",
        )

    return hook


def _after_post_failed(
    settings: Settings, *, run_id: str | None, message_pk: int, dispatcher: Dispatcher | None
) -> None:
    if run_id is None:
        return
    with session_scope(settings.database_url) as session:
        try:
            key = messages.load_message(session, message_pk=message_pk).channel.key
        except NotFoundError:
            return
    pipeline.maybe_finish_processing(settings.database_url, channel=key, run_id=run_id, dispatcher=dispatcher)
