"""Dialect-aware ``INSERT … ON CONFLICT`` (PostgreSQL and SQLite share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: Any) -> Any:
    """Return the dialect's ``insert(table)`` construct that supports ``on_conflict_*``.

    Args:
        session: A session bound to a PostgreSQL or SQLite engine.
        table: A table or mapped class.

    Raises:
        NotImplementedError: For another dialect.
    """
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    msg = f"upserts are implemented for PostgreSQL and SQLite, not {name}"
    raise NotImplementedError(msg)
