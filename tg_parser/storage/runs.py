"""The run lifecycle's only writer: runs, their items, and every change of their states.

Who may move a run from one state to another is decided here and only here,
against the table in :mod:`tg_parser.domain.runs`. Every move is one guarded
``UPDATE … WHERE status = <expected>``: when a message is delivered twice or
two workers race, exactly one caller sees ``True`` and goes on; the others see
``False`` and do nothing. Services, tasks and the CLI call these functions;
none of them writes ``runs`` or ``run_items`` any other way.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return :class:`RunRecord` and :class:`RunCounts`, never ORM rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import Session

from tg_parser.domain.runs import (
    ACTIVE_RUN_STATES,
    ItemStatus,
    RunStatus,
    check_item_transition,
    check_run_transition,
)
from tg_parser.errors import NotFoundError
from tg_parser.storage._common import changed, strip_nul
from tg_parser.storage._run_items import add_run_items, finish_item, finish_items
from tg_parser.storage.channels import set_last_run
from tg_parser.storage.tables import ChannelRow, RunItemRow, RunRow, utcnow
from tg_parser.storage.upsert import insert_for

__all__ = [
    "MAX_RUN_ERROR_CHARS",
    "REDRIVE_BACKOFF_CAP",
    "RunCounts",
    "RunRecord",
    "add_run_items",
    "finish_item",
    "finish_items",
]

MAX_RUN_ERROR_CHARS = 2000
"""Longest error message kept on a failed run."""

REDRIVE_BACKOFF_CAP = 6
"""A run re-driven ``k`` times waits ``stall_timeout * 2**min(k, 6)`` before the next re-drive."""


@dataclass(frozen=True)
class RunRecord:
    """A stored run.

    Attributes:
        id: The run id (the Celery ``root_id`` of its first task, or a UUID embedded).
        channel_pk: Primary key of its channel.
        channel_key: Its channel's key.
        status: See :class:`~tg_parser.domain.runs.RunStatus`.
        mode: ``embedded`` or ``celery``.
        posts_read, posts_new, posts_changed: What ingest read and stored.
        input_errors: Messages the source could not read.
        unread_ranges: Byte ranges of the source that ingest skipped unread
            (``{"path", "start", "end", "reason"}``, end exclusive); non-empty
            makes the run *partial* (see :attr:`partial`).
        items_total: Posts the run had to process.
        topics: Topics after topicize, or ``None`` before.
        export_dir: The export folder (the channel folder is inside it).
        error: Why it failed, for a failed run.
        created_at, ingested_at, processed_at, topicized_at, finished_at,
        heartbeat_at: Times (UTC) of each stage and of the last progress.
        redrives: How often the stuck-run sweeper re-drove it.
        delta_cursor: The channel's change counter as of its export (``storage.changes``), or ``None``.
    """

    id: str
    channel_pk: int
    channel_key: str
    status: RunStatus
    mode: str
    posts_read: int
    posts_new: int
    posts_changed: int
    input_errors: int
    items_total: int
    topics: int | None
    export_dir: str | None
    error: str | None
    created_at: datetime
    ingested_at: datetime | None
    processed_at: datetime | None
    topicized_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    redrives: int
    unread_ranges: list[dict[str, Any]] = field(default_factory=list)
    delta_cursor: int | None = None

    @property
    def partial(self) -> bool:
        """Whether ingest skipped a stretch of the source it could not read message by message."""
        return bool(self.unread_ranges)


def _record(row: RunRow, channel_key: str) -> RunRecord:
    return RunRecord(
        id=row.id,
        channel_pk=row.channel_id,
        channel_key=channel_key,
        status=RunStatus(row.status),
        mode=row.mode,
        posts_read=row.posts_read,
        posts_new=row.posts_new,
        posts_changed=row.posts_changed,
        input_errors=row.input_errors,
        unread_ranges=json.loads(row.unread_ranges) if row.unread_ranges else [],
        items_total=row.items_total,
        topics=row.topics,
        export_dir=row.export_dir,
        error=row.error,
        created_at=row.created_at,
        ingested_at=row.ingested_at,
        processed_at=row.processed_at,
        topicized_at=row.topicized_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        redrives=row.redrives or 0,
        delta_cursor=row.delta_cursor,
    )


@dataclass(frozen=True)
class RunCounts:
    """Counts of a run's items by state."""

    total: int
    pending: int
    done: int
    failed: int


