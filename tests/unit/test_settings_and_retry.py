"""Settings ranges, the settings tree, the Redis rule, per-task retry policies and the back-off formula."""

from __future__ import annotations

import pytest

from tg_parser.config import RetryPolicy, is_redis_url, load_settings
from tg_parser.errors import ConfigurationError

REDIS_VARIABLES = ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "LLM_RATE_LIMIT_REDIS_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No stray variable or ``.env`` decides what the tests see."""
    for name in (*REDIS_VARIABLES, "LLM_PROVIDER", "LLM_TIMEOUT_S", "TELEGRAM_EDIT_WINDOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_embedded_sqlite_offline() -> None:
    """With nothing set: SQLite file, no broker (embedded), offline processor, DESIGN.md retry defaults."""
    s = load_settings()
    assert s.database_url == "sqlite:///./tg_parser.db"
    assert s.embedded
    assert s.llm.llm_provider == "offline"
    assert s.redis_url is None
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


def test_visibility_timeout_is_checked_for_every_redis_broker_scheme() -> None:
    """rediss:// and redis+socket:// brokers are Redis too: their visibility timeout is checked."""
    for broker in ("rediss://x:6380/0", "redis+socket:///tmp/redis.sock", "unix:///tmp/redis.sock"):
        s = load_settings(celery_broker_url=broker, redis_visibility_timeout_s=600, task_time_limit_s=600)
        with pytest.raises(ConfigurationError, match="REDIS_VISIBILITY_TIMEOUT_S"):
            s.check_visibility_timeout()


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:secret@redis.example:6380/1",
        "redis+socket:///var/run/redis.sock",
        "unix:///var/run/redis.sock?db=2",
        "REDIS://HOST:6379/0",
    ],
)
def test_redis_schemes_are_redis(url: str) -> None:
    """redis://, rediss://, redis+socket:// and unix:// (any case) name a Redis."""
    assert is_redis_url(url)


@pytest.mark.parametrize(
    "url", ["amqp://guest@rabbit//", "memory://", "sqla+sqlite:///celery.db", "", None, "redisx://h"]
)
def test_other_urls_are_not_redis(url: str | None) -> None:
    """amqp://, memory://, a database, empty and None are not a Redis."""
    assert not is_redis_url(url)


def test_redis_url_precedence_redis_url_then_broker_then_result_backend() -> None:
    """settings.redis_url: REDIS_URL, else a Redis broker, else a Redis result backend, else None."""
    both = {"celery_broker_url": "redis://broker:6379/0", "celery_result_backend": "redis://backend:6379/1"}
    assert load_settings(redis_url="redis://own:6379/2", **both).redis_url == "redis://own:6379/2"
    assert load_settings(**both).redis_url == "redis://broker:6379/0"
    backend_only = {
        "celery_broker_url": "amqp://guest@rabbit//",
        "celery_result_backend": "redis://backend:6379/1",
    }
    assert load_settings(**backend_only).redis_url == "redis://backend:6379/1"
    assert load_settings(celery_broker_url="amqp://guest@rabbit//").redis_url is None
    assert (
        load_settings(celery_broker_url="amqp://x", celery_result_backend="db+sqlite:///r.db").redis_url
        is None
    )
    assert load_settings().redis_url is None


def test_redis_url_reads_the_redis_url_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """REDIS_URL gives a Redis even with a RabbitMQ broker; a non-Redis REDIS_URL is refused by name."""
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@rabbit//")
    monkeypatch.setenv("REDIS_URL", "redis://locks:6379/4")
    assert load_settings().redis_url == "redis://locks:6379/4"
    monkeypatch.setenv("REDIS_URL", "amqp://guest@rabbit//")
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        load_settings()


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("rediss://:pw@redis.example:6380/0", "rediss://:pw@redis.example:6380/0"),
        ("unix:///var/run/redis.sock?db=1", "unix:///var/run/redis.sock?db=1"),
        ("redis+socket:///var/run/redis.sock?virtual_host=3", "unix:///var/run/redis.sock?db=3"),
    ],
)
def test_tls_and_socket_brokers_give_a_redis_for_locks(broker: str, expected: str) -> None:
    """A rediss:// or unix:// broker is a Redis for locks and limiter; kombu's socket form becomes unix://."""
    import redis

    url = load_settings(celery_broker_url=broker).redis_url
    assert url == expected
    assert redis.Redis.from_url(url) is not None  # redis-py accepts it (no connection is made)


def test_ingest_takes_the_account_lock_in_a_unix_socket_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """telegram_batches locks the account in settings.redis_url, here a unix:// broker."""
    from contextlib import contextmanager

    from tg_parser.services import telegram_ingest
    from tg_parser.sources import locks

    taken: list[str] = []

    class Stop(Exception):  # noqa: N818 - a test signal, not an error
        """Raised where the fetch would start: the lock was decided by then."""

    @contextmanager
    def fake_lock(redis_url: str, account_key: str, **_: object):
        taken.append(redis_url)
        yield account_key

    def stop(_settings: object) -> None:
        raise Stop

    monkeypatch.setattr(locks, "account_lock", fake_lock)
    monkeypatch.setattr(telegram_ingest, "_telethon_source", stop)
    settings = load_settings(celery_broker_url="unix:///var/run/redis.sock")
    with pytest.raises(Stop):
        next(telegram_ingest.telegram_batches(settings=settings, reference="@x", cursor=None, known_ids=[]))
    assert taken == ["unix:///var/run/redis.sock"]


