"""A channel's stored topic model, its topic-number counter, and where each post is placed.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits). The model itself is opaque bytes here (``topics.stable.TopicModel``
pickles and loads it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import LargeBinary, Text, cast, delete, literal, or_, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import Topic
from tg_parser.storage._common import strip_nul
from tg_parser.storage.changes import IDS_PER_QUERY, stamp_documents
from tg_parser.storage.tables import (
    DocumentRow,
    MessageRow,
    TopicFitRow,
    TopicMemberRow,
    TopicRow,
    utcnow,
)
from tg_parser.storage.upsert import insert_for

if TYPE_CHECKING:  # numpy is imported where arrays are built: every CLI command imports this module
    import numpy as np
    from numpy.typing import NDArray

MEMBER_ROWS_PER_STATEMENT = 1000
"""Memberships deleted or inserted per statement (bounded parameter lists for SQLite and PostgreSQL)."""


@dataclass(frozen=True)
class StoredFit:
    """A channel's stored fit.

    Attributes:
        model: The pickled model.
        features_version: Feature-space version of the fit.
        fitted_at: When the last full fit ran.
        fit_kind: Kind of the last topicize that used it: ``full`` or ``incremental``.
        next_number: The least topic number never given in this channel.
        drift: Figures of the last topicize (pending, far, shares, reason).
    """

    model: bytes
    features_version: str
    fitted_at: datetime
    fit_kind: str
    next_number: int
    drift: dict[str, Any]


def load_fit(session: Session, *, channel_pk: int, with_model: bool = True) -> StoredFit | None:
    """Return the channel's stored fit, or ``None`` when it has none.

    Args:
        session: Open session.
        channel_pk: The channel.
        with_model: Read the pickled model too (tens of MB at 100k posts); without it,
            ``model`` is ``b""`` (a full re-cluster only needs the rest).

    Returns:
        The stored fit, or ``None``.
    """
    row = session.execute(
        select(
            TopicFitRow.model if with_model else literal(b"", type_=LargeBinary),
            TopicFitRow.features_version,
            TopicFitRow.fitted_at,
            TopicFitRow.fit_kind,
            TopicFitRow.next_number,
            TopicFitRow.drift,
        ).where(TopicFitRow.channel_id == channel_pk)
    ).one_or_none()
    if row is None:
        return None
    model, features_version, fitted_at, fit_kind, next_number, drift = row
    return StoredFit(
        model=bytes(model) if not isinstance(model, bytes) else model,
        features_version=features_version,
        fitted_at=fitted_at,
        fit_kind=fit_kind,
        next_number=int(next_number),
        drift=dict(drift or {}),
    )


def save_full_fit(
    session: Session,
    *,
    channel_pk: int,
    model: bytes,
    features_version: str,
    fitted_at: datetime,
    next_number: int,
    drift: dict[str, Any],
) -> None:
    """Store (insert or replace) the channel's fit after a full re-cluster."""
    values = {
        "features_version": features_version,
        "model": model,
        "fitted_at": fitted_at,
        "fit_kind": "full",
        "next_number": next_number,
        "drift": drift,
        "updated_at": fitted_at,
    }
    stmt = insert_for(session, TopicFitRow).values(channel_id=channel_pk, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["channel_id"], set_=values))


def record_incremental(session: Session, *, channel_pk: int, at: datetime, drift: dict[str, Any]) -> None:
    """Note an incremental topicize on the channel's stored fit (the model itself is unchanged)."""
    session.execute(
        update(TopicFitRow)
        .where(TopicFitRow.channel_id == channel_pk)
        .values(fit_kind="incremental", drift=drift, updated_at=at)
    )


@dataclass(frozen=True)
class Placements:
    """Every live document of a channel and the topic it is in now, in message-id order.

    Attributes:
        ids: ``(n,)`` message ids, ascending.
        pks: ``(n,)`` the messages' primary keys.
        hashes: The documents' content hashes.
        topic_keys: The topic each post is in, or ``None``.
        placed_hashes: The content hash each post had when it was placed, or ``None``.
    """

    ids: NDArray[np.int64]
    pks: NDArray[np.int64]
    hashes: list[str]
    topic_keys: list[str | None]
    placed_hashes: list[str | None]

    def pending(self) -> NDArray[np.bool_]:
        """Return ``(n,)`` whether each post is new (in no topic) or changed since it was placed."""
        import numpy as np

        return np.array(
            [
                k is None or p != h
                for k, p, h in zip(self.topic_keys, self.placed_hashes, self.hashes, strict=True)
            ],
            dtype=np.bool_,
        )


