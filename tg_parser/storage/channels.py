"""The channels aggregate: registration, schedules, pause, cursor, removal.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); they return :class:`ChannelRecord` and other dataclasses, never ORM
rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import ChatInfo
from tg_parser.errors import NotFoundError
from tg_parser.storage._common import changed, strip_nul
from tg_parser.storage.tables import (
    ChannelRow,
    DocumentRow,
    LLMCallRow,
    MessageRow,
    MessageVersionRow,
    TopicMemberRow,
    TopicRow,
    utcnow,
)
from tg_parser.storage.upsert import insert_for


@dataclass(frozen=True)
class ChannelRecord:
    """A stored channel.

    Attributes:
        pk: Primary key (``channels.id``).
        key: Stable key: the username in lower case, or ``c<id>``.
        telegram_id: Telegram chat id (bare, no ``-100``); 0 until a live channel is resolved.
        username: Public username, when known.
        title: Chat title.
        chat_type: ``public_channel``, ``private_supergroup``… or ``None``.
        source_kind: ``export`` or ``telegram``.
        source: JSON of the source reference (see ``services.sources``).
        export_dir: Export folder of this channel's runs, or ``None`` for ``EXPORT_DIR``.
        schedule_every_s: Period of scheduled runs in seconds, or ``None``.
        paused: Whether scheduled runs are paused.
        cursor_message_id: Highest message id committed (live channels).
        next_run_at: When the next scheduled run is due (UTC).
        last_run_id: The newest run.
    """

    pk: int
    key: str
    telegram_id: int
    username: str | None
    title: str
    chat_type: str | None
    source_kind: str
    source: str
    export_dir: str | None
    schedule_every_s: int | None
    paused: bool
    cursor_message_id: int | None
    next_run_at: datetime | None
    last_run_id: str | None

    @property
    def id(self) -> int:
        """Alias of :attr:`pk` (the column is ``channels.id``)."""
        return self.pk


def channel_record(row: ChannelRow) -> ChannelRecord:
    """Return the :class:`ChannelRecord` of a ``channels`` row (for reads that join it)."""
    return ChannelRecord(
        pk=row.id,
        key=row.key,
        telegram_id=row.telegram_id,
        username=row.username,
        title=row.title,
        chat_type=row.chat_type,
        source_kind=row.source_kind,
        source=row.source,
        export_dir=row.export_dir,
        schedule_every_s=row.schedule_every_s,
        paused=row.paused,
        cursor_message_id=row.cursor_message_id,
        next_run_at=row.next_run_at,
        last_run_id=row.last_run_id,
    )


@dataclass(frozen=True)
class ChannelSummary:
    """A channel with its counts, for ``tg-parser channels list``."""

    key: str
    title: str
    telegram_id: int
    username: str | None
    source_kind: str
    source: str
    schedule_every_s: int | None
    paused: bool
    posts: int
    documents: int
    topics: int
    last_run_id: str | None


def upsert_channel(
    session: Session,
    *,
    key: str,
    telegram_id: int,
    username: str | None,
    title: str,
    chat_type: str | None,
    source_kind: str,
    source: str,
    export_dir: str | None = None,
    schedule_every_s: int | None = None,
) -> int:
    """Create or update a channel by key and return its primary key.

    On conflict the title, type, username (when given), source and export
    folder are refreshed; the cursor and schedule are kept unless given.
    """
    values: dict[str, Any] = {
        "key": key,
        "telegram_id": telegram_id,
        "username": username,
        "title": strip_nul(title),
        "chat_type": chat_type,
        "source_kind": source_kind,
        "source": source,
        "export_dir": export_dir,
        "schedule_every_s": schedule_every_s,
        "paused": False,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    set_: dict[str, Any] = {
        "telegram_id": telegram_id,
        "title": strip_nul(title),
        "chat_type": chat_type,
        "source_kind": source_kind,
        "source": source,
        "updated_at": utcnow(),
    }
    if username is not None:
        set_["username"] = username
    if export_dir is not None:
        set_["export_dir"] = export_dir
    if schedule_every_s is not None:
        set_["schedule_every_s"] = schedule_every_s
    stmt = insert_for(session, ChannelRow).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_=set_)
    session.execute(stmt)
    return int(session.execute(select(ChannelRow.id).where(ChannelRow.key == key)).scalar_one())


def _row(session: Session, key: str) -> ChannelRow:
    row = session.execute(select(ChannelRow).where(ChannelRow.key == key)).scalar_one_or_none()
    if row is None:
        msg = f"no channel with key {key!r} (see `tg-parser channels list`)"
        raise NotFoundError(msg)
    return row


def get_channel(session: Session, *, key: str) -> ChannelRecord:
    """Return the channel with ``key``.

    Raises:
        NotFoundError: No such channel.
    """
    return channel_record(_row(session, key))


def get_channel_by_pk(session: Session, *, pk: int) -> ChannelRecord:
    """Return the channel with primary key ``pk``.

    Raises:
        NotFoundError: No such channel.
    """
    row = session.get(ChannelRow, pk)
    if row is None:
        msg = f"no channel with primary key {pk}"
        raise NotFoundError(msg)
    return channel_record(row)


def list_channels(session: Session, *, key: str | None = None) -> list[ChannelSummary]:
    """Return every channel (or the one of ``key``) with its post, document and topic counts, by key."""
    posts = (
        select(MessageRow.channel_id, func.count().label("n"))
        .where(MessageRow.deleted.is_(False))
        .group_by(MessageRow.channel_id)
        .subquery()
    )
    docs = select(DocumentRow.channel_id, func.count().label("n")).group_by(DocumentRow.channel_id).subquery()
    tops = select(TopicRow.channel_id, func.count().label("n")).group_by(TopicRow.channel_id).subquery()
    stmt = (
        select(ChannelRow, posts.c.n, docs.c.n, tops.c.n)
        .outerjoin(posts, posts.c.channel_id == ChannelRow.id)
        .outerjoin(docs, docs.c.channel_id == ChannelRow.id)
        .outerjoin(tops, tops.c.channel_id == ChannelRow.id)
        .order_by(ChannelRow.key)
    )
    if key is not None:
        stmt = stmt.where(ChannelRow.key == key)
    return [
        ChannelSummary(
            key=ch.key,
            title=ch.title,
            telegram_id=ch.telegram_id,
            username=ch.username,
            source_kind=ch.source_kind,
            source=ch.source,
            schedule_every_s=ch.schedule_every_s,
            paused=ch.paused,
            posts=n_posts or 0,
            documents=n_docs or 0,
            topics=n_topics or 0,
            last_run_id=ch.last_run_id,
        )
        for ch, n_posts, n_docs, n_topics in session.execute(stmt)
    ]


def set_schedule(session: Session, *, key: str, every_s: int | None) -> None:
    """Set (or clear) a channel's schedule; the first scheduled run is due at once.

    Raises:
        NotFoundError: Unknown channel.
    """
    ch = _row(session, key)
    ch.schedule_every_s = every_s
    ch.next_run_at = utcnow() if every_s else None
    ch.updated_at = utcnow()


def set_paused(session: Session, *, key: str, paused: bool) -> None:
    """Pause or resume a channel's scheduled runs.

    Raises:
        NotFoundError: Unknown channel.
    """
    ch = _row(session, key)
    ch.paused = paused
    ch.updated_at = utcnow()


def remove_channel(session: Session, *, key: str) -> None:
    """Delete a channel and everything stored for it (LLM usage rows are kept, unlinked).

    Raises:
        NotFoundError: Unknown channel.
    """
    ch = _row(session, key)
    pks = select(MessageRow.id).where(MessageRow.channel_id == ch.id)
    session.execute(delete(TopicMemberRow).where(TopicMemberRow.message_pk.in_(pks)))
    # Runs are the runs module's: it deletes them (items first, they point at messages).
    from tg_parser.storage.runs import delete_channel_runs

    delete_channel_runs(session, channel_pk=ch.id)
    session.execute(delete(TopicRow).where(TopicRow.channel_id == ch.id))
    session.execute(delete(DocumentRow).where(DocumentRow.channel_id == ch.id))
    session.execute(delete(MessageVersionRow).where(MessageVersionRow.message_pk.in_(pks)))
    session.execute(
        update(LLMCallRow).where(LLMCallRow.channel_id == ch.id).values(channel_id=None, message_pk=None)
    )
    session.execute(delete(MessageRow).where(MessageRow.channel_id == ch.id))
    session.delete(ch)


def set_cursor(session: Session, *, channel_pk: int, cursor_message_id: int | None) -> None:
    """Advance the channel's cursor to ``cursor_message_id`` (never moves it back)."""
    if cursor_message_id is None:
        return
    session.execute(
        update(ChannelRow)
        .where(
            ChannelRow.id == channel_pk,
            or_(ChannelRow.cursor_message_id.is_(None), ChannelRow.cursor_message_id < cursor_message_id),
        )
        .values(cursor_message_id=cursor_message_id, updated_at=utcnow())
    )