# ---------------------------------------------------------------- reads


def get_run(session: Session, *, run_id: str) -> RunRecord:
    """Return a run.

    Raises:
        NotFoundError: No such run.
    """
    found = session.execute(
        select(RunRow, ChannelRow.key)
        .join(ChannelRow, ChannelRow.id == RunRow.channel_id)
        .where(RunRow.id == run_id)
    ).first()
    if found is None:
        msg = f"no run with id {run_id!r} (see `tg-parser runs list`)"
        raise NotFoundError(msg)
    return _record(found[0], found[1])


def list_runs(
    session: Session,
    *,
    channel_pk: int | None = None,
    status: RunStatus | None = None,
    limit: int = 20,
) -> list[RunRecord]:
    """Return the most recent runs, newest first, optionally of one channel and in one state."""
    stmt = (
        select(RunRow, ChannelRow.key)
        .join(ChannelRow, ChannelRow.id == RunRow.channel_id)
        .order_by(RunRow.created_at.desc())
        .limit(limit)
    )
    if channel_pk is not None:
        stmt = stmt.where(RunRow.channel_id == channel_pk)
    if status is not None:
        stmt = stmt.where(RunRow.status == status.value)
    return [_record(row, key) for row, key in session.execute(stmt)]


def run_counts(session: Session, *, run_id: str) -> RunCounts:
    """Return how many of a run's items are pending, done and failed."""
    rows = dict(
        session.execute(
            select(RunItemRow.status, func.count())
            .where(RunItemRow.run_id == run_id)
            .group_by(RunItemRow.status)
        ).all()
    )
    pending, done, failed = (
        int(rows.get(s.value, 0)) for s in (ItemStatus.PENDING, ItemStatus.DONE, ItemStatus.FAILED)
    )
    return RunCounts(total=pending + done + failed, pending=pending, done=done, failed=failed)


def pending_items(session: Session, *, run_id: str) -> list[int]:
    """Return the message keys of a run's pending items, ascending."""
    stmt = select(RunItemRow.message_pk).where(
        and_(RunItemRow.run_id == run_id, RunItemRow.status == ItemStatus.PENDING.value)
    )
    return sorted(int(x) for x in session.execute(stmt).scalars())


def stalled_runs(session: Session, *, now: datetime, stall_timeout_s: float) -> list[RunRecord]:
    """Return active runs without progress for their stall timeout.

    Progress is the newest of the run's creation, heartbeat, stage times and
    its items' last change. A run already re-driven ``k`` times must stall
    ``stall_timeout_s * 2**k`` (``k`` capped at :data:`REDRIVE_BACKOFF_CAP`)
    before it is returned again, so a cluster without consumers is not
    flooded with re-sent work.
    """
    last_item = (
        select(RunItemRow.run_id, func.max(RunItemRow.updated_at).label("at"))
        .group_by(RunItemRow.run_id)
        .subquery()
    )
    stmt = (
        select(RunRow, ChannelRow.key, last_item.c.at)
        .join(ChannelRow, ChannelRow.id == RunRow.channel_id)
        .outerjoin(last_item, last_item.c.run_id == RunRow.id)
        .where(RunRow.status.in_([s.value for s in ACTIVE_RUN_STATES]))
    )
    out = []
    for run, key, item_at in session.execute(stmt):
        times = [
            t
            for t in (
                run.created_at,
                run.heartbeat_at,
                run.ingested_at,
                run.processed_at,
                run.topicized_at,
                item_at,
            )
            if t is not None
        ]
        latest = max(t if t.tzinfo else t.replace(tzinfo=now.tzinfo) for t in times)
        wait_s = stall_timeout_s * 2 ** min(run.redrives or 0, REDRIVE_BACKOFF_CAP)
        if (now - latest).total_seconds() > wait_s:
            out.append(_record(run, key))
    return out


