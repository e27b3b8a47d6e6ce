"""Data access: keyword-only functions over a :class:`~sqlalchemy.orm.Session`.

Every write is an upsert or a guarded update, so a task that runs twice
changes nothing the second time. Text going into PostgreSQL has NUL characters
stripped (PostgreSQL rejects them in ``text`` and ``jsonb``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import ChatInfo, Document, Entity, Message, Reaction, Topic
from tg_parser.errors import NotFoundError
from tg_parser.processing.base import LLMUsage
from tg_parser.storage.tables import (
    ChannelRow,
    DeadLetterRow,
    DocumentRow,
    LLMCallRow,
    MessageRow,
    MessageVersionRow,
    RunItemRow,
    RunRow,
    TopicMemberRow,
    TopicRow,
    utcnow,
)
from tg_parser.storage.upsert import insert_for

TERMINAL_ITEM_STATES = ("done", "failed")


def strip_nul(value: Any) -> Any:
    """Return ``value`` with NUL characters removed from every string inside it."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strip_nul(v) for v in value]
    return value


# ---------------------------------------------------------------- channels


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


def get_channel(session: Session, *, key: str) -> ChannelRow:
    """Return the channel with ``key``.

    Raises:
        NotFoundError: No such channel.
    """
    row = session.execute(select(ChannelRow).where(ChannelRow.key == key)).scalar_one_or_none()
    if row is None:
        msg = f"no channel with key {key!r} (see `tg-parser channels list`)"
        raise NotFoundError(msg)
    return row


def list_channels(session: Session) -> list[ChannelSummary]:
    """Return every channel with its post, document and topic counts, by key."""
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
    out = []
    for ch, n_posts, n_docs, n_topics in session.execute(stmt):
        out.append(
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
        )
    return out


def set_schedule(session: Session, *, key: str, every_s: int | None) -> None:
    """Set (or clear) a channel's schedule; the first scheduled run is due at once.

    Raises:
        NotFoundError: Unknown channel.
    """
    ch = get_channel(session, key=key)
    ch.schedule_every_s = every_s
    ch.next_run_at = utcnow() if every_s else None
    ch.updated_at = utcnow()


def set_paused(session: Session, *, key: str, paused: bool) -> None:
    """Pause or resume a channel's scheduled runs.

    Raises:
        NotFoundError: Unknown channel.
    """
    ch = get_channel(session, key=key)
    ch.paused = paused
    ch.updated_at = utcnow()


def remove_channel(session: Session, *, key: str) -> None:
    """Delete a channel and everything stored for it.

    Raises:
        NotFoundError: Unknown channel.
    """
    ch = get_channel(session, key=key)
    pks = select(MessageRow.id).where(MessageRow.channel_id == ch.id)
    run_ids = select(RunRow.id).where(RunRow.channel_id == ch.id)
    session.execute(delete(TopicMemberRow).where(TopicMemberRow.message_pk.in_(pks)))
    session.execute(delete(RunItemRow).where(RunItemRow.run_id.in_(run_ids)))
    session.execute(delete(TopicRow).where(TopicRow.channel_id == ch.id))
    session.execute(delete(DocumentRow).where(DocumentRow.channel_id == ch.id))
    session.execute(delete(MessageVersionRow).where(MessageVersionRow.message_pk.in_(pks)))
    session.execute(
        update(LLMCallRow).where(LLMCallRow.channel_id == ch.id).values(channel_id=None, message_pk=None)
    )
    session.execute(delete(MessageRow).where(MessageRow.channel_id == ch.id))
    session.execute(delete(RunRow).where(RunRow.channel_id == ch.id))
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


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class UpsertOutcome:
    """What :func:`upsert_messages` did: counts of new, changed and unchanged posts."""

    new: int
    changed: int
    unchanged: int


