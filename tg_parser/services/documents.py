"""Read models of a channel's documents and topics: the lines of ``documents.ndjson``, ``topics.json``.

The export step and ``GET /channels/{key}/documents`` build their lines here,
with the export writer's line builder, so both give the same bytes for a post.
An incremental pull (``?since=<cursor>``) returns the delta lines
(``services.deltas``) of the posts changed or deleted after the cursor, each
once, and a new cursor.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from tg_parser.errors import InputError
from tg_parser.export import document_line
from tg_parser.export.writer import write_topics_json
from tg_parser.services import deltas
from tg_parser.storage import Session, changes, channels, documents, session_scope, topics
from tg_parser.storage.channels import ChannelRecord

PAGE_ROWS = 2000
"""Rows read per transaction of a streamed pull (bounded memory whatever the channel size)."""

_V1_PREFIX = "v1:"


def decode_cursor(session: Session, *, channel: ChannelRecord, cursor: str) -> int:
    """Return the change value a ``Documents-Cursor`` stands for.

    Current cursors (``services.deltas.encode_cursor``) carry it. A cursor of
    the earlier, time-based form (``v1:<ISO time>``) is mapped to the cursor of
    the channel's last run that finished by that time (``services.deltas.resolve_since``).

    Raises:
        InputError: Not a cursor this server issued.
    """
    seq = deltas.decode_cursor(cursor)
    if seq is not None:
        return seq
    moment = None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(_V1_PREFIX):
            moment = datetime.fromisoformat(raw[len(_V1_PREFIX) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        moment = None
    if moment is None or moment.tzinfo is None:
        msg = "not a cursor from a previous response's Documents-Cursor header"
        raise InputError(msg)
    return changes.cursor_at(session, channel_pk=channel.pk, moment=moment)


def document_lines(
    session: Session,
    *,
    channel: ChannelRecord,
    after_message_id: int | None = None,
    limit: int | None = None,
    changed_since: datetime | None = None,
) -> Iterator[tuple[int, str]]:
    """Yield ``(message_id, line)`` of a channel's ``documents.ndjson``, by message id, from an open session.

    Args:
        session: Open session; consume the lines before it commits.
        channel: The channel.
        after_message_id: Only posts after this message id.
        limit: At most this many posts.
        changed_since: Only posts whose line may have changed after this moment.

    Yields:
        The message id and line (with its newline) of each post that has a document.
    """
    rows = documents.iter_export_rows(
        session,
        channel_pk=channel.pk,
        after_message_id=after_message_id,
        limit=limit,
        changed_since=changed_since,
    )
    key, username, telegram_id = channel.key, channel.username, channel.telegram_id
    for row in rows:
        yield row.message_id, document_line(row, channel_key=key, username=username, telegram_id=telegram_id)


@dataclass(frozen=True)
class DocumentPull:
    """A pull of a channel's documents.

    Attributes:
        channel: The channel key.
        next_cursor: The cursor to send as ``since`` next time.
        lines: The lines, read page by page when iterated (each page in its own transaction).
    """

    channel: str
    next_cursor: str
    lines: Iterator[str]


def pull_documents(*, database_url: str, channel: str, since: str | None = None) -> DocumentPull:
    """Start a pull of a channel's documents: all of them, or the delta after ``since``.

    The channel and its change counter are read now (so an unknown channel
    fails before any line); the lines are read when iterated, :data:`PAGE_ROWS`
    per transaction, by message id, so memory stays bounded and no transaction
    stays open while a slow client reads.

    Without ``since`` the lines are those of ``documents.ndjson``; with it,
    the delta lines of ``services.deltas`` (upserts and deletions) of every post
    changed after the cursor and up to the counter read now, each once. The
    next cursor is that counter: the next pull starts exactly where this one
    ended (a change committed while a full pull reads may come in both).

    Args:
        database_url: The database.
        channel: Channel key.
        since: A cursor from an earlier pull, or ``None`` for every document.

    Returns:
        The pull.

    Raises:
        NotFoundError: Unknown channel.
        InputError: ``since`` is no cursor.
    """
    with session_scope(database_url) as session:
        record = channels.get_channel(session, key=channel)
        upto = changes.current_change_seq(session, channel_pk=record.pk)
        after = None if not since else decode_cursor(session, channel=record, cursor=since)
    lines = (
        channel_lines(database_url=database_url, channel=record.key)
        if after is None
        else _delta_pages(database_url, record, after, upto)
    )
    return DocumentPull(channel=record.key, next_cursor=deltas.encode_cursor(upto), lines=lines)


def channel_lines(*, database_url: str, channel: str) -> Iterator[str]:
    """Yield every ``documents.ndjson`` line of a channel, :data:`PAGE_ROWS` per transaction.

    Raises:
        NotFoundError: Unknown channel (when iteration starts).
    """
    with session_scope(database_url) as session:
        record = channels.get_channel(session, key=channel)
    after: int | None = None
    while True:
        with session_scope(database_url) as session:
            page = list(document_lines(session, channel=record, after_message_id=after, limit=PAGE_ROWS))
        for _, line in page:
            yield line
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][0]


def _delta_pages(database_url: str, record: ChannelRecord, after_seq: int, upto_seq: int) -> Iterator[str]:
    after: int | None = None
    while True:
        with session_scope(database_url) as session:
            page = list(
                deltas.delta_lines(
                    session,
                    channel=record,
                    after_seq=after_seq,
                    upto_seq=upto_seq,
                    after_message_id=after,
                    limit=PAGE_ROWS,
                )
            )
        for _, line, _deleted in page:
            yield line
        if len(page) < PAGE_ROWS:
            return
        after = page[-1][0]


def topics_json(*, database_url: str, channel: str) -> str:
    """Return the channel's ``topics.json`` as the export writes it.

    Raises:
        NotFoundError: Unknown channel.
    """
    buffer = io.StringIO()
    with session_scope(database_url) as session:
        record = channels.get_channel(session, key=channel)
        stored = topics.list_topic_summaries(session, channel_pk=record.pk)
        write_topics_json(buffer, channel_key=record.key, title=record.title, topics=stored)
    return buffer.getvalue()