# ---------------------------------------------------------------- run transitions


def create_run(session: Session, *, run_id: str, channel_pk: int, mode: str, export_dir: str | None) -> bool:
    """Create a run in ``ingesting``; ``False`` when it already exists (a redelivery)."""
    stmt = insert_for(session, RunRow).values(
        id=run_id,
        channel_id=channel_pk,
        status=RunStatus.INGESTING.value,
        mode=mode,
        export_dir=export_dir,
        created_at=utcnow(),
    )
    result = session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    set_last_run(session, channel_pk=channel_pk, run_id=run_id)
    return changed(result) > 0


def advance(
    session: Session, *, run_id: str, from_status: RunStatus, to_status: RunStatus, **values: Any
) -> bool:
    """Guarded move ``from_status`` → ``to_status``, writing ``values`` with it.

    Returns:
        ``True`` for the one caller that made the move; ``False`` when the run
        was not in ``from_status`` (another caller moved it first).

    Raises:
        TransitionError: The lifecycle does not allow the move.
    """
    check_run_transition(from_status, to_status)
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == from_status.value)
        .values(status=to_status.value, **values)
    )
    return changed(result) > 0


def finish_ingest(
    session: Session,
    *,
    run_id: str,
    posts_read: int,
    posts_new: int,
    posts_changed: int,
    input_errors: int,
    items_total: int,
    unread_ranges: list[dict[str, Any]] | None = None,
) -> bool:
    """Move a run from ``ingesting`` to ``processing`` with its ingest counts.

    ``unread_ranges`` (see :attr:`RunRecord.unread_ranges`) are stored as JSON.

    Returns:
        ``True`` for the caller that made the move, ``False`` for a redelivered ingest.
    """
    return advance(
        session,
        run_id=run_id,
        from_status=RunStatus.INGESTING,
        to_status=RunStatus.PROCESSING,
        posts_read=posts_read,
        posts_new=posts_new,
        posts_changed=posts_changed,
        input_errors=input_errors,
        items_total=items_total,
        unread_ranges=json.dumps(unread_ranges) if unread_ranges else None,
        ingested_at=utcnow(),
    )


def claim_processing_done(session: Session, *, run_id: str) -> bool:
    """Move a run from ``processing`` to ``topicizing`` once no item is pending.

    Call it in the transaction that marked an item terminal (one transaction
    per post), or in a transaction of its own. It first locks the run's row
    (``SELECT … FOR UPDATE``), so the claims of one run are serialised; the
    guarded update after it reads a snapshot taken once the lock is held
    (PostgreSQL's default ``READ COMMITTED`` takes one per statement,
    https://www.postgresql.org/docs/current/transaction-iso.html). So of the
    transactions that each mark an item terminal and then claim, the last to
    get the lock sees every other item committed: the run never stays in
    ``processing`` with no item pending, and the guarded update lets exactly
    one caller win. SQLite has one writer at a time, so a transaction that
    has written sees every committed item anyway (SQLAlchemy omits
    ``FOR UPDATE`` there).

    Returns:
        ``True`` for exactly one caller per run.
    """
    check_run_transition(RunStatus.PROCESSING, RunStatus.TOPICIZING)
    session.execute(select(RunRow.id).where(RunRow.id == run_id).with_for_update())
    pending = exists().where(RunItemRow.run_id == run_id, RunItemRow.status == ItemStatus.PENDING.value)
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == RunStatus.PROCESSING.value, ~pending)
        .values(status=RunStatus.TOPICIZING.value, processed_at=utcnow())
    )
    return changed(result) > 0