def _message_values(channel_pk: int, msg: Message, content_hash: str) -> dict[str, Any]:
    return {
        "channel_id": channel_pk,
        "message_id": msg.message_id,
        "date": msg.date,
        "text": strip_nul(msg.text),
        "entities": strip_nul([e.model_dump(mode="json", exclude_none=True) for e in msg.entities]),
        "edited_at": msg.edited,
        "author": strip_nul(msg.author),
        "reply_to": msg.reply_to,
        "forwarded_from": strip_nul(msg.forwarded_from),
        "media_type": msg.media_type,
        "views": msg.views,
        "reactions": strip_nul([r.model_dump(mode="json") for r in msg.reactions]),
        "grouped_id": msg.grouped_id,
        "raw": strip_nul(msg.raw),
        "content_hash": content_hash,
        "deleted": msg.deleted,
        "first_seen_at": utcnow(),
        "updated_at": utcnow(),
    }


def upsert_messages(session: Session, *, channel_pk: int, messages: Sequence[Message]) -> UpsertOutcome:
    """Insert new posts and update changed ones of one channel, keyed by message id.

    A post whose content (text or entities) changed keeps its previous version
    in ``message_versions``. Posts whose stored form is identical are not
    written at all, so a re-import changes no row.

    Args:
        session: Open session (the caller commits).
        channel_pk: Primary key of the channel.
        messages: Posts of that channel; later duplicates of an id win.
    """
    if not messages:
        return UpsertOutcome(0, 0, 0)
    by_id = {m.message_id: m for m in messages}
    existing = {
        row.message_id: row
        for row in session.execute(
            select(MessageRow).where(
                MessageRow.channel_id == channel_pk, MessageRow.message_id.in_(list(by_id))
            )
        ).scalars()
    }
    new_rows: list[dict[str, Any]] = []
    changed = unchanged = 0
    for mid, msg in by_id.items():
        digest = strip_nul_hash(msg)
        values = _message_values(channel_pk, msg, digest)
        old = existing.get(mid)
        if old is None:
            new_rows.append(values)
            continue
        if _same_row(old, values):
            unchanged += 1
            continue
        if old.content_hash != digest:
            changed += 1
            ins = insert_for(session, MessageVersionRow).values(
                message_pk=old.id,
                content_hash=old.content_hash,
                text=old.text,
                entities=old.entities,
                edited_at=old.edited_at,
                recorded_at=utcnow(),
            )
            session.execute(ins.on_conflict_do_nothing(index_elements=["message_pk", "content_hash"]))
        else:
            unchanged += 1
        values.pop("first_seen_at")
        session.execute(update(MessageRow).where(MessageRow.id == old.id).values(**values))
    if new_rows:
        stmt = insert_for(session, MessageRow)
        stmt = stmt.on_conflict_do_nothing(index_elements=["channel_id", "message_id"])
        session.execute(stmt, new_rows)
    return UpsertOutcome(new=len(new_rows), changed=changed, unchanged=unchanged)


def strip_nul_hash(msg: Message) -> str:
    """Return the content hash of ``msg`` as stored (after NUL stripping)."""
    if "\x00" in msg.text:
        return msg.model_copy(update={"text": msg.text.replace("\x00", "")}).content_hash()
    return msg.content_hash()


_COMPARED = (
    "date",
    "text",
    "entities",
    "edited_at",
    "author",
    "reply_to",
    "forwarded_from",
    "media_type",
    "views",
    "reactions",
    "grouped_id",
    "content_hash",
    "deleted",
)


def _same_row(row: MessageRow, values: dict[str, Any]) -> bool:
    return all(getattr(row, name) == values[name] for name in _COMPARED)


