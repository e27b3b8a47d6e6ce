"""Settings, read from the environment and ``.env`` (pydantic-settings).

Nothing is read at import time: call :func:`get_settings`. Every variable is
listed in ``docs/configuration.md``.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tg_parser.errors import ConfigurationError, RetryableError

TASK_TYPES = ("ingest", "process", "topics", "export")
"""Task types that can carry their own retry policy (``RETRY_<TYPE>_*``)."""


class RetryPolicy:
    """A retry policy: attempts and the back-off of DESIGN.md.

    Delay before attempt ``n+1`` (``n`` ≥ 1 attempts made):
    ``min(backoff_max_s, backoff_base_s * 2**(n-1))`` scaled by a random factor
    in ``[1-jitter, 1+jitter]``, never above ``backoff_max_s``; a wait named by
    the server wins when longer.

    Args:
        max_attempts: Total attempts including the first (1 to 10).
        backoff_base_s: Base delay in seconds.
        backoff_max_s: Cap on one delay in seconds.
        jitter: Relative jitter (0 to 1).
    """

    def __init__(
        self, *, max_attempts: int, backoff_base_s: float, backoff_max_s: float, jitter: float
    ) -> None:
        """Store the policy's values (see the class docstring)."""
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.jitter = jitter

    def delay_s(self, attempts_made: int, *, rand: float = 0.5, server_wait_s: float | None = None) -> float:
        """Return the delay in seconds before the next attempt.

        Args:
            attempts_made: Attempts already made (≥ 1).
            rand: A uniform random number in [0, 1) choosing the jitter factor.
            server_wait_s: The wait named by the server, if any; wins when longer.
        """
        n = max(1, attempts_made)
        base = min(self.backoff_max_s, self.backoff_base_s * float(2 ** (n - 1)))
        factor = 1 - self.jitter + 2 * self.jitter * rand
        delay = min(self.backoff_max_s, base * factor)
        if server_wait_s is not None and server_wait_s > delay:
            return server_wait_s
        return delay

    def retry_delay_s(self, *, attempts_made: int, error: BaseException, rand: float) -> float | None:
        """Return the delay before the next attempt, or ``None`` to give up.

        Only a :class:`RetryableError` with attempts left is retried (DESIGN.md:
        permanent errors fail at once); its server-named wait wins when longer.

        Args:
            attempts_made: Attempts already made (≥ 1).
            error: What the last attempt raised.
            rand: A uniform random number in [0, 1) choosing the jitter factor.
        """
        if not isinstance(error, RetryableError) or attempts_made >= self.max_attempts:
            return None
        return self.delay_s(attempts_made, rand=rand, server_wait_s=error.retry_after_s)

    def __repr__(self) -> str:
        """Show the policy's values."""
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, backoff_base_s={self.backoff_base_s}, "
            f"backoff_max_s={self.backoff_max_s}, jitter={self.jitter})"
        )


