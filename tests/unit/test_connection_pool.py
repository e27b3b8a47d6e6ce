"""The database connection pool follows the worker's concurrency: a connection per task slot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.app import app
from tg_parser.storage import session as storage_session
from tg_parser.storage.session import DEFAULT_POOL_SIZE, pool_size, reserve_connections

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tgp_pool_size_never_connected"
"""A PostgreSQL URL: making an engine for it opens no connection."""


@pytest.fixture(autouse=True)
def _fresh_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no engine and the default pool size, and leaves none behind."""
    storage_session.dispose_engines()
    monkeypatch.setattr(storage_session, "_min_pool_size", DEFAULT_POOL_SIZE)
    yield
    storage_session.dispose_engines()


def test_pool_keeps_a_connection_per_thread() -> None:
    """After reserving 32 threads the engine's pool holds at least 32 connections; fewer keeps the default."""
    reserve_connections(2)
    assert pool_size(PG_URL) == DEFAULT_POOL_SIZE
    reserve_connections(32)
    assert pool_size(PG_URL) >= 32


def test_an_engine_made_before_the_reservation_is_made_again() -> None:
    """An engine created with the default pool is replaced by one sized for the threads."""
    assert pool_size(PG_URL) == DEFAULT_POOL_SIZE
    reserve_connections(24)
    assert pool_size(PG_URL) >= 24


@pytest.mark.parametrize("concurrency", [1, 12, 32])
def test_a_thread_pool_worker_sizes_the_pool_to_its_concurrency(
    concurrency: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Celery worker set up with ``--pool threads -c N`` gives the database pool_size >= N."""
    monkeypatch.chdir(tmp_path)
    worker = app.WorkController(pool_cls="threads", concurrency=concurrency, without_mingle=True)
    assert worker.concurrency == concurrency
    assert pool_size(PG_URL) >= concurrency