def mark_deleted(session: Session, *, channel_pk: int, message_ids: Iterable[int]) -> int:
    """Mark posts deleted at the source (kept, left out of exports); returns how many changed."""
    ids = list(message_ids)
    if not ids:
        return 0
    result = session.execute(
        update(MessageRow)
        .where(
            MessageRow.channel_id == channel_pk, MessageRow.message_id.in_(ids), MessageRow.deleted.is_(False)
        )
        .values(deleted=True, deleted_at=utcnow(), updated_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def row_to_message(row: MessageRow, *, telegram_id: int) -> Message:
    """Rebuild the domain :class:`Message` from its row."""
    return Message(
        channel_id=telegram_id,
        message_id=row.message_id,
        date=row.date,
        text=row.text,
        entities=tuple(Entity.model_validate(e) for e in row.entities or []),
        edited=row.edited_at,
        author=row.author,
        reply_to=row.reply_to,
        forwarded_from=row.forwarded_from,
        media_type=row.media_type,
        views=row.views,
        reactions=tuple(Reaction.model_validate(r) for r in row.reactions or []),
        grouped_id=row.grouped_id,
        deleted=row.deleted,
        raw=row.raw,
    )


def load_message(session: Session, *, message_pk: int) -> tuple[MessageRow, ChannelRow]:
    """Return a message row and its channel.

    Raises:
        NotFoundError: No such message.
    """
    row = session.get(MessageRow, message_pk)
    if row is None:
        msg = f"no message with primary key {message_pk}"
        raise NotFoundError(msg)
    channel = session.get(ChannelRow, row.channel_id)
    assert channel is not None  # noqa: S101 - foreign key guarantees it
    return row, channel


def stale_message_pks(
    session: Session, *, channel_pk: int, processor: str, model: str, prompt_version: str
) -> list[int]:
    """Return posts with text that have no current document for this processor.

    A document is current when its content hash, processor, model and prompt
    version all match; anything else (no document, an edit, another model or
    prompt version) makes the post due for processing.
    """
    current = exists().where(
        DocumentRow.message_pk == MessageRow.id,
        DocumentRow.content_hash == MessageRow.content_hash,
        DocumentRow.processor == processor,
        DocumentRow.model == model,
        DocumentRow.prompt_version == prompt_version,
    )
    stmt = (
        select(MessageRow.id)
        .where(
            MessageRow.channel_id == channel_pk,
            MessageRow.deleted.is_(False),
            func.length(func.trim(MessageRow.text)) > 0,
            ~current,
        )
        .order_by(MessageRow.message_id)
    )
    return [int(pk) for pk in session.execute(stmt).scalars()]


# ---------------------------------------------------------------- documents


def current_document(
    session: Session, *, message_pk: int, content_hash: str, processor: str, model: str, prompt_version: str
) -> DocumentRow | None:
    """Return the message's document if it is current for this content and processor."""
    return session.execute(
        select(DocumentRow).where(
            DocumentRow.message_pk == message_pk,
            DocumentRow.content_hash == content_hash,
            DocumentRow.processor == processor,
            DocumentRow.model == model,
            DocumentRow.prompt_version == prompt_version,
        )
    ).scalar_one_or_none()


def upsert_document(session: Session, *, message_pk: int, channel_pk: int, document: Document) -> None:
    """Insert or replace the document of one message."""
    analysis = document.analysis
    values = strip_nul(
        {
            "message_pk": message_pk,
            "channel_id": channel_pk,
            "content_hash": document.content_hash,
            "processor": document.processor,
            "model": document.model,
            "prompt_version": document.prompt_version,
            "language": analysis.language,
            "summary": analysis.summary,
            "keywords": list(analysis.keywords),
            "entities": [e.model_dump(mode="json") for e in analysis.entities],
            "clean_text": document.clean_text,
            "output": analysis.model_dump(mode="json"),
        }
    )
    now = utcnow()
    stmt = insert_for(session, DocumentRow).values(**values, created_at=now, updated_at=now)
    update_values = {k: v for k, v in values.items() if k != "message_pk"} | {"updated_at": now}
    session.execute(stmt.on_conflict_do_update(index_elements=["message_pk"], set_=update_values))


@dataclass(frozen=True)
class ExportRow:
    """A post joined with its document and topic, as the exporter needs it."""

    message: MessageRow
    document: DocumentRow
    topic_key: str | None
    topic_label: str | None


def iter_export_rows(session: Session, *, channel_pk: int) -> Iterable[ExportRow]:
    """Yield non-deleted posts that have a document, by message id, with their topic."""
    stmt = (
        select(MessageRow, DocumentRow, TopicRow.topic_key, TopicRow.label)
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .outerjoin(TopicMemberRow, TopicMemberRow.message_pk == MessageRow.id)
        .outerjoin(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    for msg, doc, topic_key, label in session.execute(stmt).yield_per(1000):
        yield ExportRow(message=msg, document=doc, topic_key=topic_key, topic_label=label)


def topic_inputs(session: Session, *, channel_pk: int) -> list[tuple[int, int, str, list[str]]]:
    """Return ``(message_pk, message_id, clean_text, keywords)`` of the channel's live documents."""
    stmt = (
        select(MessageRow.id, MessageRow.message_id, DocumentRow.clean_text, DocumentRow.keywords)
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    return [(int(a), int(b), c, list(d or [])) for a, b, c, d in session.execute(stmt)]


def replace_topics(
    session: Session, *, channel_pk: int, topics: Sequence[Topic], pk_by_message_id: dict[int, int]
) -> None:
    """Replace the channel's topics and memberships with ``topics``.

    Topics are upserted by their deterministic key, so ids of unchanged topics
    survive; topics that no longer exist are removed.
    """
    keys = [t.topic_id for t in topics]
    member_pks = list(pk_by_message_id.values())
    for start in range(0, len(member_pks), 1000):
        chunk = member_pks[start : start + 1000]
        session.execute(delete(TopicMemberRow).where(TopicMemberRow.message_pk.in_(chunk)))
    session.execute(
        delete(TopicRow).where(TopicRow.channel_id == channel_pk, TopicRow.topic_key.not_in(keys or [""]))
    )
    for topic in topics:
        values = strip_nul(
            {
                "channel_id": channel_pk,
                "topic_key": topic.topic_id,
                "label": topic.label,
                "keywords": list(topic.keywords),
                "summary": topic.summary,
                "size": topic.size,
            }
        )
        stmt = insert_for(session, TopicRow).values(**values, updated_at=utcnow())
        stmt = stmt.on_conflict_do_update(
            index_elements=["topic_key"],
            set_={k: v for k, v in values.items() if k != "topic_key"} | {"updated_at": utcnow()},
        )
        session.execute(stmt)
        topic_pk = session.execute(
            select(TopicRow.id).where(TopicRow.topic_key == topic.topic_id)
        ).scalar_one()
        rows = [{"message_pk": pk_by_message_id[m], "topic_id": topic_pk} for m in topic.member_ids]
        if rows:
            session.execute(insert_for(session, TopicMemberRow), rows)


def list_topics(session: Session, *, channel_pk: int) -> list[Topic]:
    """Return the channel's stored topics with member message ids, by topic key."""
    topics = (
        session.execute(select(TopicRow).where(TopicRow.channel_id == channel_pk).order_by(TopicRow.id))
        .scalars()
        .all()
    )
    members: dict[int, list[int]] = {t.id: [] for t in topics}
    stmt = (
        select(TopicMemberRow.topic_id, MessageRow.message_id)
        .join(MessageRow, MessageRow.id == TopicMemberRow.message_pk)
        .where(MessageRow.channel_id == channel_pk)
    )
    for topic_pk, mid in session.execute(stmt):
        members.setdefault(topic_pk, []).append(int(mid))
    out = [
        Topic(
            topic_id=t.topic_key,
            label=t.label,
            keywords=list(t.keywords or []),
            summary=t.summary,
            member_ids=sorted(members.get(t.id, [])),
        )
        for t in topics
    ]
    return sorted(out, key=lambda t: _topic_order(t.topic_id))


def _topic_order(topic_key: str) -> tuple[int, str]:
    tail = topic_key.rsplit("-", 1)[-1]
    return (int(tail), topic_key) if tail.isdigit() else (1 << 30, topic_key)


# ---------------------------------------------------------------- runs


def create_run(session: Session, *, run_id: str, channel_pk: int, mode: str, export_dir: str | None) -> bool:
    """Create a run row; returns ``False`` when it already exists (a redelivery)."""
    stmt = insert_for(session, RunRow).values(
        id=run_id,
        channel_id=channel_pk,
        status="ingesting",
        mode=mode,
        export_dir=export_dir,
        created_at=utcnow(),
    )
    result = session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    session.execute(update(ChannelRow).where(ChannelRow.id == channel_pk).values(last_run_id=run_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def heartbeat(session: Session, *, run_id: str) -> None:
    """Record that a run made progress now (the stuck-run sweeper reads it)."""
    session.execute(update(RunRow).where(RunRow.id == run_id).values(heartbeat_at=utcnow()))


ACTIVE_RUN_STATES = ("ingesting", "processing", "topicizing", "exporting")


def stalled_runs(session: Session, *, now: datetime, stall_timeout_s: float) -> list[tuple[RunRow, str]]:
    """Return active runs without progress for their stall timeout, with their channel keys.

    Progress is the newest of the run's creation, heartbeat, stage times and
    its items' last change. A run already re-driven ``k`` times must stall
    ``stall_timeout_s * 2**k`` (``k`` capped at 6) before it is returned
    again, so a cluster without consumers is not flooded with re-sent work.
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
        .where(RunRow.status.in_(ACTIVE_RUN_STATES))
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
        wait_s = stall_timeout_s * 2 ** min(run.redrives or 0, 6)
        if (now - latest).total_seconds() > wait_s:
            out.append((run, key))
    return out


def get_run(session: Session, *, run_id: str) -> RunRow:
    """Return a run.

    Raises:
        NotFoundError: No such run.
    """
    row = session.get(RunRow, run_id)
    if row is None:
        msg = f"no run with id {run_id!r} (see `tg-parser runs list`)"
        raise NotFoundError(msg)
    return row


def add_run_items(session: Session, *, run_id: str, message_pks: Sequence[int]) -> None:
    """Record the posts a run must process (idempotent)."""
    rows = [
        {"run_id": run_id, "message_pk": pk, "status": "pending", "updated_at": utcnow()}
        for pk in message_pks
    ]
    for start in range(0, len(rows), 1000):
        stmt = insert_for(session, RunItemRow).on_conflict_do_nothing(index_elements=["run_id", "message_pk"])
        session.execute(stmt, rows[start : start + 1000])


def finish_ingest(
    session: Session,
    *,
    run_id: str,
    posts_read: int,
    outcome: UpsertOutcome,
    input_errors: int,
    items_total: int,
) -> bool:
    """Move a run from ``ingesting`` to ``processing`` with its counts (guarded).

    Returns:
        ``True`` for the caller that made the transition, ``False`` when the
        run had already moved on (a redelivered ingest).
    """
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == "ingesting")
        .values(
            status="processing",
            posts_read=posts_read,
            posts_new=outcome.new,
            posts_changed=outcome.changed,
            input_errors=input_errors,
            items_total=items_total,
            ingested_at=utcnow(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_item(
    session: Session,
    *,
    run_id: str,
    message_pk: int,
    status: str,
    attempts: int = 1,
    error: str | None = None,
) -> bool:
    """Move a pending run item to ``done`` or ``failed``; ``True`` only for the first mover."""
    result = session.execute(
        update(RunItemRow)
        .where(
            RunItemRow.run_id == run_id, RunItemRow.message_pk == message_pk, RunItemRow.status == "pending"
        )
        .values(status=status, attempts=attempts, error=strip_nul(error), updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_processing_done(session: Session, *, run_id: str) -> bool:
    """Move a run from ``processing`` to ``topicizing`` once no item is pending.

    Call it in its own transaction, after the transaction that marked an item
    terminal has committed: then the last committer always sees every item
    terminal, and the guarded update lets exactly one caller win.

    Returns:
        ``True`` for exactly one caller per run.
    """
    pending = exists().where(RunItemRow.run_id == run_id, RunItemRow.status == "pending")
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == "processing", ~pending)
        .values(status="topicizing", processed_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_stage(session: Session, *, run_id: str, from_status: str, to_status: str, **values: Any) -> bool:
    """Guarded run transition ``from_status`` → ``to_status``; ``True`` for the one winner."""
    result = session.execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.status == from_status)
        .values(status=to_status, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RunCounts:
    """Counts of a run's items by state."""

    total: int
    pending: int
    done: int
    failed: int


def run_counts(session: Session, *, run_id: str) -> RunCounts:
    """Return how many of a run's items are pending, done and failed."""
    rows = dict(
        session.execute(
            select(RunItemRow.status, func.count())
            .where(RunItemRow.run_id == run_id)
            .group_by(RunItemRow.status)
        ).all()
    )
    pending, done, failed = (int(rows.get(s, 0)) for s in ("pending", "done", "failed"))
    return RunCounts(total=pending + done + failed, pending=pending, done=done, failed=failed)


def list_runs(session: Session, *, channel_pk: int | None = None, limit: int = 20) -> list[RunRow]:
    """Return the most recent runs, newest first."""
    stmt = select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)
    if channel_pk is not None:
        stmt = stmt.where(RunRow.channel_id == channel_pk)
    return list(session.execute(stmt).scalars())


def pending_items(session: Session, *, run_id: str) -> list[int]:
    """Return the message keys of a run's pending items."""
    stmt = select(RunItemRow.message_pk).where(
        and_(RunItemRow.run_id == run_id, RunItemRow.status == "pending")
    )
    return [int(x) for x in session.execute(stmt).scalars()]


# ---------------------------------------------------------------- dead letters and usage


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
        error_message=strip_nul(error_message)[:10_000],
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
            DeadLetterRow.error_message == strip_nul(error_message)[:10_000],
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
    session: Session, *, include_resolved: bool = False, limit: int = 100
) -> list[DeadLetterRow]:
    """Return dead letters, newest first."""
    stmt = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)
    if not include_resolved:
        stmt = stmt.where(DeadLetterRow.resolved.is_(False))
    return list(session.execute(stmt).scalars())


def record_llm_calls(
    session: Session,
    *,
    usage: Sequence[LLMUsage],
    run_id: str | None,
    channel_pk: int | None,
    message_pk: int | None,
    purpose: str = "process",
) -> None:
    """Store one ``llm_calls`` row per provider call."""
    for u in usage:
        session.add(
            LLMCallRow(
                run_id=run_id,
                channel_id=channel_pk,
                message_pk=message_pk,
                purpose=purpose,
                provider=u.provider,
                model=u.model,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                latency_ms=u.latency_ms,
                cost_usd=u.cost_usd,
                cache_hit=u.cache_hit,
                created_at=utcnow(),
            )
        )


@dataclass(frozen=True)
class UsageTotal:
    """LLM usage summed per channel, provider and model."""

    channel: str | None
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    mean_latency_ms: float


def usage_totals(
    session: Session, *, channel_key: str | None = None, since: datetime | None = None
) -> list[UsageTotal]:
    """Sum ``llm_calls`` per channel, provider and model, optionally for one channel and since a time."""
    stmt = (
        select(
            ChannelRow.key,
            LLMCallRow.provider,
            LLMCallRow.model,
            func.count(),
            func.coalesce(func.sum(LLMCallRow.input_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.output_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0),
            func.coalesce(func.avg(LLMCallRow.latency_ms), 0.0),
        )
        .outerjoin(ChannelRow, ChannelRow.id == LLMCallRow.channel_id)
        .group_by(ChannelRow.key, LLMCallRow.provider, LLMCallRow.model)
        .order_by(ChannelRow.key, LLMCallRow.provider, LLMCallRow.model)
    )
    if channel_key is not None:
        stmt = stmt.where(ChannelRow.key == channel_key)
    if since is not None:
        stmt = stmt.where(LLMCallRow.created_at >= since)
    return [
        UsageTotal(
            channel=k,
            provider=p,
            model=m,
            calls=int(n),
            input_tokens=int(i),
            output_tokens=int(o),
            cost_usd=float(c),
            mean_latency_ms=float(lat),
        )
        for k, p, m, n, i, o, c, lat in session.execute(stmt)
    ]


def count_rows(session: Session) -> dict[str, int]:
    """Return the row count of every table (for tests and health)."""
    tables = (
        ChannelRow,
        MessageRow,
        MessageVersionRow,
        DocumentRow,
        TopicRow,
        TopicMemberRow,
        RunRow,
        RunItemRow,
        DeadLetterRow,
        LLMCallRow,
    )
    return {
        t.__tablename__: int(session.execute(select(func.count()).select_from(t)).scalar_one())
        for t in tables
    }
