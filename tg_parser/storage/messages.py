"""The messages aggregate: posts as read from their source, their versions and deletions.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits). A changed post keeps its previous version in ``message_versions``;
a re-import of identical posts writes no row. Reads return domain
:class:`~tg_parser.domain.Message` objects, never ORM rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import Message
from tg_parser.domain.models import content_hash
from tg_parser.domain.post_fields import PostFields
from tg_parser.storage._common import changed as _changed
from tg_parser.storage._common import strip_nul
from tg_parser.storage._message_reads import (
    MessageToProcess,
    StoredMessage,
    load_message,
    load_message_to_process,
    load_messages,
    read_message_to_process,
    stale_message_pks,
)
from tg_parser.storage.forum_topics import topics_named, upsert_forum_topics
from tg_parser.storage.tables import MessageRow, MessageVersionRow, utcnow
from tg_parser.storage.upsert import insert_for

__all__ = [
    "EncodedPosts",
    "MessageToProcess",
    "StoredMessage",
    "UpsertOutcome",
    "encode_posts",
    "encode_records",
    "load_message",
    "load_message_to_process",
    "load_messages",
    "mark_deleted",
    "read_message_to_process",
    "set_media_path",
    "stale_message_pks",
    "stored_media",
    "strip_nul_hash",
    "upsert_encoded",
    "upsert_messages",
    "uses_copy",
]


@dataclass(frozen=True)
class EncodedPosts:
    """Posts of one channel encoded as ``messages`` rows in ``COPY``'s text format, for PostgreSQL.

    Built by :func:`encode_posts` (pure CPU work, no database, so it can run in
    another process: the object pickles as a few large bytes, not a tuple per
    post) and stored by :func:`upsert_encoded`.

    Attributes:
        channel_pk: The channel every post belongs to.
        message_ids: The posts' message ids, unique (a later duplicate wins), in row order.
        recorded_at: The time of the encoding: every row's ``first_seen_at`` and
            ``updated_at``, and the ``recorded_at`` of versions it replaces.
        rows: One line per post in ``COPY ... FROM STDIN`` text format (UTF-8),
            columns in the order ``upsert_encoded`` names; no NUL character anywhere.
    """

    channel_pk: int
    message_ids: list[int]
    recorded_at: datetime
    rows: bytes
    #: Forum topics the posts name, ``(topic id, latest title)`` (issue 13; empty outside forums).
    forum_topics: tuple[tuple[int, str | None], ...] = ()


@dataclass(frozen=True)
class UpsertOutcome:
    """What :func:`upsert_messages` did: counts of new, changed and unchanged posts."""

    new: int
    changed: int
    unchanged: int


#: Columns of ``messages`` an ingest writes, in the order of :func:`_row`.
_COLUMNS = (
    "channel_id",
    "message_id",
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
    "raw",
    "content_hash",
    "deleted",
    # Issue 13 (tg-depth): added after the columns above, before the two bookkeeping times (kept last).
    "forwards",
    "media",
    "forum_topic_id",
    "thread_of",
    "first_seen_at",
    "updated_at",
)
#: The columns that decide whether a stored post is unchanged (``raw`` and the
#: bookkeeping times are not compared, so a re-import writes nothing).
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
    "forwards",
    "media",
    "forum_topic_id",
    "thread_of",
)


def _row(channel_pk: int, msg: Message, *, now: datetime) -> dict[str, Any]:
    """Return the ``messages`` values of ``msg`` (NUL characters stripped), keyed by :data:`_COLUMNS`."""
    entities = [e.json_dict() for e in msg.entities]
    text = _strip_text(msg.text) or ""
    return {
        "channel_id": channel_pk,
        "message_id": msg.message_id,
        "date": msg.date,
        "text": text,
        "entities": _without_nul(entities),
        "edited_at": msg.edited,
        "author": _strip_text(msg.author),
        "reply_to": msg.reply_to,
        "forwarded_from": _strip_text(msg.forwarded_from),
        "media_type": msg.media_type,
        "views": msg.views,
        "reactions": _without_nul([{"emoji": r.emoji, "count": r.count} for r in msg.reactions]),
        "grouped_id": msg.grouped_id,
        "raw": _without_nul(msg.raw),
        "content_hash": content_hash(text, entities),
        "deleted": msg.deleted,
        "first_seen_at": now,
        "updated_at": now,
        "forwards": msg.forwards,
        "media": _without_nul(msg.media.json_dict()) if msg.media is not None else None,
        "forum_topic_id": msg.forum_topic.id if msg.forum_topic is not None else None,
        "thread_of": msg.thread_of,
    }


def _record(channel_pk: int, msg: Message, *, now: datetime) -> tuple[Any, ...]:
    """Return the ``COPY`` record of ``msg``: :data:`_COLUMNS` order, JSON columns as JSON text.

    The same values as :func:`_row` (NUL characters stripped), built without
    the intermediate dict: this runs once per post of every PostgreSQL import.
    """
    return _record_of(
        channel_pk,
        msg,
        entities=[e.json_dict() for e in msg.entities],
        reactions=[{"emoji": r.emoji, "count": r.count} for r in msg.reactions],
        now=now,
    )


def _fields_record(channel_pk: int, post: PostFields, *, now: datetime) -> tuple[Any, ...]:
    """Return the ``COPY`` record of a post's plain values: the record :func:`_record` gives for its model."""
    return _record_of(channel_pk, post, entities=post.entities, reactions=post.reactions, now=now)