def finish_topicize(session: Session, *, run_id: str, topics: int) -> bool:
    """Move a run from ``topicizing`` to ``exporting`` with its topic count; ``True`` for the winner."""
    return advance(
        session,
        run_id=run_id,
        from_status=RunStatus.TOPICIZING,
        to_status=RunStatus.EXPORTING,
        topics=topics,
        topicized_at=utcnow(),
    )


def finish_export(session: Session, *, run_id: str, export_dir: str, delta_cursor: int | None = None) -> bool:
    """Move a run from ``exporting`` to ``succeeded``, recording its delta cursor; ``True`` for the winner."""
    return advance(
        session,
        run_id=run_id,
        from_status=RunStatus.EXPORTING,
        to_status=RunStatus.SUCCEEDED,
        finished_at=utcnow(),
        export_dir=export_dir,
        delta_cursor=delta_cursor,
    )


def fail_run(session: Session, *, run_id: str, error: str) -> bool:
    """Move a run from whichever active state it is in to ``failed``, with the error.

    One guarded update over the active states; a run already finished is left alone.

    Returns:
        ``True`` when this call failed the run.
    """
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status.in_([s.value for s in ACTIVE_RUN_STATES]))
        .values(
            status=RunStatus.FAILED.value, error=strip_nul(error)[:MAX_RUN_ERROR_CHARS], finished_at=utcnow()
        )
    )
    return changed(result) > 0


def reopen_for_item(session: Session, *, run_id: str, message_pk: int) -> None:
    """Prepare a replay of one dead-lettered post.

    Its failed item goes back to ``pending`` and a finished run to ``processing``.

    When the replayed post ends, the run topicizes and exports again through
    the usual guarded moves, exactly once.
    """
    check_item_transition(ItemStatus.FAILED, ItemStatus.PENDING)
    session.execute(
        update(RunItemRow)
        .where(
            RunItemRow.run_id == run_id,
            RunItemRow.message_pk == message_pk,
            RunItemRow.status == ItemStatus.FAILED.value,
        )
        .values(status=ItemStatus.PENDING.value, error=None, updated_at=utcnow())
    )
    for finished in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        check_run_transition(finished, RunStatus.PROCESSING)
    session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status.in_([RunStatus.SUCCEEDED.value, RunStatus.FAILED.value]))
        .values(status=RunStatus.PROCESSING.value, finished_at=None, error=None, heartbeat_at=utcnow())
    )


def reopen_stage(session: Session, *, run_id: str, stage: RunStatus) -> bool:
    """Prepare a replay of a dead-lettered topicize or export: a failed run back to that stage.

    Returns:
        ``True`` when the run was failed and is now in ``stage``.

    Raises:
        TransitionError: ``stage`` is not a state a failed run may reopen at.
    """
    return advance(
        session,
        run_id=run_id,
        from_status=RunStatus.FAILED,
        to_status=stage,
        finished_at=None,
        error=None,
        heartbeat_at=utcnow(),
    )


def heartbeat(session: Session, *, run_id: str) -> None:
    """Record that a run made progress now (the stuck-run sweeper reads it)."""
    session.execute(update(RunRow).where(RunRow.id == run_id).values(heartbeat_at=utcnow()))


def claim_redrive(session: Session, *, run_id: str, status: RunStatus) -> bool:
    """Count one re-drive of a stalled run still in ``status``; ``True`` for the sweeper that claimed it."""
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == status.value)
        .values(heartbeat_at=utcnow(), redrives=RunRow.redrives + 1)
    )
    return changed(result) > 0


def delete_channel_runs(session: Session, *, channel_pk: int) -> None:
    """Delete every run of a channel with its items (when the channel itself is removed)."""
    run_ids = select(RunRow.id).where(RunRow.channel_id == channel_pk)
    session.execute(delete(RunItemRow).where(RunItemRow.run_id.in_(run_ids)))
    session.execute(delete(RunRow).where(RunRow.channel_id == channel_pk))
