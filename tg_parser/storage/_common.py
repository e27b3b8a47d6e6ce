"""Helpers shared by the storage modules (not part of the public surface)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Result


def strip_nul(value: Any) -> Any:
    """Return ``value`` with NUL characters removed from every string inside it.

    PostgreSQL rejects NUL in ``text`` and ``jsonb`` (DESIGN.md, "Storage"), so
    every string crossing into the database passes through here.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_nul(v) for v in value]
    return value


def changed(result: Result[Any]) -> int:
    """Return how many rows an ``UPDATE``/``INSERT … ON CONFLICT`` changed."""
    return int(getattr(result, "rowcount", 0) or 0)