def _record_of(
    channel_pk: int,
    msg: Message | PostFields,
    *,
    entities: list[dict[str, Any]],
    reactions: list[dict[str, Any]],
    now: datetime,
) -> tuple[Any, ...]:
    text = _strip_text(msg.text) or ""
    return (
        channel_pk,
        msg.message_id,
        _utc(msg.date),
        text,
        _json_text(entities),
        _utc(msg.edited) if msg.edited is not None else None,
        _strip_text(msg.author),
        msg.reply_to,
        _strip_text(msg.forwarded_from),
        msg.media_type,
        msg.views,
        _json_text(reactions),
        msg.grouped_id,
        _json_text(msg.raw),
        _content_hash(text, entities),
        msg.deleted,
        msg.forwards,
        _json_text(msg.media.json_dict()) if msg.media is not None else None,
        msg.forum_topic.id if msg.forum_topic is not None else None,
        msg.thread_of,
        now,
        now,
    )


def _content_hash(text: str, entities: list[dict[str, Any]]) -> str:
    """Return :func:`~tg_parser.domain.models.content_hash`, serialised by orjson when it can.

    With sorted keys orjson writes the same bytes as ``json.dumps(...,
    ensure_ascii=False, sort_keys=True, separators=(",", ":"))`` (the same
    escapes; checked for every code point and on the real exports in
    ``tests/unit/test_message_encoding.py``) in a fraction of the time. What it
    refuses (an integer beyond 64 bits, a lone surrogate) goes to the domain
    function, which hashes or fails as before.
    """
    try:
        blob = orjson.dumps({"text": text, "entities": entities}, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return content_hash(text, entities)
    return hashlib.sha256(blob).hexdigest()


def _without_nul(value: Any) -> Any:
    r"""Return ``value`` without NUL characters, walking it only when its JSON holds ``\u0000``."""
    return strip_nul(value) if "\\u0000" in json.dumps(value) else value


def _json_text(value: Any) -> bytes:
    r"""Return the JSON text of ``value`` without NUL characters, UTF-8 (what ``COPY`` sends to ``jsonb``).

    JSON writers escape a NUL as ``\u0000`` (control characters are always
    escaped), so one serialisation tells whether the (slow) recursive
    :func:`strip_nul` is needed at all. Other characters are written as
    UTF-8, not ``\uXXXX``: ``jsonb`` stores the same value either way, and
    Cyrillic text is a third of the bytes to send and parse. orjson writes
    it (about a third of ``json.dumps``' time on a Telegram post's ``raw``;
    ``jsonb`` ignores the whitespace it leaves out); ``json.dumps`` takes
    what orjson refuses (integers beyond 64 bits). The bytes stay bytes up
    to the ``COPY`` text (no decoding and encoding again of the largest
    column, ``raw``).
    """
    try:
        text = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a non-string key
        text = json.dumps(value, ensure_ascii=False).encode()
    if b"\\u0000" in text:
        text = json.dumps(strip_nul(value), ensure_ascii=False).encode()
    return text


def _utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive time is taken as UTC (as ``UTCDateTime`` does)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _strip_text(value: str | None) -> str | None:
    return value.replace("\x00", "") if value is not None and "\x00" in value else value


def upsert_messages(session: Session, *, channel_pk: int, messages: Sequence[Message]) -> UpsertOutcome:
    """Insert new posts and update changed ones of one channel, keyed by message id.

    A post whose content (text or entities) changed keeps its previous version
    in ``message_versions``. Posts whose stored form is identical are not
    written at all, so a re-import changes no row. NUL characters are
    stripped from every string (PostgreSQL rejects them).

    On PostgreSQL the rows travel by ``COPY`` (see
    :mod:`tg_parser.storage._message_copy`): straight into ``messages`` when
    none of the batch is stored yet, else through a temporary table and
    set-wise statements. On SQLite they go by ``executemany``.

    Args:
        session: Open session (the caller commits).
        channel_pk: Primary key of the channel.
        messages: Posts of that channel; later duplicates of an id win.

    Returns:
        How many posts were new, changed (content hash differs) and unchanged.
    """
    if not messages:
        return UpsertOutcome(0, 0, 0)
    if uses_copy(session.get_bind().dialect.name):
        return upsert_encoded(session, posts=encode_posts(channel_pk=channel_pk, messages=messages))
    now = utcnow()
    by_id = {m.message_id: m for m in messages}
    rows = [_row(channel_pk, m, now=now) for m in by_id.values()]
    topics = topics_named(by_id.values())
    if topics:
        upsert_forum_topics(session, channel_pk=channel_pk, topics=topics)
    return _executemany_upsert(session, channel_pk=channel_pk, rows=rows, now=now)


def uses_copy(backend: str) -> bool:
    """Tell whether posts are stored through :func:`encode_posts` and ``COPY`` on this database.

    Args:
        backend: A dialect name (``postgresql``, ``sqlite``) or a database URL.

    Returns:
        ``True`` for PostgreSQL.
    """
    return backend.split(":", 1)[0].split("+", 1)[0] == "postgresql"


def encode_posts(*, channel_pk: int, messages: Sequence[Message] | Sequence[PostFields]) -> EncodedPosts:
    """Encode posts as the ``COPY`` rows of :func:`upsert_encoded` (no database touched).

    This is the CPU-heavy half of a PostgreSQL upsert (NUL stripping, JSON
    text of ``entities``/``reactions``/``raw``, the content hash, ``COPY``'s
    text format); an import runs it in the process that parses the export.
    ``first_seen_at`` and ``updated_at`` are the time of this call.

    Args:
        channel_pk: Primary key of the channel.
        messages: Posts of that channel, as models or as their plain values
            (the same rows either way); later duplicates of an id win.

    Returns:
        The rows, one per distinct message id.
    """
    from tg_parser.storage._message_copy import copy_text

    now = utcnow()
    by_id = {m.message_id: m for m in messages}
    records = encode_records(channel_pk=channel_pk, messages=list(by_id.values()), now=now)
    return EncodedPosts(
        channel_pk=channel_pk,
        message_ids=list(by_id),
        recorded_at=now,
        rows=copy_text(records),
        forum_topics=topics_named(by_id.values()),
    )


def encode_records(
    *, channel_pk: int, messages: Sequence[Message | PostFields], now: datetime
) -> list[tuple[Any, ...]]:
    """Return one ``messages`` record per post: :data:`_COLUMNS` order, JSON columns as JSON text.

    The values :func:`encode_posts` writes as ``COPY`` text (NUL characters
    stripped, times aware UTC); duplicates are not removed here.
    """
    return [
        _fields_record(channel_pk, m, now=now)
        if isinstance(m, PostFields)
        else _record(channel_pk, m, now=now)
        for m in messages
    ]


def upsert_encoded(session: Session, *, posts: EncodedPosts) -> UpsertOutcome:
    """Store posts encoded by :func:`encode_posts`, with :func:`upsert_messages`' semantics (PostgreSQL).

    Args:
        session: Open session bound to PostgreSQL (the caller commits).
        posts: The encoded posts.

    Returns:
        How many posts were new, changed (content hash differs) and unchanged.
    """
    if not posts.message_ids:
        return UpsertOutcome(0, 0, 0)
    from tg_parser.storage._message_copy import copy_upsert

    new, changed = copy_upsert(session, posts=posts, columns=_COLUMNS, compared=_COMPARED)
    if posts.forum_topics:
        upsert_forum_topics(session, channel_pk=posts.channel_pk, topics=posts.forum_topics)
    return UpsertOutcome(new=new, changed=changed, unchanged=len(posts.message_ids) - new - changed)


def _executemany_upsert(
    session: Session, *, channel_pk: int, rows: list[dict[str, Any]], now: datetime
) -> UpsertOutcome:
    """Upsert ``rows`` with a narrow read of the stored ones and ``executemany`` writes (SQLite)."""
    columns = [MessageRow.__table__.c[name] for name in _COMPARED]
    stored = session.execute(
        select(MessageRow.id, MessageRow.message_id, MessageRow.text, MessageRow.entities, *columns).where(
            MessageRow.channel_id == channel_pk, MessageRow.message_id.in_([r["message_id"] for r in rows])
        )
    ).mappings()
    existing = {row["message_id"]: row for row in stored}
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for values in rows:
        old = existing.get(values["message_id"])
        if old is None:
            new_rows.append(values)
            continue
        if all(old[name] == values[name] for name in _COMPARED):
            continue
        if old["content_hash"] != values["content_hash"]:
            versions.append(
                {
                    "message_pk": old["id"],
                    "content_hash": old["content_hash"],
                    "text": old["text"],
                    "entities": old["entities"],
                    "edited_at": old["edited_at"],
                    "recorded_at": now,
                }
            )
        update_values = {k: v for k, v in values.items() if k != "first_seen_at"}
        updates.append({"pk": old["id"], **update_values})
    if versions:
        ins = insert_for(session, MessageVersionRow).on_conflict_do_nothing(
            index_elements=["message_pk", "content_hash"]
        )
        session.execute(ins, versions)
    if updates:
        # Core executemany: one prepared UPDATE for every changed row.
        stmt = (
            update(MessageRow)
            .where(MessageRow.id == bindparam("pk"))
            .values({name: bindparam(name) for name in _COLUMNS if name != "first_seen_at"})
        )
        session.connection().execute(stmt, updates)
    if new_rows:
        stmt = insert_for(session, MessageRow).on_conflict_do_nothing(
            index_elements=["channel_id", "message_id"]
        )
        session.execute(stmt, new_rows)
    return UpsertOutcome(
        new=len(new_rows), changed=len(versions), unchanged=len(rows) - len(new_rows) - len(versions)
    )


def strip_nul_hash(msg: Message) -> str:
    """Return the content hash of ``msg`` as stored (NUL characters stripped from its text)."""
    return content_hash(msg.text.replace("\x00", ""), [e.json_dict() for e in msg.entities])


def mark_deleted(session: Session, *, channel_pk: int, message_ids: Iterable[int]) -> int:
    """Mark posts deleted at the source (kept; tombstones in deltas); returns how many changed."""
    ids = list(message_ids)
    if not ids:
        return 0
    from tg_parser.storage.changes import IDS_PER_QUERY, live_message_pks, stamp_documents

    live = live_message_pks(session, channel_pk=channel_pk, message_ids=ids)
    # Their documents become the deletions' tombstones in the deltas (storage/changes.py).
    stamp_documents(session, channel_pk=channel_pk, message_pks=live)
    marked = 0
    for start in range(0, len(live), IDS_PER_QUERY):  # by primary key
        marked += _changed(
            session.execute(
                update(MessageRow)
                .where(MessageRow.id.in_(live[start : start + IDS_PER_QUERY]), MessageRow.deleted.is_(False))
                .values(deleted=True, deleted_at=utcnow(), updated_at=utcnow())
            )
        )
    return marked


def stored_media(
    session: Session, *, channel_pk: int, message_id: int
) -> tuple[dict[str, Any] | None, str | None]:
    """Return a post's media metadata and its downloaded file (relative to ``MEDIA_DIR``), if any."""
    row = session.execute(
        select(MessageRow.media, MessageRow.media_path).where(
            MessageRow.channel_id == channel_pk, MessageRow.message_id == message_id
        )
    ).one_or_none()
    return (row[0], row[1]) if row is not None else (None, None)


def set_media_path(session: Session, *, channel_pk: int, message_id: int, path: str) -> None:
    """Record where a post's media file was stored (``updated_at`` moves, so incremental pulls see it)."""
    session.execute(
        update(MessageRow)
        .where(MessageRow.channel_id == channel_pk, MessageRow.message_id == message_id)
        .values(media_path=path, updated_at=utcnow())
    )
