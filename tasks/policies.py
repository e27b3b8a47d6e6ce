"""The step runner's back-off on the cluster: ``Task.retry`` with the policy's delay as countdown."""

from __future__ import annotations

from celery import Task

from tg_parser.config import get_settings


def max_countdown_s() -> float:
    """Longest countdown a retry may use without outliving the Redis visibility timeout.

    An ETA task waits unacknowledged in the worker; if it waits longer than the
    visibility timeout minus the task time limit, Redis redelivers it. A longer
    server-named wait is therefore cut to this bound (the task simply meets
    the server's limit again and waits once more).
    """
    settings = get_settings()
    return max(1.0, settings.redis_visibility_timeout_s - settings.task_time_limit_s - 60)


class CeleryBackoff:
    """A :class:`tg_parser.services.steps.Backoff` that hands the retry to Celery.

    ``wait`` never returns: it raises ``Task.retry``, so the message goes back
    to the broker with a countdown and the worker is free meanwhile.

    Args:
        task: The bound task being executed.
    """

    def __init__(self, task: Task) -> None:
        """Keep the task."""
        self._task = task

    @property
    def attempt(self) -> int:
        """The number of the attempt being made (1 = the first delivery)."""
        return int(self._task.request.retries) + 1

    def wait(self, *, delay_s: float, error: BaseException, attempt: int) -> None:  # noqa: ARG002
        """Raise ``Task.retry`` with ``countdown = min(delay_s, max_countdown_s())``."""
        raise self._task.retry(
            exc=error, countdown=min(delay_s, max_countdown_s()), max_retries=None
        ) from error
