"""Alembic migrations on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from tg_parser.storage import migrate
from tg_parser.storage.session import get_engine
from tg_parser.storage.tables import Base

pytestmark = pytest.mark.integration


def _agrees_with_alembic(url: str) -> None:
    """The cheap schema check (no Alembic) gives Alembic's own answers."""
    current = migrate.current_revision(url)
    assert migrate.stored_revisions(url) == (frozenset() if current is None else {current})
    assert migrate.script_heads() == {migrate.head_revision(url)}
    assert migrate.is_at_head(url) == (current == migrate.head_revision(url))


def _roundtrip(url: str) -> None:
    assert not migrate.is_at_head(url)  # an empty database: no alembic_version table
    _agrees_with_alembic(url)
    migrate.upgrade(url)
    assert migrate.is_at_head(url)
    _agrees_with_alembic(url)
    tables = set(inspect(get_engine(url)).get_table_names())
    assert set(Base.metadata.tables) <= tables
    command.check(migrate.alembic_config(url))  # raises on drift between models and migrations
    migrate.downgrade(url, "base")
    assert migrate.current_revision(url) is None
    assert not migrate.is_at_head(url)
    _agrees_with_alembic(url)
    left = set(inspect(get_engine(url)).get_table_names()) - {"alembic_version"}
    assert not left & set(Base.metadata.tables)
    migrate.upgrade(url)
    assert migrate.is_at_head(url)
    command.check(migrate.alembic_config(url))


def test_sqlite_upgrade_downgrade_upgrade_without_drift(tmp_path: Path) -> None:
    """SQLite: upgrade → check → downgrade to base → upgrade, no drift."""
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgres_upgrade_downgrade_upgrade_without_drift(pg_empty_url: str) -> None:
    """PostgreSQL: upgrade → check → downgrade to base → upgrade, no drift."""
    _roundtrip(pg_empty_url)
