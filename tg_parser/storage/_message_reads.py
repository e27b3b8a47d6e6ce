"""Reads of the messages aggregate: stored posts with their channels, posts due for processing.

Private to :mod:`tg_parser.storage.messages`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, false, func, select
from sqlalchemy.orm import Session

from tg_parser.domain import Entity, ForumTopic, Media, Message, Reaction
from tg_parser.errors import NotFoundError
from tg_parser.storage.channels import ChannelRecord, channel_record, get_channel_by_pk
from tg_parser.storage.tables import ChannelRow, DocumentRow, MessageRow


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
        forwards=row.forwards,
        media=Media.model_validate(row.media) if row.media else None,
        # The title lives in forum_topics (storage.forum_topics); processing does not read it.
        forum_topic=ForumTopic(id=row.forum_topic_id) if row.forum_topic_id is not None else None,
        thread_of=row.thread_of,
        deleted=row.deleted,
        raw=row.raw,
    )


def load_message(session: Session, *, message_pk: int) -> StoredMessage:
    """Return a stored post and its channel (one query).

    Raises:
        NotFoundError: No such message.
    """
    return load_message_to_process(session, message_pk=message_pk, processed_by=None).stored


@dataclass(frozen=True)
class MessageToProcess:
    """A stored post and whether its document is already current.

    Attributes:
        stored: The post and its channel.
        current: Whether its document matches its content, processor, model
            and prompt version (always ``False`` when no processor was asked about).
    """

    stored: StoredMessage
    current: bool


def load_message_to_process(
    session: Session, *, message_pk: int, processed_by: tuple[str, str, str] | None
) -> MessageToProcess:
    """Return a stored post, its channel and whether its document is current, in one query.

    Args:
        session: An open session.
        message_pk: The post's primary key.
        processed_by: ``(processor, model, prompt_version)`` to test the
            document against, or ``None`` not to test.

    Returns:
        The post and whether its document is current (see :func:`stale_message_pks`).

    Raises:
        NotFoundError: No such message.
    """
    current: Any = false()
    if processed_by is not None:
        processor, model, prompt_version = processed_by
        current = exists().where(
            DocumentRow.message_pk == MessageRow.id,
            DocumentRow.content_hash == MessageRow.content_hash,
            DocumentRow.processor == processor,
            DocumentRow.model == model,
            DocumentRow.prompt_version == prompt_version,
        )
    found = session.execute(
        select(MessageRow, ChannelRow, current.label("current"))
        .join(ChannelRow, ChannelRow.id == MessageRow.channel_id)
        .where(MessageRow.id == message_pk)
    ).first()
    if found is None:
        msg = f"no message with primary key {message_pk}"
        raise NotFoundError(msg)
    row, channel_row, is_current = found
    channel = channel_record(channel_row)
    stored = StoredMessage(
        pk=row.id,
        channel=channel,
        message=_row_to_message(row, telegram_id=channel.telegram_id),
        content_hash=row.content_hash,
    )
    return MessageToProcess(stored=stored, current=bool(is_current))


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
            channel = channels[row.channel_id] = get_channel_by_pk(session, pk=row.channel_id)
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
