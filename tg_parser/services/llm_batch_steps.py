"""The steps that drive a run's provider batches: one submit, then polls until applied.

Cluster (``tasks/``): :func:`submit_step` and :func:`poll_step` are one task
execution each and return the delay before the next one, so no worker waits
while the provider works. Embedded: :func:`run_batches_embedded` loops over
the same functions in-process, sleeping between polls.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from tg_parser.config import Settings
from tg_parser.errors import PermanentError, RetryableError
from tg_parser.processing.base import Processor
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.llm_batches import (
    BatchProgress,
    give_up_unsubmitted,
    poll_run_batches,
    submit_run_batches,
)

log = structlog.get_logger(__name__)


def submit_step(*, settings: Settings, run_id: str, processor: Processor, attempt: int) -> float | None:
    """Make one attempt at submitting the run's batches.

    A :class:`RetryableError` is retried under the ``RETRY_PROCESS_*`` policy;
    when that gives up, or on a :class:`PermanentError`, the batches not
    submitted are marked ``failed`` and their posts go synchronous when the
    polls end (:func:`~tg_parser.services.llm_batches.hand_leftovers_to_sync`).

    Args:
        settings: Settings.
        run_id: The run.
        processor: The run's LLM processor.
        attempt: The number of this attempt (1 = first).

    Returns:
        Seconds to wait before the next attempt, or ``None`` when the submit is
        over (submitted, or given up); then polling starts.
    """
    try:
        submit_run_batches(settings=settings, run_id=run_id, processor=processor)
    except RetryableError as exc:
        policy = settings.retry_policy("process")
        if attempt < policy.max_attempts:
            log.info("llm_batch_submit_retry", run_id=run_id, attempt=attempt, error=str(exc))
            return policy.delay_s(attempt, server_wait_s=exc.retry_after_s)
        log.warning("llm_batch_submit_gave_up", run_id=run_id, attempts=attempt, error=str(exc))
        give_up_unsubmitted(settings, run_id=run_id, error=exc)
    except PermanentError as exc:
        log.warning("llm_batch_submit_refused", run_id=run_id, error=str(exc))
        give_up_unsubmitted(settings, run_id=run_id, error=exc)
    return None


def poll_step(
    *, settings: Settings, run_id: str, processor: Processor, dispatcher: Dispatcher | None
) -> tuple[float | None, BatchProgress | None]:
    """Poll the run's batches once (see :func:`~tg_parser.services.llm_batches.poll_run_batches`).

    Returns:
        ``(seconds until the next poll or None when every batch is applied, progress)``;
        a transient provider error polls again after ``LLM_BATCH_POLL_S``.

    Raises:
        PermanentError: The provider refused the status request (a bad key);
            the caller's step fails.
    """
    try:
        progress = poll_run_batches(
            settings=settings, run_id=run_id, processor=processor, dispatcher=dispatcher
        )
    except RetryableError as exc:
        log.warning("llm_batch_poll_failed", run_id=run_id, error=str(exc))
        return settings.llm.llm_batch_poll_s, None
    if progress.finished:
        return None, progress
    return settings.llm.llm_batch_poll_s, progress


def run_batches_embedded(
    *,
    settings: Settings,
    run_id: str,
    processor: Processor,
    dispatcher: Dispatcher | None,
    sleep: Callable[[float], None],
    on_done: Callable[[int], None] | None = None,
) -> BatchProgress | None:
    """Embedded mode: submit the run's batches (or pick up submitted ones) and poll until applied.

    Used by ``tg-parser run`` and by ``tg-parser runs resume`` after the
    process was stopped: batches already submitted are polled, not sent again.

    Args:
        settings: Settings (``LLM_BATCH_POLL_S`` between polls).
        run_id: The run.
        processor: The run's LLM processor.
        dispatcher: Receives the leftover posts (``process_messages``) and topicize.
        sleep: Sleep function, in seconds.
        on_done: Called with how many more requests finished since the last call.

    Returns:
        The final progress.
    """
    attempt = 1
    while (
        delay := submit_step(settings=settings, run_id=run_id, processor=processor, attempt=attempt)
    ) is not None:
        sleep(delay)
        attempt += 1
    reported = 0
    while True:
        delay, progress = poll_step(
            settings=settings, run_id=run_id, processor=processor, dispatcher=dispatcher
        )
        if progress is not None:
            done = min(progress.done, progress.total)
            if on_done is not None and done > reported:
                on_done(done - reported)
                reported = done
        if delay is None:
            return progress
        sleep(delay)
