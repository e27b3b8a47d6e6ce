"""Settings, read from the environment and ``.env`` (pydantic-settings): one tree.

The root :class:`Settings` holds the core, retry and cluster variables; its
nested models hold the rest: ``settings.llm`` (:class:`~tg_parser.config.llm.LLMSettings`,
``LLM_*`` and the provider keys) and ``settings.telegram``
(:class:`~tg_parser.config.telegram.TelegramSettings`, ``TELEGRAM_*``).
Each nested model reads its own variables, so the names stay flat
(``LLM_PROVIDER``, not ``LLM__LLM_PROVIDER``).

"Is there a Redis" has one answer: :func:`is_redis_url` and
:attr:`Settings.redis_url`.

Nothing is read at import time: call :func:`get_settings`. Every variable is
listed in ``docs/configuration.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Literal, TypeVar, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tg_parser.config.llm import LLMSettings
from tg_parser.config.telegram import TelegramSettings
from tg_parser.errors import ConfigurationError, RetryableError

REDIS_SCHEMES = ("redis://", "rediss://", "redis+socket://", "unix://")
"""URL schemes that name a Redis server: redis-py's (``redis``, ``rediss``, ``unix``) and
kombu's Unix-socket form (``redis+socket``)."""

TASK_TYPES = ("ingest", "process", "topics", "export", "webhook", "media")
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

    Attributes:
        redis_url: The Redis of locks, the LLM rate limiter and Beat's tick:
            ``REDIS_URL`` when set, else ``CELERY_BROKER_URL`` when it is Redis,
            else ``CELERY_RESULT_BACKEND`` when it is Redis, else ``None`` (no
            Redis: no cross-process locks, an in-process rate limiter). Always a
            URL redis-py opens (kombu's ``redis+socket://`` becomes ``unix://``).
        llm: The LLM layer's settings (``LLM_*``, provider keys).
        telegram: The live Telegram source's settings (``TELEGRAM_*``).

    Build it with :func:`load_settings` (or :func:`get_settings`), which reads
    the nested models too and reports every invalid variable by name.

    Raises:
        pydantic.ValidationError: On construction, when a value is out of range.
            :func:`get_settings` turns it into :class:`ConfigurationError`.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite:///./tg_parser.db"
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None
    # Celery's task events (Flower's source); see tasks/app.py::celery_config.
    celery_worker_send_task_events: bool = True
    celery_task_send_sent_event: bool = True

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
    retry_webhook_max_attempts: int | None = Field(None, ge=1, le=10)
    retry_webhook_backoff_base: float | None = Field(None, ge=0.1, le=60)
    retry_webhook_backoff_max: float | None = Field(None, ge=1, le=300)
    retry_webhook_jitter: float | None = Field(None, ge=0, le=1)
    retry_media_max_attempts: int | None = Field(None, ge=1, le=10)
    retry_media_backoff_base: float | None = Field(None, ge=0.1, le=60)
    retry_media_backoff_max: float | None = Field(None, ge=1, le=300)
    retry_media_jitter: float | None = Field(None, ge=0, le=1)

    task_time_limit_s: int = Field(600, ge=10, le=7200)
    redis_visibility_timeout_s: int = Field(3600, ge=60)
    run_stall_timeout_s: float = Field(60.0, ge=5, le=86400)
    sweep_interval_s: float = Field(30.0, ge=1, le=3600)
    # Whether a post's finish write waits for its WAL flush (PostgreSQL's synchronous_commit);
    # off (default): the WAL writer flushes within 600 ms, and a server crash may lose the last
    # posts finished, which the sweeper sends again (tg_parser.storage.post_finish.finish_post).
    post_synchronous_commit: bool = False

    log_format: Literal["json", "text"] | None = None
    log_level: str = "INFO"

    processor_factory: str | None = None
    # Posts processed at once in embedded mode; unset: see
    # tg_parser.services.processors.process_concurrency (8 for a provider, the cores offline).
    process_concurrency: int | None = Field(None, ge=1, le=256)

    export_dir: str = "./exports"
    topic_seed: int = 42
    # Provider embeddings as an extra block of the topic space (tg_parser.services.topic_embeddings):
    # auto = when the provider has an embedding model, offline = never, provider = required.
    topic_embeddings: Literal["auto", "offline", "provider"] = "auto"
    # Worker processes of topicize's assignment pass above 20,000 posts (tg_parser.topics.assign);
    # unset: the usable cores, at most 4.
    topic_processes: int | None = Field(None, ge=1, le=64)
    # Discussion comments of live channels (issue 13): not read, own documents, or folded into the post.
    comments: Literal["off", "separate", "fold"] = "separate"
    # Media files of live channels (issue 13): which kinds to download, the size cap, the store.
    media_download: Literal["none", "photos", "documents", "all"] = "none"
    media_max_size_mb: float | None = Field(None, gt=0)
    media_dir: str = "./media"

    redis_url: str | None = None

    # The HTTP API (tg-parser api serve): upload cap, per-key rate limit, webhook delivery timeout.
    api_max_upload_mb: int = Field(1024, ge=1, le=1_048_576)
    api_rate_limit_per_min: int = Field(600, ge=0, le=1_000_000)
    api_upload_dir: str | None = None
    webhook_timeout_s: float = Field(10.0, gt=0, le=300)

    # Each nested model reads its own variables; NoDecode keeps a stray ``LLM`` or
    # ``TELEGRAM`` variable from being parsed as JSON for the whole branch.
    llm: Annotated[LLMSettings, NoDecode] = Field(default_factory=LLMSettings)
    telegram: Annotated[TelegramSettings, NoDecode] = Field(default_factory=TelegramSettings)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        """Use psycopg 3 for PostgreSQL URLs (``postgres://`` and ``postgresql://`` alike)."""
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("redis_url")
    @classmethod
    def _refuse_non_redis_url(cls, value: str | None) -> str | None:
        """``REDIS_URL`` must name a Redis (see :data:`REDIS_SCHEMES`); empty means unset."""
        if not value or not value.strip():
            return None
        if not is_redis_url(value):
            msg = f"must start with one of {', '.join(REDIS_SCHEMES)}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _resolve_redis_url(self) -> Settings:
        """Fill :attr:`redis_url`: ``REDIS_URL``, else a Redis broker, else a Redis result backend."""
        for url in (self.redis_url, self.celery_broker_url, self.celery_result_backend):
            if is_redis_url(url):
                self.redis_url = _redis_py_url(url or "")
                return self
        self.redis_url = None
        return self

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
        if not is_redis_url(self.celery_broker_url):
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


def is_redis_url(url: str | None) -> bool:
    """Tell whether ``url`` names a Redis server: the one rule for "is there a Redis".

    Args:
        url: A broker, result backend or Redis URL; ``None`` or empty for none.

    Returns:
        True for the schemes of :data:`REDIS_SCHEMES` (case-insensitive).
    """
    return bool(url) and (url or "").strip().lower().startswith(REDIS_SCHEMES)


def _redis_py_url(url: str) -> str:
    """Return ``url`` as redis-py reads it: kombu's ``redis+socket:///path?virtual_host=N`` → ``unix:///path?db=N``.

    kombu names a Unix socket ``redis+socket://`` and its database
    ``virtual_host`` (kombu docs, "Redis transport"); redis-py's ``from_url``
    accepts only ``redis://``, ``rediss://`` and ``unix://`` with ``db``.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "redis+socket":
        return url.strip()
    pairs = parse_qsl(parts.query)
    query = urlencode([("db" if k == "virtual_host" else k, v.lstrip("/")) for k, v in pairs])
    return f"unix://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")


_S = TypeVar("_S", bound=BaseSettings)


def _accepted_names(model: type[BaseSettings]) -> set[str]:
    """Field names and aliases ``model`` accepts as keyword arguments."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(a for a in alias.choices if isinstance(a, str))
    return names


def _is_secret(field: FieldInfo | None) -> bool:
    """Tell whether the field holds a :class:`SecretStr` (its value must never be echoed)."""
    if field is None:
        return False
    return SecretStr in (field.annotation, *get_args(field.annotation))


def _problems(model: type[BaseSettings], exc: ValidationError) -> list[str]:
    """Describe each error of ``exc`` by its variable name (the model's ``env_prefix`` + field)."""
    prefix = str(model.model_config.get("env_prefix") or "")
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = (prefix + "_".join(loc)).upper() if loc else model.__name__
        value = err.get("input")
        if loc and not _is_secret(model.model_fields.get(loc[0])) and isinstance(value, str | int | float):
            out.append(f"{name}={value!r}: {err['msg']}")
        else:
            out.append(f"{name}: {err['msg']}")
    return out


def _build(model: type[_S], overrides: Mapping[str, object], problems: list[str]) -> _S | None:
    """Build ``model`` from the environment and ``overrides``; on errors add them to ``problems``."""
    unknown = sorted(k for k in overrides if not k.startswith("_") and k not in _accepted_names(model))
    if unknown:
        msg = f"{model.__name__} has no setting {', '.join(unknown)}"
        raise TypeError(msg)
    try:
        return model(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems.extend(_problems(model, exc))
        return None


def _configuration_error(problems: list[str]) -> ConfigurationError:
    """Return one :class:`ConfigurationError` naming every invalid variable."""
    return ConfigurationError("invalid configuration: " + "; ".join(problems))


def build_settings(model: type[_S], **overrides: object) -> _S:
    """Build one settings model (a nested one on its own, as tests do) from the environment.

    Args:
        model: A settings class, e.g. :class:`~tg_parser.config.llm.LLMSettings`.
        **overrides: Field values that win over the environment.

    Returns:
        The validated settings.

    Raises:
        ConfigurationError: A value is invalid; the message names the variable
            (``LLM_TIMEOUT_S``, ``TELEGRAM_EDIT_WINDOW``) and never a secret's value.
        TypeError: An override names no field of ``model``.
    """
    problems: list[str] = []
    built = _build(model, overrides, problems)
    if built is None:
        # ``from None``: the pydantic error would show the inputs, secrets included.
        raise _configuration_error(problems) from None
    return built


def load_settings(
    *,
    llm: Mapping[str, object] | None = None,
    telegram: Mapping[str, object] | None = None,
    **overrides: object,
) -> Settings:
    """Build the settings tree from the environment, ``.env`` and overrides.

    Args:
        llm: Overrides of ``settings.llm`` fields (``{"llm_provider": "ollama"}``).
        telegram: Overrides of ``settings.telegram`` fields (``{"edit_window": 10}``).
        **overrides: Overrides of root fields (``database_url=...``).

    Returns:
        The validated settings, nested models included.

    Raises:
        ConfigurationError: A value is invalid; the message names every invalid
            variable (e.g. ``RETRY_MAX_ATTEMPTS``, ``LLM_TIMEOUT_S``,
            ``TELEGRAM_EDIT_WINDOW``) and the allowed range.
        TypeError: An override names no setting (a moved field such as
            ``llm_provider`` belongs in ``llm=``).
    """
    problems: list[str] = []
    llm_settings = _build(LLMSettings, llm or {}, problems)
    telegram_settings = _build(TelegramSettings, telegram or {}, problems)
    root = _build(
        Settings,
        {
            **overrides,
            # A placeholder stands in for a nested model that failed, so the root's
            # own problems are reported in the same message.
            "llm": llm_settings or LLMSettings.model_construct(),
            "telegram": telegram_settings or TelegramSettings.model_construct(),
        },
        problems,
    )
    if root is None or problems:
        raise _configuration_error(problems) from None
    return root


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once on first call.

    Raises:
        ConfigurationError: See :func:`load_settings`.
    """
    return load_settings()