def placements(session: Session, *, channel_pk: int) -> Placements:
    """Return the channel's live documents with their current topics (five values per post)."""
    stmt = (
        select(
            MessageRow.message_id,
            MessageRow.id,
            DocumentRow.content_hash,
            TopicRow.topic_key,
            TopicMemberRow.content_hash,
        )
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .outerjoin(TopicMemberRow, TopicMemberRow.message_pk == MessageRow.id)
        .outerjoin(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    rows = session.execute(stmt).all()
    import numpy as np

    return Placements(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        pks=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        hashes=[r[2] for r in rows],
        topic_keys=[r[3] for r in rows],
        placed_hashes=[r[4] for r in rows],
    )


def members_digest(member_ids: Iterable[int]) -> str:
    """Return the SHA-256 hex digest of a topic's member ids (ascending), to tell a changed topic."""
    digest = hashlib.sha256()
    for mid in member_ids:
        digest.update(b"%d," % mid)
    return digest.hexdigest()


def store_topics(
    session: Session,
    *,
    channel_pk: int,
    topics: Sequence[Topic],
    moves: Sequence[tuple[int, str, str]],
    fit_kind: str,
    at: datetime,
) -> None:
    """Write the channel's topics and only the memberships that changed.

    A topic row is upserted by key and changes (with ``updated_at``,
    ``fitted_at = at`` and ``fit_kind``) only when its label, keywords,
    summary or members differ; topics not in ``topics`` are removed with their
    memberships; memberships of deleted posts are removed.

    Every live post whose ``documents.ndjson`` line changes here (its topic id
    or topic label) is stamped with one new change value of the channel
    (``storage.changes``), so deltas hold it: posts moved to another topic or
    placed for the first time, members of a topic whose label changed, and
    members of a removed topic that were not moved. Nothing else is stamped.

    Args:
        session: An open session.
        channel_pk: The channel's primary key.
        topics: Every topic of the channel after this topicize, with all member ids.
        moves: ``(message_pk, topic_key, content_hash)`` of each post placed anew.
        fit_kind: ``full`` or ``incremental``: how the changed topics were fitted.
        at: When.
    """
    keys = [t.topic_id for t in topics]
    labels = {t.topic_id: t.label for t in topics}
    had_members = (
        session.execute(
            select(TopicMemberRow.message_pk)
            .join(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
            .where(TopicRow.channel_id == channel_pk)
            .limit(1)
        ).first()
        is not None
    )
    stored = {
        str(key): (int(pk), label)
        for pk, key, label in session.execute(
            select(TopicRow.id, TopicRow.topic_key, TopicRow.label).where(TopicRow.channel_id == channel_pk)
        )
    }
    # Posts whose line changes: members of removed topics (unless moved to the same key below),
    # posts moved or placed, members of relabelled topics.
    touched = set(_live_members(session, [pk for key, (pk, _l) in stored.items() if key not in labels]))
    session.execute(
        delete(TopicRow).where(TopicRow.channel_id == channel_pk, TopicRow.topic_key.not_in(keys or [""]))
    )
    deleted_posts = select(MessageRow.id).where(
        MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(True)
    )
    session.execute(delete(TopicMemberRow).where(TopicMemberRow.message_pk.in_(deleted_posts)))
    for topic in topics:
        values = strip_nul(
            {
                "channel_id": channel_pk,
                "topic_key": topic.topic_id,
                "label": topic.label,
                "keywords": list(topic.keywords),
                "summary": topic.summary,
                "size": topic.size,
                "members_digest": members_digest(topic.member_ids),
            }
        )
        stmt = insert_for(session, TopicRow).values(**values, updated_at=at, fitted_at=at, fit_kind=fit_kind)
        # The row (and updated_at, which the members' lines carry) moves only when the topic changed.
        stmt = stmt.on_conflict_do_update(
            index_elements=["topic_key"],
            set_={k: v for k, v in values.items() if k != "topic_key"}
            | {"updated_at": at, "fitted_at": at, "fit_kind": fit_kind},
            where=or_(
                TopicRow.label.is_distinct_from(stmt.excluded.label),
                TopicRow.size.is_distinct_from(stmt.excluded.size),
                TopicRow.summary.is_distinct_from(stmt.excluded.summary),
                TopicRow.channel_id.is_distinct_from(stmt.excluded.channel_id),
                TopicRow.members_digest.is_distinct_from(stmt.excluded.members_digest),
                cast(TopicRow.keywords, Text).is_distinct_from(cast(stmt.excluded.keywords, Text)),
            ),
        )
        session.execute(stmt)
    pk_by_key = {
        str(key): int(pk)
        for key, pk in session.execute(
            select(TopicRow.topic_key, TopicRow.id).where(TopicRow.channel_id == channel_pk)
        )
    }
    if had_members:
        for start in range(0, len(moves), MEMBER_ROWS_PER_STATEMENT):
            chunk = moves[start : start + MEMBER_ROWS_PER_STATEMENT]
            was = dict(
                session.execute(
                    select(TopicMemberRow.message_pk, TopicRow.topic_key)
                    .join(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
                    .where(TopicMemberRow.message_pk.in_([m[0] for m in chunk]))
                ).all()
            )
            touched.update(pk for pk, key, _h in chunk if was.get(pk) != key)
            session.execute(
                delete(TopicMemberRow).where(TopicMemberRow.message_pk.in_([m[0] for m in chunk]))
            )
    else:  # the channel's first topics: every post is placed for the first time
        touched.update(pk for pk, _key, _h in moves)
    _insert_members(session, [(pk, pk_by_key[key], h) for pk, key, h in moves])
    relabelled = [
        pk_by_key[key] for key, (_pk, label) in stored.items() if key in labels and labels[key] != label
    ]
    touched.update(_live_members(session, relabelled))
    stamp_documents(session, channel_pk=channel_pk, message_pks=touched)


def _insert_members(session: Session, rows: Sequence[tuple[int, int, str]]) -> None:
    """Insert ``(message_pk, topic_pk, content_hash)`` memberships: ``COPY`` on PostgreSQL, else batches.

    At 100k first placements: 2.0 s with ``COPY`` against 2.6 s of multi-row ``INSERT``
    statements (under the profiler, 2026-12-07).
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        driver = session.connection().connection.driver_connection
        raw: psycopg.Connection[Any] = driver  # type: ignore[assignment]
        columns = ("message_pk", "topic_id", "content_hash")
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {TopicMemberRow.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    for start in range(0, len(rows), MEMBER_ROWS_PER_STATEMENT):
        session.execute(
            insert_for(session, TopicMemberRow),
            [
                {"message_pk": pk, "topic_id": topic, "content_hash": h}
                for pk, topic, h in rows[start : start + MEMBER_ROWS_PER_STATEMENT]
            ],
        )


def _live_members(session: Session, topic_pks: Sequence[int]) -> list[int]:
    """Return the message keys of the not-deleted members of these topics."""
    found: list[int] = []
    for start in range(0, len(topic_pks), IDS_PER_QUERY):
        found.extend(
            int(pk)
            for pk in session.execute(
                select(TopicMemberRow.message_pk)
                .join(MessageRow, MessageRow.id == TopicMemberRow.message_pk)
                .where(
                    TopicMemberRow.topic_id.in_(topic_pks[start : start + IDS_PER_QUERY]),
                    MessageRow.deleted.is_(False),
                )
            ).scalars()
        )
    return found


def stored_topic_rows(session: Session, *, channel_pk: int) -> dict[str, tuple[str, list[str], str | None]]:
    """Return ``{topic_key: (label, keywords, summary)}`` of the channel's stored topics."""
    rows = session.execute(
        select(TopicRow.topic_key, TopicRow.label, TopicRow.keywords, TopicRow.summary).where(
            TopicRow.channel_id == channel_pk
        )
    ).all()
    return {key: (label, list(kw or []), summary) for key, label, kw, summary in rows}


def now() -> datetime:
    """Return the current UTC time (the clock of stored fits)."""
    return utcnow()
