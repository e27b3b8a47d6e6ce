"""Item transitions of the run lifecycle: the posts a run must process and their terminal states.

Private to :mod:`tg_parser.storage.runs`, which re-exports these names; the
same guarded-``UPDATE`` rule applies (exactly one mover sees ``True``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from tg_parser.domain.runs import ItemStatus, check_item_transition
from tg_parser.storage._common import changed, strip_nul
from tg_parser.storage.tables import RunItemRow, utcnow
from tg_parser.storage.upsert import insert_for


def add_run_items(session: Session, *, run_id: str, message_pks: Sequence[int]) -> None:
    """Record the posts a run must process, as ``pending`` (idempotent)."""
    rows = [
        {"run_id": run_id, "message_pk": pk, "status": ItemStatus.PENDING.value, "updated_at": utcnow()}
        for pk in message_pks
    ]
    for start in range(0, len(rows), 1000):
        stmt = insert_for(session, RunItemRow).on_conflict_do_nothing(index_elements=["run_id", "message_pk"])
        session.execute(stmt, rows[start : start + 1000])


def finish_item(
    session: Session,
    *,
    run_id: str,
    message_pk: int,
    status: ItemStatus,
    attempts: int = 1,
    error: str | None = None,
) -> bool:
    """Move a pending item to ``done`` or ``failed``; ``True`` only for the first mover.

    Raises:
        TransitionError: ``status`` is not terminal.
    """
    check_item_transition(ItemStatus.PENDING, status)
    result = session.execute(
        update(RunItemRow)
        .where(
            RunItemRow.run_id == run_id,
            RunItemRow.message_pk == message_pk,
            RunItemRow.status == ItemStatus.PENDING.value,
        )
        .values(status=status.value, attempts=attempts, error=strip_nul(error), updated_at=utcnow())
    )
    return changed(result) > 0


def finish_items(session: Session, *, run_id: str, message_pks: Sequence[int], status: ItemStatus) -> int:
    """Move the pending items among ``message_pks`` to ``status`` in one update (batch :func:`finish_item`).

    Each item moves as :func:`finish_item` moves it after one attempt: only from
    ``pending`` (an item already terminal keeps its state).

    Returns:
        How many items moved.

    Raises:
        TransitionError: ``status`` is not terminal.
    """
    check_item_transition(ItemStatus.PENDING, status)
    if not message_pks:
        return 0
    result = session.execute(
        update(RunItemRow)
        .where(
            RunItemRow.run_id == run_id,
            RunItemRow.message_pk.in_(list(message_pks)),
            RunItemRow.status == ItemStatus.PENDING.value,
        )
        .values(status=status.value, attempts=1, error=None, updated_at=utcnow())
    )
    return changed(result)
