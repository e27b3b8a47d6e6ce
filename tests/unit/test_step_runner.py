"""The step runner: one retry policy per step type, one dead letter when a step gives up."""

from __future__ import annotations

import pytest

from tg_parser.config import load_settings
from tg_parser.domain.runs import TaskName
from tg_parser.errors import PermanentError, RetryableError
from tg_parser.services.steps import GaveUp, Step, StepRunner
from tg_parser.storage import dead_letters, session_scope


class RecordingBackoff:
    """Records the waits the runner asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[tuple[float, int]] = []

    def wait(self, *, delay_s: float, error: BaseException, attempt: int) -> None:  # noqa: ARG002
        """Record the delay and the failed attempt's number."""
        self.waits.append((delay_s, attempt))


class Flaky:
    """Raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        """Fail with the next error, or succeed."""
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _runner(url: str, backoff: RecordingBackoff, **overrides: object) -> StepRunner:
    settings = load_settings(database_url=url, retry_backoff_base=1.0, retry_jitter=0.0, **overrides)
    return StepRunner(settings=settings, backoff=backoff, rand=lambda: 0.5)


STEP = Step(task_name=TaskName.TOPICIZE, args={"channel": "c1", "run_id": "r1"}, run_id="r1")


def _letters(url: str) -> list[dead_letters.DeadLetter]:
    with session_scope(url) as session:
        return dead_letters.list_dead_letters(session, include_resolved=True)


def test_retryable_twice_then_success_waits_by_the_policy_and_writes_no_letter(sqlite_url: str) -> None:
    """Two retryable failures wait 1 s then 2 s (DESIGN back-off); the third attempt's value returns."""
    backoff = RecordingBackoff()
    call = Flaky(RetryableError("db gone"), RetryableError("db gone"))
    assert _runner(sqlite_url, backoff).run(STEP, call) == "ok"
    assert call.calls == 3
    assert backoff.waits == [(1.0, 1), (2.0, 2)]
    assert _letters(sqlite_url) == []


def test_server_named_wait_wins_when_longer(sqlite_url: str) -> None:
    """A Retry-After/FloodWait longer than the back-off is the delay used."""
    backoff = RecordingBackoff()
    _runner(sqlite_url, backoff).run(STEP, Flaky(RetryableError("429", retry_after_s=7.5)))
    assert backoff.waits == [(7.5, 1)]


def test_always_retryable_gives_up_after_the_step_types_attempts_with_one_letter(sqlite_url: str) -> None:
    """The step type's own RETRY_TOPICS_MAX_ATTEMPTS bounds the attempts; giving up writes one dead letter."""
    backoff = RecordingBackoff()
    call = Flaky(*(RetryableError(f"try {i}") for i in range(10)))
    outcome = _runner(sqlite_url, backoff, retry_topics_max_attempts=4).run(STEP, call)
    assert isinstance(outcome, GaveUp)
    assert (outcome.attempts, call.calls, len(backoff.waits)) == (4, 4, 3)
    [letter] = _letters(sqlite_url)
    assert (letter.task_name, letter.args, letter.attempts) == ("tg_parser.topicize_channel", STEP.args, 4)
    assert (letter.error_type, letter.error_message, letter.run_id) == ("RetryableError", "try 3", "r1")


@pytest.mark.parametrize("error", [PermanentError("HTTP 400"), ValueError("a bug")])
def test_permanent_errors_and_bugs_are_not_retried(sqlite_url: str, error: Exception) -> None:
    """Only RetryableError is retried: a permanent error or an unexpected exception gives up at once."""
    backoff = RecordingBackoff()
    outcome = _runner(sqlite_url, backoff).run(STEP, Flaky(error))
    assert isinstance(outcome, GaveUp)
    assert outcome.attempts == 1
    assert backoff.waits == []
    assert [d.error_type for d in _letters(sqlite_url)] == [type(error).__name__]


def test_give_up_hook_runs_in_the_letters_transaction_and_can_suppress_it(sqlite_url: str) -> None:
    """The step's consequence runs once per give-up; returning False writes no second letter."""
    seen: list[int] = []

    def hook(_session: object, _error: BaseException, attempts: int) -> bool:
        seen.append(attempts)
        return len(seen) == 1

    runner = _runner(sqlite_url, RecordingBackoff())
    for _ in range(2):
        runner.run(STEP, Flaky(PermanentError("no")), on_give_up=hook)
    assert seen == [1, 1]
    assert len(_letters(sqlite_url)) == 1


def test_attempt_numbering_continues_from_the_callers_attempt(sqlite_url: str) -> None:
    """On the cluster the first attempt here is retries+1: a third delivery of a 3-attempt policy gives up."""
    outcome = _runner(sqlite_url, RecordingBackoff()).run(STEP, Flaky(RetryableError("x")), attempt=3)
    assert isinstance(outcome, GaveUp)
    assert outcome.attempts == 3