class Settings(BaseSettings):
    """All settings of tg_parser. Field names map to upper-case variables.

    Raises:
        pydantic.ValidationError: On construction, when a value is out of range.
            :func:`get_settings` turns it into :class:`ConfigurationError`.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///./tg_parser.db"
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None

    retry_max_attempts: int = Field(3, ge=1, le=10)
    retry_backoff_base: float = Field(1.0, ge=0.1, le=60)
    retry_backoff_max: float = Field(60.0, ge=1, le=300)
    retry_jitter: float = Field(0.3, ge=0, le=1)

    retry_ingest_max_attempts: int | None = Field(None, ge=1, le=10)
    retry_ingest_backoff_base: float | None = Field(None, ge=0.1, le=60)
    retry_ingest_backoff_max: float | None = Field(None, ge=1, le=300)
    retry_ingest_jitter: float | None = Field(None, ge=0, le=1)
    retry_process_max_attempts: int | None = Field(None, ge=1, le=10)
    retry_process_backoff_base: float | None = Field(None, ge=0.1, le=60)
    retry_process_backoff_max: float | None = Field(None, ge=1, le=300)
    retry_process_jitter: float | None = Field(None, ge=0, le=1)
    retry_topics_max_attempts: int | None = Field(None, ge=1, le=10)
    retry_topics_backoff_base: float | None = Field(None, ge=0.1, le=60)
    retry_topics_backoff_max: float | None = Field(None, ge=1, le=300)
    retry_topics_jitter: float | None = Field(None, ge=0, le=1)
    retry_export_max_attempts: int | None = Field(None, ge=1, le=10)
    retry_export_backoff_base: float | None = Field(None, ge=0.1, le=60)
    retry_export_backoff_max: float | None = Field(None, ge=1, le=300)
    retry_export_jitter: float | None = Field(None, ge=0, le=1)

    task_time_limit_s: int = Field(600, ge=10, le=7200)
    redis_visibility_timeout_s: int = Field(3600, ge=60)
    run_stall_timeout_s: float = Field(60.0, ge=5, le=86400)
    sweep_interval_s: float = Field(30.0, ge=1, le=3600)

    log_format: Literal["json", "text"] | None = None
    log_level: str = "INFO"

    llm_provider: Literal["offline", "openai", "anthropic", "gemini", "ollama"] = "offline"
    llm_model: str | None = None
    llm_timeout_s: float = Field(60.0, gt=0, le=600)
    processor_factory: str | None = None

    export_dir: str = "./exports"
    topic_seed: int = 42

    telegram_api_id: int | None = None
    telegram_api_hash: SecretStr | None = None
    telegram_session: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        """Use psycopg 3 for PostgreSQL URLs (``postgres://`` and ``postgresql://`` alike)."""
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: tasks run in-process."""
        return not self.celery_broker_url

    @property
    def effective_log_format(self) -> str:
        """``LOG_FORMAT`` or, unset, ``text`` on a terminal and ``json`` otherwise."""
        if self.log_format:
            return self.log_format
        return "text" if sys.stderr.isatty() else "json"

    def longest_retry_delay_s(self) -> float:
        """Return the longest back-off any task type can wait between attempts, in seconds."""
        return max(self.retry_policy(t).backoff_max_s for t in TASK_TYPES)

    def check_visibility_timeout(self) -> None:
        """Refuse a Redis visibility timeout too short for retries plus the task time limit.

        Celery's Redis transport redelivers an unacknowledged message after
        ``visibility_timeout`` seconds; a retry countdown or a running task that
        outlasts it would run twice (Celery docs, "Redis: visibility timeout").

        Raises:
            ConfigurationError: ``REDIS_VISIBILITY_TIMEOUT_S`` ≤ longest retry
                delay + ``TASK_TIME_LIMIT_S`` while the broker is Redis.
        """
        broker = self.celery_broker_url or ""
        if not broker.startswith(("redis://", "rediss://", "redis+socket://")):
            return
        need = self.longest_retry_delay_s() + self.task_time_limit_s
        if self.redis_visibility_timeout_s <= need:
            msg = (
                f"REDIS_VISIBILITY_TIMEOUT_S={self.redis_visibility_timeout_s} must exceed the longest "
                f"retry delay ({self.longest_retry_delay_s():.0f} s, RETRY_*_BACKOFF_MAX) plus "
                f"TASK_TIME_LIMIT_S ({self.task_time_limit_s} s) = {need:.0f} s, or Redis redelivers "
                "tasks that are still running"
            )
            raise ConfigurationError(msg)

    def retry_policy(self, task_type: str) -> RetryPolicy:
        """Return the retry policy of a task type: its overrides over the defaults.

        Args:
            task_type: One of :data:`TASK_TYPES`.

        Raises:
            ValueError: For an unknown task type.
        """
        if task_type not in TASK_TYPES:
            msg = f"unknown task type {task_type!r}; expected one of {TASK_TYPES}"
            raise ValueError(msg)

        def pick(name: str) -> float:
            override = getattr(self, f"retry_{task_type}_{name}")
            return float(override if override is not None else getattr(self, f"retry_{name}"))

        return RetryPolicy(
            max_attempts=int(pick("max_attempts")),
            backoff_base_s=float(pick("backoff_base")),
            backoff_max_s=float(pick("backoff_max")),
            jitter=float(pick("jitter")),
        )


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, ``.env`` and ``overrides``.

    Raises:
        ConfigurationError: A value is invalid; the message names the variable
            (e.g. ``RETRY_MAX_ATTEMPTS``) and the allowed range.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper() or "settings"
            problems.append(f"{name}={err.get('input')!r}: {err['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once on first call.

    Raises:
        ConfigurationError: See :func:`load_settings`.
    """
    return load_settings()
