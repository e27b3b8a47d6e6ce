"""The step runner: the one way a step of a run is executed, retried and given up.

Every step (ingest, process, topicize, export, and each topic label) runs
through :class:`StepRunner`, on the cluster and embedded alike:

1. the step is called;
2. when it raises, the ``RETRY_<TYPE>_*`` policy of its :class:`StepType`
   decides (:meth:`tg_parser.config.RetryPolicy.retry_delay_s`): only a
   :class:`~tg_parser.errors.RetryableError` with attempts left is retried,
   after DESIGN.md's back-off (a longer wait named by the server wins);
3. the wait is the :class:`Backoff`'s: embedded it sleeps in-process
   (:class:`SleepBackoff`); on the cluster ``tasks.pipeline`` passes one that
   raises Celery's ``Task.retry`` with the delay as countdown, so the message
   goes back to the broker and no worker is held;
4. when the policy gives up, the runner writes a **dead letter** (task,
   arguments, error type and message, attempts) in the same transaction as
   the step's own give-up consequence (:class:`GiveUpHook`), and returns
   :class:`GaveUp`. The run goes on (a post) or ends ``failed`` (a channel step).

So the same failing input ends in the same run state with the same dead
letters in both execution modes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import STEP_OF_TASK, StepType, TaskName
from tg_parser.storage import Session, dead_letters, session_scope

log = structlog.get_logger(__name__)

T = TypeVar("T")


class Backoff(Protocol):
    """How the runner waits before the next attempt."""

    def wait(self, *, delay_s: float, error: BaseException, attempt: int) -> None:
        """Wait ``delay_s`` seconds, or hand the retry to the executor by raising.

        Args:
            delay_s: The delay the policy chose, in seconds.
            error: What the failed attempt raised.
            attempt: The number of the attempt that failed (1 = the first).
        """
        ...


class SleepBackoff:
    """Waits in this process (embedded mode, and topic labels inside a topicize task).

    Args:
        sleep: The sleep function, in seconds (tests pass a recorder).
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Keep the sleep function."""
        self._sleep = sleep

    def wait(self, *, delay_s: float, error: BaseException, attempt: int) -> None:  # noqa: ARG002
        """Sleep ``delay_s`` seconds."""
        self._sleep(delay_s)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` with the same sleep function (polling a provider's batch)."""
        self._sleep(seconds)


class GiveUpHook(Protocol):
    """The step's own consequence of giving up, run in the dead letter's transaction."""

    def __call__(self, session: Session, error: BaseException, attempts: int, /) -> bool:
        """Apply the consequence; return ``False`` to write no dead letter (someone else already did)."""
        ...


@dataclass(frozen=True)
class Step:
    """One step to execute.

    Attributes:
        task_name: The task name recorded in a dead letter (``dlq replay`` re-sends by it);
            it also names the retry policy (:data:`~tg_parser.domain.runs.STEP_OF_TASK`).
        args: The arguments recorded in a dead letter (ids, plus the channel key).
        run_id: The run the step belongs to, if any.
        args_of: Builds ``args`` when they cost a query; called only when the step gives up.
    """

    task_name: TaskName
    args: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    args_of: Callable[[], dict[str, Any]] | None = None

    @property
    def type(self) -> StepType:
        """Which ``RETRY_<TYPE>_*`` policy applies."""
        return STEP_OF_TASK[self.task_name]

    def letter_args(self) -> dict[str, Any]:
        """Return the arguments to record in the dead letter."""
        return self.args_of() if self.args_of is not None else self.args


@dataclass(frozen=True)
class GaveUp:
    """The outcome of a step that gave up: the last error and the attempts made."""

    error: BaseException
    attempts: int


def or_raise(outcome: T | GaveUp) -> T:
    """Return a step's value, or raise the last error of a step that gave up (its dead letter is written).

    Raises:
        Exception: ``outcome.error`` when ``outcome`` is :class:`GaveUp`.
    """
    if isinstance(outcome, GaveUp):
        raise outcome.error
    return outcome


class StepRunner:
    """Executes steps under their retry policy; see the module docstring.

    Args:
        settings: Settings (the ``RETRY_*`` policies and the database).
        backoff: How to wait between attempts.
        rand: Source of uniform numbers in [0, 1) for the jitter.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        backoff: Backoff,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """Keep the settings and the back-off."""
        self._settings = settings
        self._backoff = backoff
        self._rand = rand

    def run(
        self,
        step: Step,
        call: Callable[[], T],
        *,
        on_give_up: GiveUpHook | None = None,
        attempt: int = 1,
    ) -> T | GaveUp:
        """Call ``call`` until it succeeds or the step's policy gives up.

        Args:
            step: The step (policy, dead-letter task name and arguments).
            call: The step's body.
            on_give_up: Its consequence of giving up (default: none).
            attempt: The number of the first attempt made here (on the cluster,
                ``task.request.retries + 1``).

        Returns:
            What ``call`` returned, or :class:`GaveUp` after the dead letter was written.

        Raises:
            Exception: Whatever the back-off raises to hand a retry over (Celery's ``Retry``).
        """
        policy = self._settings.retry_policy(step.type.value)
        while True:
            try:
                return call()
            except Exception as exc:  # noqa: BLE001 - the policy decides; one bad step never sinks a run
                delay = policy.retry_delay_s(attempts_made=attempt, error=exc, rand=self._rand())
                if delay is None:
                    give_up(
                        settings=self._settings, step=step, error=exc, attempts=attempt, on_give_up=on_give_up
                    )
                    return GaveUp(error=exc, attempts=attempt)
                log.info(
                    "step_retrying",
                    task=step.task_name.value,
                    run_id=step.run_id,
                    attempt=attempt,
                    delay_s=round(delay, 2),
                    error=str(exc),
                )
                self._backoff.wait(delay_s=delay, error=exc, attempt=attempt)
                attempt += 1


def give_up(
    *,
    settings: Settings,
    step: Step,
    error: BaseException,
    attempts: int,
    on_give_up: GiveUpHook | None = None,
) -> None:
    """Give a step up: its consequence and its dead letter, in one transaction.

    Args:
        settings: Settings (the database).
        step: The step that gave up.
        error: Its last error.
        attempts: Attempts made.
        on_give_up: The step's consequence; when it returns ``False`` no dead
            letter is written (the consequence was already applied by an
            earlier give-up of the same work).
    """
    args = step.letter_args()
    with session_scope(settings.database_url) as session:
        write = on_give_up(session, error, attempts) if on_give_up is not None else True
        if write:
            dead_letters.add_dead_letter(
                session,
                run_id=step.run_id,
                task_name=step.task_name.value,
                args=args,
                error_type=type(error).__name__,
                error_message=str(error),
                attempts=attempts,
            )
    log.warning(
        "step_gave_up",
        task=step.task_name.value,
        run_id=step.run_id,
        args=args,
        error=str(error),
        error_type=type(error).__name__,
        attempts=attempts,
    )
