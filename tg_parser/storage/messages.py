"""The messages aggregate: posts as read from their source, their versions and deletions.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits). A changed post keeps its previous version in ``message_versions``;
a re-import of identical posts writes no row. Reads return domain
:class:`~tg_parser.domain.Message` objects, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import Entity, Message, Reaction
from tg_parser.errors import NotFoundError
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


def message_ids(session: Session, *, message_pks: Sequence[int]) -> dict[int, int]:
    """Return ``{message_pk: telegram message id}`` for the given keys (unknown keys are left out)."""
    stmt = select(MessageRow.id, MessageRow.message_id).where(MessageRow.id.in_(list(message_pks)))
    return {int(pk): int(mid) for pk, mid in session.execute(stmt)}


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
