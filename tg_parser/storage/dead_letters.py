"""Dead letters: units of work that gave up, kept for ``tg-parser dlq list`` and ``dlq replay``.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return :class:`DeadLetter` records, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tg_parser.storage._common import strip_nul
from tg_parser.storage.tables import DeadLetterRow, utcnow

MAX_ERROR_CHARS = 10_000
"""Longest error message kept in a dead letter."""


@dataclass(frozen=True)
class DeadLetter:
    """A stored dead letter.

    Attributes:
        id: Its id (``dlq replay ID``).
        run_id: The run it belonged to, if any.
        task_name: The task that gave up (``tg_parser.process_message``, …).
        args: The task's arguments (ids), plus context such as the channel key.
        error_type: Class name of the last error.
        error_message: Its message.
        attempts: Attempts made (counted across identical repeats).
        first_failed_at: When it first gave up (UTC).
        failed_at: When it last gave up (UTC).
        replayed_at: When it was replayed, if it was.
        resolved: Whether it was replayed or otherwise settled.
    """

    id: int
    run_id: str | None
    task_name: str
    args: dict[str, Any]
    error_type: str
    error_message: str
    attempts: int
    first_failed_at: datetime
    failed_at: datetime
    replayed_at: datetime | None
    resolved: bool


def _record(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        run_id=row.run_id,
        task_name=row.task_name,
        args=dict(row.args or {}),
        error_type=row.error_type,
        error_message=row.error_message,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        failed_at=row.failed_at,
        replayed_at=row.replayed_at,
        resolved=row.resolved,
    )


def add_dead_letter(
    session: Session,
    *,
    run_id: str | None,
    task_name: str,
    args: dict[str, Any],
    error_type: str,
    error_message: str,
    attempts: int,
    first_failed_at: datetime | None = None,
) -> int:
    """Record a unit of work that gave up; returns the dead letter's id."""
    row = DeadLetterRow(
        run_id=run_id,
        task_name=task_name,
        args=strip_nul(args),
        error_type=error_type,
        error_message=strip_nul(error_message)[:MAX_ERROR_CHARS],
        attempts=attempts,
        first_failed_at=first_failed_at or utcnow(),
        failed_at=utcnow(),
        resolved=False,
    )
    session.add(row)
    session.flush()
    return int(row.id)


def repeat_dead_letter(
    session: Session, *, task_name: str, args: dict[str, Any], error_message: str, run_id: str | None
) -> bool:
    """Count one more failure on an identical unresolved dead letter, if there is one.

    The same bad message in a re-read export then keeps one dead letter
    (with its attempts counted) instead of adding a row per run.

    Returns:
        ``True`` when an identical letter existed and was updated.
    """
    candidates = session.execute(
        select(DeadLetterRow).where(
            DeadLetterRow.task_name == task_name,
            DeadLetterRow.resolved.is_(False),
            DeadLetterRow.error_message == strip_nul(error_message)[:MAX_ERROR_CHARS],
        )
    ).scalars()
    for row in candidates:
        if row.args == strip_nul(args):
            row.attempts += 1
            row.failed_at = utcnow()
            row.run_id = run_id
            return True
    return False


def list_dead_letters(
    session: Session,
    *,
    include_resolved: bool = False,
    limit: int = 100,
    run_id: str | None = None,
    ids: Sequence[int] | None = None,
) -> list[DeadLetter]:
    """Return dead letters, newest first.

    Args:
        session: Open session.
        include_resolved: Also return replayed/resolved letters.
        limit: At most this many.
        run_id: Only this run's letters.
        ids: Only these ids.
    """
    stmt = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)
    if not include_resolved:
        stmt = stmt.where(DeadLetterRow.resolved.is_(False))
    if run_id is not None:
        stmt = stmt.where(DeadLetterRow.run_id == run_id)
    if ids is not None:
        stmt = stmt.where(DeadLetterRow.id.in_(list(ids)))
    return [_record(row) for row in session.execute(stmt).scalars()]


def resolve_dead_letter(session: Session, *, letter_id: int) -> None:
    """Mark a dead letter resolved (replayed now)."""
    session.execute(
        update(DeadLetterRow).where(DeadLetterRow.id == letter_id).values(resolved=True, replayed_at=utcnow())
    )
