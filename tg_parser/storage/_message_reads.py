"""Reads of the messages aggregate: stored posts with their channels, posts due for processing.

Private to :mod:`tg_parser.storage.messages`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, false, func, select
from sqlalchemy.orm import Session

from tg_parser.domain import Entity, ForumTopic, Media, Message, Reaction
from tg_parser.errors import NotFoundError
from tg_parser.storage._psycopg import autocommit_connection
from tg_parser.storage.channels import ChannelRecord, channel_record, get_channel_by_pk
from tg_parser.storage.session import get_engine, session_scope
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

    The query is one SQLAlchemy Core statement built once per process
    (:func:`_to_process_statement`, its values bound per call) and run on the
    session's connection: no ORM entities are loaded, so a post costs one
    round trip and little Python (this runs once per post on every worker).

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
    params = _to_process_params(message_pk, processed_by)
    found = session.connection().execute(_to_process_statement(processed_by is not None), params).first()
    return _to_process_result(message_pk, None if found is None else tuple(found))


def read_message_to_process(
    database_url: str, *, message_pk: int, processed_by: tuple[str, str, str] | None
) -> MessageToProcess:
    """:func:`load_message_to_process` in its own read, with as little client work as it can.

    On PostgreSQL the statement of :func:`load_message_to_process`, rendered
    once per process, runs on a pooled psycopg connection in autocommit: one
    round trip, no session, no transaction to end, no SQLAlchemy result. This
    is the read of every post's process step on every worker. Elsewhere
    (SQLite) it runs in a read-only session.

    Args:
        database_url: The database.
        message_pk: The post's primary key.
        processed_by: ``(processor, model, prompt_version)`` to test the
            document against, or ``None`` not to test.

    Returns:
        The post and whether its document is current; timestamps are in UTC,
        as the ORM's ``UTCDateTime`` gives them.

    Raises:
        NotFoundError: No such message.
        RetryableError: The database connection was lost or refused (PostgreSQL).
    """
    if not database_url.startswith("postgresql"):
        with session_scope(database_url, read_only=True) as session:
            return load_message_to_process(session, message_pk=message_pk, processed_by=processed_by)
    query = _rendered_to_process(database_url, processed_by is not None)
    with autocommit_connection(database_url) as conn:
        found = conn.execute(query, _to_process_params(message_pk, processed_by)).fetchone()
    utc = None if found is None else tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in found)
    return _to_process_result(message_pk, utc)


def _to_process_params(message_pk: int, processed_by: tuple[str, str, str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"message_pk": message_pk}
    if processed_by is not None:
        params["processor"], params["model"], params["prompt_version"] = processed_by
    return params


def _to_process_result(message_pk: int, values: tuple[Any, ...] | None) -> MessageToProcess:
    """Build the result of :func:`load_message_to_process` from the values of its row.

    Raises:
        NotFoundError: No row (``values`` is ``None``).
    """
    if values is None:
        msg = f"no message with primary key {message_pk}"
        raise NotFoundError(msg)
    row = _Columns(zip(_MESSAGE_KEYS, values[: len(_MESSAGE_KEYS)], strict=True))
    channel = channel_record(
        _Columns(zip(_CHANNEL_KEYS, values[len(_MESSAGE_KEYS) : -1], strict=True))  # type: ignore[arg-type]
    )
    stored = StoredMessage(
        pk=row["id"],
        channel=channel,
        message=_row_to_message(row, telegram_id=channel.telegram_id),  # type: ignore[arg-type]
        content_hash=row["content_hash"],
    )
    return MessageToProcess(stored=stored, current=bool(values[-1]))


@lru_cache(maxsize=4)
def _rendered_to_process(database_url: str, test_current: bool) -> bytes:  # noqa: FBT001
    """Render :func:`_to_process_statement` for psycopg (``%(name)s`` parameters), as bytes.

    Rendered once per process and database, so psycopg sees the same bytes on
    every call and prepares the statement server-side after a few
    (``prepare_threshold``, https://www.psycopg.org/psycopg3/docs/advanced/prepare.html).
    """
    dialect = get_engine(database_url).dialect
    return str(_to_process_statement(test_current).compile(dialect=dialect)).encode()


class _Columns(dict[str, Any]):
    """A row's values by column name, read as attributes (what the ORM rows offer)."""

    __getattr__ = dict.__getitem__


_MESSAGE_KEYS = tuple(c.key for c in MessageRow.__table__.columns)
_CHANNEL_KEYS = tuple(c.key for c in ChannelRow.__table__.columns)


@lru_cache(maxsize=2)
def _to_process_statement(test_current: bool) -> Select[Any]:  # noqa: FBT001
    """Return the statement of :func:`load_message_to_process`.

    It selects every column of the post, then of its channel, then whether
    its document is current (``false`` when ``test_current`` is not set).

    Bound parameters: ``message_pk``, and with ``test_current`` ``processor``,
    ``model`` and ``prompt_version``. Built once per process, so SQLAlchemy's
    compiled cache serves every call.
    """
    current: Any = false()
    if test_current:
        current = exists().where(
            DocumentRow.message_pk == MessageRow.id,
            DocumentRow.content_hash == MessageRow.content_hash,
            DocumentRow.processor == bindparam("processor"),
            DocumentRow.model == bindparam("model"),
            DocumentRow.prompt_version == bindparam("prompt_version"),
        )
    messages_table, channels_table = MessageRow.__table__, ChannelRow.__table__
    return (
        select(
            *(c.label(f"m_{c.key}") for c in messages_table.columns),
            *(c.label(f"c_{c.key}") for c in channels_table.columns),
            current.label("current"),
        )
        .join_from(messages_table, channels_table, channels_table.c.id == messages_table.c.channel_id)
        .where(messages_table.c.id == bindparam("message_pk"))
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
