"""Settings ranges, per-task retry policies and the back-off formula of DESIGN.md."""

from __future__ import annotations

import pytest

from tg_parser.config import RetryPolicy, load_settings
from tg_parser.errors import ConfigurationError


def test_defaults_are_embedded_sqlite_offline() -> None:
    """With nothing set: SQLite file, no broker (embedded), offline processor, DESIGN.md retry defaults."""
    s = load_settings()
    assert s.database_url == "sqlite:///./tg_parser.db"
    assert s.embedded
    assert s.llm_provider == "offline"
    p = s.retry_policy("process")
    assert (p.max_attempts, p.backoff_base_s, p.backoff_max_s, p.jitter) == (3, 1.0, 60.0, 0.3)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("RETRY_MAX_ATTEMPTS", "0"),
        ("RETRY_MAX_ATTEMPTS", "11"),
        ("RETRY_BACKOFF_BASE", "0.05"),
        ("RETRY_BACKOFF_BASE", "61"),
        ("RETRY_BACKOFF_MAX", "0.5"),
        ("RETRY_BACKOFF_MAX", "301"),
        ("RETRY_JITTER", "-0.1"),
        ("RETRY_JITTER", "1.5"),
        ("RETRY_PROCESS_MAX_ATTEMPTS", "12"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    """A value outside DESIGN.md's range is refused with the variable's name in the message."""
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigurationError, match=var):
        load_settings()


def test_per_task_overrides_win_over_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """RETRY_PROCESS_MAX_ATTEMPTS and RETRY_INGEST_BACKOFF_MAX override only their task type."""
    monkeypatch.setenv("RETRY_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("RETRY_PROCESS_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("RETRY_INGEST_BACKOFF_MAX", "120")
    s = load_settings()
    assert s.retry_policy("process").max_attempts == 7
    assert s.retry_policy("ingest").max_attempts == 4
    assert s.retry_policy("ingest").backoff_max_s == 120
    assert s.retry_policy("export").backoff_max_s == 60


def test_postgres_urls_are_normalised_to_psycopg3() -> None:
    """postgres:// and postgresql:// become postgresql+psycopg://."""
    assert load_settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    assert load_settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"


def test_backoff_doubles_then_caps_without_jitter() -> None:
    """min(max, base * 2**(n-1)): 1, 2, 4, 8 … capped at max."""
    p = RetryPolicy(max_attempts=10, backoff_base_s=1.0, backoff_max_s=10.0, jitter=0.0)
    assert [p.delay_s(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_stays_within_bounds_and_never_above_max() -> None:
    """The jitter factor spans [1-j, 1+j] and the delay never exceeds the cap."""
    p = RetryPolicy(max_attempts=10, backoff_base_s=2.0, backoff_max_s=5.0, jitter=0.5)
    assert p.delay_s(1, rand=0.0) == pytest.approx(1.0)
    assert p.delay_s(1, rand=0.999999) == pytest.approx(3.0, rel=1e-5)
    assert all(p.delay_s(n, rand=r / 10) <= 5.0 for n in range(1, 8) for r in range(10))


def test_server_wait_wins_only_when_longer() -> None:
    """A FloodWait / Retry-After longer than the back-off wins; a shorter one does not."""
    p = RetryPolicy(max_attempts=3, backoff_base_s=1.0, backoff_max_s=60.0, jitter=0.0)
    assert p.delay_s(1, server_wait_s=30.0) == 30.0
    assert p.delay_s(3, server_wait_s=0.5) == 4.0


def test_visibility_timeout_shorter_than_retries_plus_time_limit_is_refused() -> None:
    """A Redis broker with visibility_timeout ≤ longest retry delay + task time limit is refused."""
    s = load_settings(
        celery_broker_url="redis://x:6379/0", redis_visibility_timeout_s=600, task_time_limit_s=600
    )
    with pytest.raises(ConfigurationError, match="REDIS_VISIBILITY_TIMEOUT_S"):
        s.check_visibility_timeout()
    load_settings(celery_broker_url="redis://x:6379/0").check_visibility_timeout()
    load_settings(celery_broker_url="amqp://x", redis_visibility_timeout_s=60).check_visibility_timeout()
