"""Shared fixtures: real PostgreSQL and Redis, the shared data folder.

Services are real. When one is missing the test fails under ``CI=true`` and
skips locally with the reason (after dramatiq's fixtures).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLE_EXPORT = ROOT / "samples" / "sample_channel" / "result.json"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def in_ci() -> bool:
    """True when running in CI (``CI=true``), where missing services fail tests."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> NoReturn:
    """Fail in CI, skip locally: something the test needs is not there."""
    if in_ci():
        pytest.fail(f"required for CI: {reason}")
    pytest.skip(reason)


def need(condition: bool, reason: str) -> None:  # noqa: FBT001
    """Fail in CI, skip locally, when ``condition`` is false."""
    if not condition:
        missing(reason)


def port_open(host: str, port: int) -> bool:
    """Return whether a TCP connect to host:port succeeds within 1 s."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Telegram data folder ``../shared/data``."""
    need(SHARED_DATA.is_dir(), f"{SHARED_DATA} is missing (real Telegram exports)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_export() -> Path:
    """The committed sample export."""
    assert SAMPLE_EXPORT.is_file(), "samples/sample_channel/result.json must be committed"
    return SAMPLE_EXPORT


def _create_pg_database() -> str:
    from sqlalchemy import create_engine, text

    name = f"tgp_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A throwaway, empty PostgreSQL database (dropped afterwards)."""
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not answering on 127.0.0.1:5432")
    url = _create_pg_database()
    try:
        yield url
    finally:
        from tg_parser.storage.session import dispose_engines

        dispose_engines()
        _drop_pg_database(url)


@pytest.fixture
def pg_url(pg_empty_url: str) -> str:
    """A throwaway PostgreSQL database migrated to head."""
    from tg_parser.storage import migrate

    migrate.upgrade(pg_empty_url)
    return pg_empty_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file in a temporary folder, migrated to head."""
    from tg_parser.storage import migrate

    url = f"sqlite:///{tmp_path / 'tg_parser.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A dedicated Redis database number, flushed before and after."""
    need(port_open("127.0.0.1", 6379), "Redis is not answering on 127.0.0.1:6379")
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    try:
        yield REDIS_TEST_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run every test from a temporary folder with fresh settings (no stray .env)."""
    from tg_parser.config import get_settings

    monkeypatch.chdir(tmp_path)
    for var in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "LLM_PROVIDER", "EXPORT_DIR"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