def test_nested_env_names_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLM_PROVIDER and TELEGRAM_EDIT_WINDOW keep their names and fill settings.llm and settings.telegram."""
    monkeypatch.setenv("LLM_PROVIDER", "ollama")
    monkeypatch.setenv("TELEGRAM_EDIT_WINDOW", "7")
    monkeypatch.setenv("RETRY_PROCESS_MAX_ATTEMPTS", "5")
    s = load_settings()
    assert s.llm.llm_provider == "ollama"
    assert s.telegram.edit_window == 7
    assert s.retry_policy("process").max_attempts == 5


def test_nested_values_come_from_dotenv_too(tmp_path) -> None:
    """A .env in the working folder fills the nested models as it fills the root."""
    (tmp_path / ".env").write_text(
        "LLM_PROVIDER=gemini\nGOOGLE_API_KEY=g-key\nTELEGRAM_API_ID=42\nREDIS_URL=redis://dotenv:6379/0\n",
        encoding="utf-8",
    )
    s = load_settings()
    assert s.llm.llm_provider == "gemini"
    assert s.llm.gemini_api_key is not None
    assert s.llm.gemini_api_key.get_secret_value() == "g-key"
    assert s.telegram.api_id == 42
    assert s.redis_url == "redis://dotenv:6379/0"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("LLM_TIMEOUT_S", "0"),
        ("LLM_PROVIDER", "gpt"),
        ("TELEGRAM_EDIT_WINDOW", "-1"),
        ("TELEGRAM_API_ID", "x"),
    ],
)
def test_invalid_nested_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    """An invalid LLM_* or TELEGRAM_* value fails load_settings with ConfigurationError naming it."""
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigurationError, match=var):
        load_settings()


def test_every_invalid_variable_of_the_tree_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One ConfigurationError names the bad root, LLM and Telegram variables together."""
    monkeypatch.setenv("RETRY_MAX_ATTEMPTS", "0")
    monkeypatch.setenv("LLM_TIMEOUT_S", "0")
    monkeypatch.setenv("TELEGRAM_EDIT_WINDOW", "-1")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    for var in ("RETRY_MAX_ATTEMPTS", "LLM_TIMEOUT_S", "TELEGRAM_EDIT_WINDOW"):
        assert var in str(caught.value)


def test_stray_branch_named_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables named LLM or TELEGRAM (not JSON) do not replace or break the nested models."""
    monkeypatch.setenv("LLM", "not json")
    monkeypatch.setenv("TELEGRAM", "x")
    s = load_settings()
    assert (s.llm.llm_provider, s.telegram.edit_window) == ("offline", 50)


def test_nested_overrides_and_moved_names() -> None:
    """llm= and telegram= override the branches; a moved root name (telegram_api_id=) is a TypeError."""
    s = load_settings(llm={"llm_timeout_s": 5.0}, telegram={"edit_window": 0})
    assert (s.llm.llm_timeout_s, s.telegram.edit_window) == (5.0, 0)
    with pytest.raises(TypeError, match="telegram_api_id"):
        load_settings(telegram_api_id=1)


@pytest.mark.parametrize(
    ("provider", "mode", "model"),
    [
        ("openai", "auto", "text-embedding-3-small"),
        ("gemini", "auto", "gemini-embedding-001"),
        ("ollama", "auto", "nomic-embed-text"),
        ("anthropic", "auto", None),
        ("offline", "auto", None),
        ("openai", "offline", None),
        ("ollama", "provider", "nomic-embed-text"),
    ],
)
def test_topic_embeddings_pick_the_provider_model_only_when_it_has_one(
    provider: str, mode: str, model: str | None
) -> None:
    """TOPIC_EMBEDDINGS=auto uses the provider's embedding model when it has one; offline never does."""
    from tg_parser.services.topic_embeddings import embedding_model_for

    settings = load_settings(topic_embeddings=mode, llm={"llm_provider": provider})
    assert embedding_model_for(settings) == model


def test_topic_embeddings_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown TOPIC_EMBEDDINGS is refused by name; provider mode without embeddings is a clear error."""
    from tg_parser.services.topic_embeddings import embedding_model_for

    monkeypatch.setenv("TOPIC_EMBEDDINGS", "sometimes")
    with pytest.raises(ConfigurationError, match="TOPIC_EMBEDDINGS"):
        load_settings()
    monkeypatch.setenv("TOPIC_EMBEDDINGS", "provider")
    with pytest.raises(ConfigurationError, match="LLM_PROVIDER=anthropic has no embedding model"):
        embedding_model_for(load_settings(llm={"llm_provider": "anthropic"}))