def refresh_channel_info(session: Session, *, channel_pk: int, chat: ChatInfo) -> None:
    """Store what a live source says about a channel now (id, title, type, username)."""
    values: dict[str, Any] = {
        "telegram_id": chat.telegram_id,
        "title": strip_nul(chat.title),
        "chat_type": chat.chat_type,
        "updated_at": utcnow(),
    }
    if chat.username:
        values["username"] = chat.username
    session.execute(update(ChannelRow).where(ChannelRow.id == channel_pk).values(**values))


def cursor_and_recent_ids(session: Session, *, channel_pk: int, limit: int) -> tuple[int | None, list[int]]:
    """Return the channel's cursor and the ids of its ``limit`` newest live posts."""
    cursor = session.execute(select(ChannelRow.cursor_message_id).where(ChannelRow.id == channel_pk)).scalar()
    ids = session.execute(
        select(MessageRow.message_id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id.desc())
        .limit(limit)
    ).scalars()
    return (int(cursor) if cursor is not None else None), sorted(int(i) for i in ids)


def due_channels(session: Session, *, now: datetime) -> list[tuple[int, str, datetime | None, int]]:
    """Return ``(pk, key, next_run_at, every_s)`` of unpaused scheduled channels due at ``now``."""
    rows = session.execute(
        select(ChannelRow.id, ChannelRow.key, ChannelRow.next_run_at, ChannelRow.schedule_every_s).where(
            ChannelRow.schedule_every_s.is_not(None),
            ChannelRow.paused.is_(False),
            or_(ChannelRow.next_run_at.is_(None), ChannelRow.next_run_at <= now),
        )
    ).all()
    return [(int(pk), str(key), next_at, int(every or 0)) for pk, key, next_at, every in rows]


def claim_schedule_slot(
    session: Session, *, channel_pk: int, seen_next_run_at: datetime | None, now: datetime, every_s: int
) -> bool:
    """Move a due channel's ``next_run_at`` to ``now + every_s``; ``True`` for the one caller that did.

    The update is guarded on the ``next_run_at`` the caller saw, so two Beat
    processes (or a tick delivered twice) never claim the same slot.
    """
    guard = (
        ChannelRow.next_run_at.is_(None)
        if seen_next_run_at is None
        else ChannelRow.next_run_at == seen_next_run_at
    )
    result = session.execute(
        update(ChannelRow)
        .where(ChannelRow.id == channel_pk, guard)
        .values(next_run_at=now + timedelta(seconds=every_s))
    )
    return changed(result) > 0


def set_last_run(session: Session, *, channel_pk: int, run_id: str) -> None:
    """Record ``run_id`` as the channel's newest run."""
    session.execute(update(ChannelRow).where(ChannelRow.id == channel_pk).values(last_run_id=run_id))
