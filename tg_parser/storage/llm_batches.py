"""Provider batch jobs of runs (``llm_batches``): recorded before submission, updated while polled.

A row is written (``preparing``) before its requests are uploaded, gets its
provider batch id in its own commit right after the provider names it, and
becomes ``applied`` in the same transaction as the last of its results, so a
worker killed at any point loses nothing and stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from tg_parser.domain.runs import ItemStatus
from tg_parser.storage._common import changed, strip_nul
from tg_parser.storage.tables import LLMBatchRow, RunItemRow, utcnow
from tg_parser.storage.upsert import insert_for


@dataclass(frozen=True)
class LLMBatchRecord:
    """One batch job of a run (see :class:`~tg_parser.storage.tables.LLMBatchRow`)."""

    id: str
    run_id: str
    provider: str
    model: str
    status: str
    provider_batch_id: str | None
    message_pks: tuple[int, ...]
    request_count: int
    completed_count: int
    failed_count: int
    error: str | None


def _record(row: LLMBatchRow) -> LLMBatchRecord:
    return LLMBatchRecord(
        id=row.id,
        run_id=row.run_id,
        provider=row.provider,
        model=row.model,
        status=row.status,
        provider_batch_id=row.provider_batch_id,
        message_pks=tuple(int(pk) for pk in row.message_pks or ()),
        request_count=row.request_count,
        completed_count=row.completed_count,
        failed_count=row.failed_count,
        error=row.error,
    )


def add_batch(
    session: Session, *, batch_id: str, run_id: str, provider: str, model: str, message_pks: Sequence[int]
) -> bool:
    """Record a batch about to be submitted, as ``preparing``; ``False`` if ``batch_id`` exists already."""
    now = utcnow()
    stmt = (
        insert_for(session, LLMBatchRow)
        .values(
            id=batch_id,
            run_id=run_id,
            provider=provider,
            model=model,
            status="preparing",
            message_pks=list(message_pks),
            request_count=len(message_pks),
            completed_count=0,
            failed_count=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return changed(session.execute(stmt)) > 0


def run_batches(session: Session, *, run_id: str) -> list[LLMBatchRecord]:
    """Return a run's batches in submission order."""
    rows = session.execute(select(LLMBatchRow).where(LLMBatchRow.run_id == run_id).order_by(LLMBatchRow.id))
    return sorted((_record(r) for r in rows.scalars()), key=lambda b: int(b.id.rsplit(":", 1)[1]))


def set_submitted(
    session: Session, *, batch_id: str, provider_batch_id: str, input_file_id: str | None
) -> None:
    """Store the provider's batch id (its own commit, before polling starts)."""
    session.execute(
        update(LLMBatchRow)
        .where(LLMBatchRow.id == batch_id)
        .values(
            provider_batch_id=provider_batch_id,
            input_file_id=input_file_id,
            status="submitted",
            updated_at=utcnow(),
        )
    )


def set_state(
    session: Session,
    *,
    batch_id: str,
    status: str,
    completed: int,
    failed: int,
    total: int | None = None,
    error: str | None = None,
) -> None:
    """Record what the provider last said about a batch (never over ``applied``)."""
    values: dict[str, object] = {
        "status": status,
        "completed_count": completed,
        "failed_count": failed,
        "updated_at": utcnow(),
    }
    if total:
        values["request_count"] = total
    if error is not None:
        values["error"] = strip_nul(error)
    session.execute(
        update(LLMBatchRow)
        .where(LLMBatchRow.id == batch_id, LLMBatchRow.status != "applied")
        .values(**values)
    )


def mark_applied(session: Session, *, batch_id: str) -> bool:
    """Move a batch to ``applied`` (in the transaction of its last results); ``True`` for the first caller."""
    result = session.execute(
        update(LLMBatchRow)
        .where(LLMBatchRow.id == batch_id, LLMBatchRow.status != "applied")
        .values(status="applied", updated_at=utcnow())
    )
    return changed(result) > 0


def pending_among(session: Session, *, run_id: str, message_pks: Sequence[int]) -> set[int]:
    """Return which of ``message_pks`` still have a ``pending`` item in the run."""
    if not message_pks:
        return set()
    stmt = select(RunItemRow.message_pk).where(
        and_(
            RunItemRow.run_id == run_id,
            RunItemRow.message_pk.in_(list(message_pks)),
            RunItemRow.status == ItemStatus.PENDING.value,
        )
    )
    return {int(pk) for pk in session.execute(stmt).scalars()}
