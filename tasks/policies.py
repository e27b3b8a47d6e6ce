"""``RETRY_*`` settings → per-task retry decisions through Celery's own retry machinery."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tg_parser.config import RetryPolicy, get_settings

TASK_TYPE = {
    "tg_parser.ingest_channel": "ingest",
    "tg_parser.process_message": "process",
    "tg_parser.topicize_channel": "topics",
    "tg_parser.export_channel": "export",
}


def policy_for(task_name: str) -> RetryPolicy:
    """Return the retry policy of a task (its type's overrides over the defaults)."""
    return get_settings().retry_policy(TASK_TYPE.get(task_name, "process"))


@dataclass(frozen=True)
class RetryDecision:
    """Whether to retry, after how long, and how many attempts have been made."""

    retry: bool
    countdown_s: float
    attempts: int


def decide(task_name: str, *, retries_done: int, error: BaseException) -> RetryDecision:
    """Decide what to do after an attempt failed with ``error``.

    Args:
        task_name: The Celery task name.
        retries_done: ``task.request.retries`` (0 on the first attempt).
        error: The exception raised by the attempt.

    Returns:
        Retry only for a :class:`RetryableError` with attempts left; the
        countdown follows DESIGN.md's formula and a longer server wait wins.
    """
    attempts = retries_done + 1
    delay = policy_for(task_name).retry_delay_s(
        attempts_made=attempts,
        error=error,
        rand=random.random(),  # noqa: S311 - jitter, not cryptography
    )
    if delay is None:
        return RetryDecision(retry=False, countdown_s=0.0, attempts=attempts)
    return RetryDecision(retry=True, countdown_s=min(delay, max_countdown_s()), attempts=attempts)


def max_countdown_s() -> float:
    """Longest countdown a retry may use without outliving the Redis visibility timeout.

    An ETA task waits unacknowledged in the worker; if it waits longer than the
    visibility timeout minus the task time limit, Redis redelivers it. A longer
    server-named wait is therefore cut to this bound (the task simply meets
    the server's limit again and waits once more).
    """
    settings = get_settings()
    return max(1.0, settings.redis_visibility_timeout_s - settings.task_time_limit_s - 60)
