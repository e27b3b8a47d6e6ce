"""The change sequence behind incremental deltas: which documents changed after a cursor.

Every write that changes a post's ``documents.ndjson`` line (its document
upserted, its topic or topic label changed) or deletes the post takes the next
value of its channel's counter (``channels.change_seq``) and stamps it on the
post's document row (``documents.change_seq``), in the same transaction as the
write. The counter is bumped by an ``UPDATE`` of the channel's row, which holds
that row's lock until the commit, so two writers of one channel commit in the
order of their values: once a reader sees counter value ``N`` committed, every
change stamped ``<= N`` is committed too. A delta is then exact: the changes
stamped in ``(since, upto]``, where ``upto`` is the counter read first.

A deleted post keeps its rows (``messages.deleted``); its document row is
stamped when the deletion is recorded and serves as the tombstone.

Lock order: the channel row is locked before a run row (``claim_processing_done``),
as ingest already does (``refresh_channel_info`` before ``heartbeat``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, any_, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tg_parser.storage._change_seq import current_change_seq, next_change_seq
from tg_parser.storage._keyed import ARRAY_IDS_PER_QUERY as KEYED_ARRAY_IDS_PER_QUERY
from tg_parser.storage._keyed import IN_IDS_PER_QUERY, posts_by_message_id
from tg_parser.storage.documents import EXPORT_BATCH_ROWS, export_columns, plan_cursor_for_whole_result
from tg_parser.storage.tables import (
    DocumentRow,
    MessageRow,
    RunRow,
    TopicMemberRow,
    TopicRow,
)

__all__ = [
    "DeltaRow",
    "current_change_seq",
    "cursor_at",
    "deleted_message_pks",
    "iter_changed_rows",
    "live_message_pks",
    "next_change_seq",
    "run_delta_cursor",
    "stamp_documents",
    "stamp_revived",
    "stamp_topic_changes",
    "topic_assignments",
]

IDS_PER_QUERY = IN_IDS_PER_QUERY
"""Keys per ``IN (...)`` (under SQLite's old 999-variable limit)."""
ARRAY_IDS_PER_QUERY = KEYED_ARRAY_IDS_PER_QUERY
"""Keys per ``= ANY(array)`` on PostgreSQL (one parameter: 100k first placements in 2 statements, not 112)."""


def stamp_documents(session: Session, *, channel_pk: int, message_pks: Iterable[int]) -> int:
    """Stamp the documents of these posts with a new change value (deletions, topic changes).

    Returns:
        How many document rows were stamped (no value is taken when ``message_pks`` is empty).
    """
    pks = sorted(set(message_pks))
    if not pks:
        return 0
    seq = next_change_seq(session, channel_pk=channel_pk)
    stamped = 0
    if session.get_bind().dialect.name == "postgresql":  # one array parameter per statement
        step = ARRAY_IDS_PER_QUERY
        where = [
            DocumentRow.message_pk == any_(literal(pks[s : s + step], ARRAY(BigInteger)))
            for s in range(0, len(pks), step)
        ]
    else:
        where = [
            DocumentRow.message_pk.in_(pks[s : s + IDS_PER_QUERY]) for s in range(0, len(pks), IDS_PER_QUERY)
        ]
    for condition in where:
        result = session.execute(
            update(DocumentRow)
            .where(condition)
            .values(change_seq=seq)
            .execution_options(synchronize_session=False)  # no DocumentRow objects to keep in step
        )
        stamped += int(getattr(result, "rowcount", 0) or 0)
    return stamped


def live_message_pks(session: Session, *, channel_pk: int, message_ids: Iterable[int]) -> list[int]:
    """Return the keys of the channel's posts with these message ids that are not marked deleted."""
    return _message_pks(session, channel_pk=channel_pk, message_ids=message_ids, deleted=False)


def deleted_message_pks(session: Session, *, channel_pk: int, message_ids: Iterable[int]) -> list[int]:
    """Return the keys of the channel's posts with these message ids that are marked deleted."""
    return _message_pks(session, channel_pk=channel_pk, message_ids=message_ids, deleted=True)


def _message_pks(
    session: Session, *, channel_pk: int, message_ids: Iterable[int], deleted: bool
) -> list[int]:
    """Return the sorted keys of the channel's posts with these message ids and this ``deleted`` flag."""
    rows = posts_by_message_id(
        session,
        channel_pk=channel_pk,
        message_ids=message_ids,
        columns=[MessageRow.id],
        where=[MessageRow.deleted.is_(deleted)],
    )
    return sorted(int(row[0]) for row in rows)


def stamp_revived(session: Session, *, channel_pk: int, message_pks: Iterable[int]) -> int:
    """Stamp the documents of those of ``message_pks`` that are no longer marked deleted.

    A post marked deleted and then stored again (a source shows it once more)
    comes back: its tombstone must be followed by an upsert.

    Returns:
        How many document rows were stamped.
    """
    pks = sorted(set(message_pks))
    if not pks:
        return 0
    live: list[int] = []
    for start in range(0, len(pks), IDS_PER_QUERY):
        live.extend(
            int(pk)
            for pk in session.execute(
                select(MessageRow.id).where(
                    MessageRow.id.in_(pks[start : start + IDS_PER_QUERY]), MessageRow.deleted.is_(False)
                )
            ).scalars()
        )
    return stamp_documents(session, channel_pk=channel_pk, message_pks=live)


def topic_assignments(session: Session, *, channel_pk: int) -> dict[int, tuple[str, str]]:
    """Return ``{message_pk: (topic key, label)}`` of the channel's posts that are in a topic."""
    stmt = (
        select(TopicMemberRow.message_pk, TopicRow.topic_key, TopicRow.label)
        .join(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
        .where(TopicRow.channel_id == channel_pk)
    )
    return {int(pk): (key, label) for pk, key, label in session.execute(stmt)}


def stamp_topic_changes(
    session: Session,
    *,
    channel_pk: int,
    before: Mapping[int, tuple[str, str]],
    after: Mapping[int, tuple[str, str]],
) -> int:
    """Stamp the posts whose topic id or label differs between two :func:`topic_assignments`.

    Returns:
        How many document rows were stamped.
    """
    changed = [pk for pk in before.keys() | after.keys() if before.get(pk) != after.get(pk)]
    return stamp_documents(session, channel_pk=channel_pk, message_pks=changed)


class DeltaRow(NamedTuple):
    """A changed post of a delta: ``storage.documents.ExportRow``'s columns, in order, and ``deleted``."""

    message_id: int
    date: datetime
    edited: datetime | None
    text: str
    entities: list[dict[str, Any]] | None
    author: str | None
    reply_to: int | None
    forwarded_from: str | None
    media_type: str | None
    language: str | None
    summary: str
    keywords: list[str] | None
    processor: str
    model: str
    topic_key: str | None
    topic_label: str | None
    media: dict[str, Any] | None
    views: int | None
    forwards: int | None
    reactions: list[dict[str, Any]] | None
    forum_topic_id: int | None
    forum_topic_title: str | None
    thread_of: int | None
    media_path: str | None
    deleted: bool


def iter_changed_rows(
    session: Session,
    *,
    channel_pk: int,
    after_seq: int,
    upto_seq: int,
    after_message_id: int | None = None,
    limit: int | None = None,
) -> Iterator[DeltaRow]:
    """Yield the channel's posts whose document was stamped in ``(after_seq, upto_seq]``, by message id.

    Args:
        session: An open session; the rows must be consumed before it commits.
        channel_pk: The channel's primary key.
        after_seq: The cursor the consumer holds (0: every post ever written).
        upto_seq: The counter read at the start of the delta (:func:`current_change_seq`).
        after_message_id: Only posts with a larger message id (keyset pages).
        limit: At most this many rows.

    Yields:
        One :class:`DeltaRow` per post; ``deleted`` posts are the tombstones.
    """
    stmt = (
        select(*export_columns(), MessageRow.deleted)
        .join(MessageRow, MessageRow.id == DocumentRow.message_pk)
        .outerjoin(TopicMemberRow, TopicMemberRow.message_pk == MessageRow.id)
        .outerjoin(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
        .where(
            DocumentRow.channel_id == channel_pk,
            DocumentRow.change_seq > after_seq,
            DocumentRow.change_seq <= upto_seq,
        )
        .order_by(MessageRow.message_id)
    )
    if after_message_id is not None:
        stmt = stmt.where(MessageRow.message_id > after_message_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    plan_cursor_for_whole_result(session)
    make = DeltaRow._make
    options = {"stream_results": True, "yield_per": EXPORT_BATCH_ROWS}
    for partition in session.connection().execute(stmt, execution_options=options).partitions():
        for row in partition:
            yield make(row)


def run_delta_cursor(session: Session, *, run_id: str) -> tuple[int, int | None] | None:
    """Return ``(channel_pk, delta_cursor)`` of a run, or ``None`` for an unknown run id."""
    row = session.execute(select(RunRow.channel_id, RunRow.delta_cursor).where(RunRow.id == run_id)).first()
    if row is None:
        return None
    return int(row[0]), (None if row[1] is None else int(row[1]))


def cursor_at(session: Session, *, channel_pk: int, moment: datetime) -> int:
    """Return the delta cursor of the channel's last run that finished its export at or before ``moment``.

    Returns:
        That run's cursor, or 0 (every post) when no run with a cursor finished by then.
    """
    value = session.execute(
        select(RunRow.delta_cursor)
        .where(
            RunRow.channel_id == channel_pk,
            RunRow.delta_cursor.is_not(None),
            RunRow.finished_at <= moment,
        )
        .order_by(RunRow.finished_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return int(value) if value is not None else 0
