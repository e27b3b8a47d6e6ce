"""The messages aggregate: posts as read from their source, their versions and deletions.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits). A changed post keeps its previous version in ``message_versions``;
a re-import of identical posts writes no row. Reads return domain
:class:`~tg_parser.domain.Message` objects, never ORM rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import Entity, Message, Reaction
from tg_parser.errors import NotFoundError
from tg_parser.storage import channels as channel_store
from tg_parser.storage._common import changed as _changed
from tg_parser.storage._common import strip_nul
from tg_parser.storage.channels import ChannelRecord, get_channel_by_pk
from tg_parser.storage.tables import DocumentRow, MessageRow, MessageVersionRow, utcnow
from tg_parser.storage.upsert import insert_for


@dataclass(frozen=True)
class StoredMessage:
    """A stored post with its channel.

    Attributes:
        pk: Primary key (``messages.id``), the id tasks pass around.
        channel: The channel it belongs to.
        message: The post as a domain object.
        content_hash: Hash of its stored content (text and entities).
    """

    pk: int
    channel: ChannelRecord
    message: Message
    content_hash: str


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
)


def _row(channel_pk: int, msg: Message, *, now: datetime, json_texts: dict[str, str]) -> dict[str, Any]:
    """Return the ``messages`` values of ``msg`` (NUL characters stripped), keyed by :data:`_COLUMNS`.

    The JSON columns' serialised form goes into ``json_texts`` (what ``COPY`` sends).
    """
    entities = [e.model_dump(mode="json", exclude_none=True) for e in msg.entities]
    reactions = [r.model_dump(mode="json") for r in msg.reactions]
    return {
        "channel_id": channel_pk,
        "message_id": msg.message_id,
        "date": msg.date,
        "text": _strip_text(msg.text),
        "entities": _clean_json(entities, column="entities", texts=json_texts),
        "edited_at": msg.edited,
        "author": _strip_text(msg.author),
        "reply_to": msg.reply_to,
        "forwarded_from": _strip_text(msg.forwarded_from),
        "media_type": msg.media_type,
        "views": msg.views,
        "reactions": _clean_json(reactions, column="reactions", texts=json_texts),
        "grouped_id": msg.grouped_id,
        "raw": _clean_json(msg.raw, column="raw", texts=json_texts),
        "content_hash": strip_nul_hash(msg),
        "deleted": msg.deleted,
        "first_seen_at": now,
        "updated_at": now,
    }


def _clean_json(value: Any, *, column: str, texts: dict[str, str]) -> Any:
    r"""Return ``value`` without NUL characters; put its JSON text in ``texts[column]``.

    ``json.dumps`` writes a NUL as ``\u0000``, so one serialisation tells
    whether the (slow) recursive :func:`strip_nul` is needed at all.
    """
    text = json.dumps(value)
    if "\\u0000" in text:
        value = strip_nul(value)
        text = json.dumps(value)
    texts[column] = text
    return value


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
    now = utcnow()
    by_id = {m.message_id: m for m in messages}
    json_texts: list[dict[str, str]] = [{} for _ in by_id]
    rows = [
        _row(channel_pk, m, now=now, json_texts=t) for m, t in zip(by_id.values(), json_texts, strict=True)
    ]
    if session.get_bind().dialect.name == "postgresql":
        from tg_parser.storage._message_copy import copy_upsert

        records = [
            tuple(t[name] if name in t else row[name] for name in _COLUMNS)
            for row, t in zip(rows, json_texts, strict=True)
        ]
        new, changed = copy_upsert(
            session, channel_pk=channel_pk, records=records, columns=_COLUMNS, compared=_COMPARED
        )
        return UpsertOutcome(new=new, changed=changed, unchanged=len(rows) - new - changed)
    return _executemany_upsert(session, channel_pk=channel_pk, rows=rows, now=now)


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
    """Return the content hash of ``msg`` as stored (after NUL stripping)."""
    if "\x00" in msg.text:
        return msg.model_copy(update={"text": msg.text.replace("\x00", "")}).content_hash()
    return msg.content_hash()


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
    return _changed(result)


def _row_to_message(row: MessageRow, *, telegram_id: int) -> Message:
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


def load_message(session: Session, *, message_pk: int) -> StoredMessage:
    """Return a stored post and its channel.

    Raises:
        NotFoundError: No such message.
    """
    row = session.get(MessageRow, message_pk)
    if row is None:
        msg = f"no message with primary key {message_pk}"
        raise NotFoundError(msg)
    channel = get_channel_by_pk(session, pk=row.channel_id)
    return StoredMessage(
        pk=row.id,
        channel=channel,
        message=_row_to_message(row, telegram_id=channel.telegram_id),
        content_hash=row.content_hash,
    )


def load_messages(session: Session, *, message_pks: Sequence[int]) -> dict[int, StoredMessage]:
    """Return stored posts with their channels in one query (batch :func:`load_message`).

    Args:
        session: An open session.
        message_pks: Primary keys of the posts.

    Returns:
        ``{message_pk: StoredMessage}``; a key with no message is left out.
    """
    if not message_pks:
        return {}
    rows = session.execute(select(MessageRow).where(MessageRow.id.in_(list(message_pks)))).scalars()
    channels: dict[int, ChannelRecord] = {}
    out: dict[int, StoredMessage] = {}
    for row in rows:
        channel = channels.get(row.channel_id)
        if channel is None:
            channel = channels[row.channel_id] = channel_store.get_channel_by_pk(session, pk=row.channel_id)
        out[row.id] = StoredMessage(
            pk=row.id,
            channel=channel,
            message=_row_to_message(row, telegram_id=channel.telegram_id),
            content_hash=row.content_hash,
        )
    return out


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
