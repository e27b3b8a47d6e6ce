"""Read models of a channel's documents and topics: the lines of ``documents.ndjson``, ``topics.json``.

The export step and ``GET /channels/{key}/documents`` build their lines here,
with the export writer's line builder, so both give the same bytes for a post.
An incremental pull (``?since=<cursor>``) returns only the posts whose line may
have changed after the cursor's moment, and a new cursor.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tg_parser.errors import InputError
from tg_parser.export import document_line
from tg_parser.export.writer import write_topics_json
from tg_parser.storage import Session, channels, documents, session_scope, topics
from tg_parser.storage.channels import ChannelRecord

PAGE_ROWS = 2000
"""Rows read per transaction of a streamed pull (bounded memory whatever the channel size)."""

CURSOR_SAFETY_S = 120.0
"""How far behind the pull's start the next cursor is set, in seconds.

Row times are taken when a row is written, but a transaction commits later (an
ingest batch of 1,000 posts, a topicize of a large channel); a change written
before the pull started and committed after it would be skipped by a cursor at
the pull's start. Setting the cursor this far back makes the next pull return
such rows; the price is that a pull may repeat posts changed in the last two
minutes (lines carry deterministic ids, so a repeat overwrites, never duplicates).
"""

_CURSOR_PREFIX = "v1:"


def encode_cursor(moment: datetime) -> str:
    """Return the opaque cursor of a moment (URL-safe base64 of ``v1:<ISO time>``)."""
    raw = (_CURSOR_PREFIX + moment.astimezone(UTC).isoformat()).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> datetime:
    """Return the moment a cursor from :func:`encode_cursor` stands for.

    Raises:
        InputError: Not a cursor this server issued.
    """
    moment = None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith(_CURSOR_PREFIX):
            moment = datetime.fromisoformat(raw[len(_CURSOR_PREFIX) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        moment = None
    if moment is None or moment.tzinfo is None:
        msg = "not a cursor from a previous response's Documents-Cursor header"
        raise InputError(msg)
    return moment


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
    """Start a pull of a channel's documents: all of them, or those changed after ``since``.

    The channel is looked up now (so an unknown one fails before any line);
    the lines are read when iterated, :data:`PAGE_ROWS` per transaction, by
    message id, so memory stays bounded and no transaction stays open while a
    slow client reads.

    Args:
        database_url: The database.
        channel: Channel key.
        since: A cursor from an earlier pull, or ``None`` for every document.

    Returns:
        The pull; its ``next_cursor`` is at most the pull's start minus :data:`CURSOR_SAFETY_S`,
        and never before ``since``.

    Raises:
        NotFoundError: Unknown channel.
        InputError: ``since`` is no cursor.
    """
    changed_since = decode_cursor(since) if since else None
    with session_scope(database_url) as session:
        record = channels.get_channel(session, key=channel)
    start = datetime.now(UTC) - timedelta(seconds=CURSOR_SAFETY_S)
    next_moment = max(start, changed_since) if changed_since is not None else start
    return DocumentPull(
        channel=record.key,
        next_cursor=encode_cursor(next_moment),
        lines=_pages(database_url, record, changed_since),
    )


def _pages(database_url: str, record: ChannelRecord, changed_since: datetime | None) -> Iterator[str]:
    after: int | None = None
    while True:
        with session_scope(database_url) as session:
            page = list(
                document_lines(
                    session,
                    channel=record,
                    after_message_id=after,
                    limit=PAGE_ROWS,
                    changed_since=changed_since,
                )
            )
        for _, line in page:
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
