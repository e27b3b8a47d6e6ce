"""Discussion comments of live channels (issue 13): storing them, processing them, exporting them.

``COMMENTS`` (:attr:`~tg_parser.config.Settings.comments`) decides:

* ``off``: comments are not read;
* ``separate`` (default): each comment is stored as a post of the linked
  discussion group, processed in its channel's run into its own document, and
  exported after the channel's posts in the channel's ``documents.ndjson``,
  with ``metadata.thread_of`` = the document id of the post it answers;
* ``fold``: comments are stored the same way but not processed; each post's
  exported ``text`` gets its thread appended under :data:`FOLD_SEPARATOR`
  (one ``author: text`` line per comment, oldest first) and
  ``metadata.comments`` counts them.

Both databases write the same bytes: comment lines and folded lines are built
by the Python line builder (``export.document_line``) on PostgreSQL too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import structlog

from tg_parser.config import Settings
from tg_parser.domain import permalink_base
from tg_parser.export import document_line
from tg_parser.processing.base import Processor
from tg_parser.services.sources import SourceBatch, TelegramSourceRef
from tg_parser.storage import Session, comments, documents, export_lines, messages
from tg_parser.storage.channels import ChannelRecord

log = structlog.get_logger(__name__)

FOLD_SEPARATOR = "\n\n--- comments ---\n"
"""What separates a post's text from its folded comments (``COMMENTS=fold``)."""


def store_comments(session: Session, *, channel_pk: int, batch: SourceBatch) -> int:
    """Store a batch's comments as posts of the discussion group, each linked to its post.

    Args:
        session: Open session (the caller commits with the batch's posts).
        channel_pk: The channel the comments answer.
        batch: A live batch; its ``comments`` carry ``thread_of``.

    Returns:
        How many comments were stored (0 when the batch has none, or the
        discussion group is unknown: then they are logged and left for the
        next sync, whose comment cursors have not moved).
    """
    if not batch.comments:
        return 0
    chat = batch.comments_chat
    if chat is None:
        log.warning("comments_without_chat", channel_pk=channel_pk, comments=len(batch.comments))
        return 0
    source = TelegramSourceRef(reference=str(chat.telegram_id)).to_json()
    group_pk = comments.upsert_discussion(session, channel_pk=channel_pk, chat=chat, source=source)
    messages.upsert_messages(session, channel_pk=group_pk, messages=batch.comments)
    return len(batch.comments)


def stale_comment_pks(
    session: Session, *, settings: Settings, channel_pk: int, processor: Processor
) -> list[int]:
    """Return the channel's comments that need a document (``COMMENTS=separate``), else ``[]``."""
    if settings.comments != "separate":
        return []
    group = comments.discussion_of(session, channel_pk=channel_pk)
    if group is None:
        return []
    return messages.stale_message_pks(
        session,
        channel_pk=group.pk,
        processor=processor.name,
        model=processor.model,
        prompt_version=processor.prompt_version,
    )


def channel_lines(session: Session, *, settings: Settings, channel: ChannelRecord) -> Iterable[str | bytes]:
    """Return the lines of a channel's ``documents.ndjson`` under ``COMMENTS``, streamed.

    Posts come first, by message id (on PostgreSQL rendered by ``COPY`` unless
    they are folded); with ``separate``, the comments' lines follow, by
    comment id.

    Args:
        session: Open session; consume the lines before it commits.
        settings: Settings (``COMMENTS``).
        channel: The channel.

    Returns:
        Lines (``str``) or chunks of whole lines (``bytes``, PostgreSQL).
    """
    group = comments.discussion_of(session, channel_pk=channel.pk) if settings.comments != "off" else None
    if group is not None and settings.comments == "fold":
        return _folded_lines(session, channel=channel, group=group)
    posts = _post_lines(session, channel=channel)
    if group is None:
        return posts
    return _chain(posts, _comment_lines(session, channel=channel, group=group))


def _post_lines(session: Session, *, channel: ChannelRecord) -> Iterable[str | bytes]:
    if export_lines.renders_lines(session):
        return export_lines.copy_document_lines(
            session,
            channel_pk=channel.pk,
            channel_key=channel.key,
            source_base=permalink_base(username=channel.username, channel_id=channel.telegram_id),
            telegram_id=channel.telegram_id,
        )
    key, username, telegram_id = channel.key, channel.username, channel.telegram_id
    rows = documents.iter_export_rows(session, channel_pk=channel.pk)
    return (document_line(row, channel_key=key, username=username, telegram_id=telegram_id) for row in rows)


def _comment_lines(session: Session, *, channel: ChannelRecord, group: ChannelRecord) -> Iterator[str]:
    """Lines of the group's comments that have a document, each naming the post it answers."""
    for row in documents.iter_export_rows(session, channel_pk=group.pk, comments_only=True):
        yield document_line(
            row,
            channel_key=group.key,
            username=group.username,
            telegram_id=group.telegram_id,
            thread_of=f"{channel.key}:{row.thread_of}",
        )


def _folded_lines(session: Session, *, channel: ChannelRecord, group: ChannelRecord) -> Iterator[str]:
    """Yield the channel's lines, each post's comments appended to its text (two sorted streams merged)."""
    thread = comments.iter_thread_comments(session, discussion_pk=group.pk)
    pending = next(thread, None)
    key, username, telegram_id = channel.key, channel.username, channel.telegram_id
    for row in documents.iter_export_rows(session, channel_pk=channel.pk):
        while pending is not None and pending.thread_of < row.message_id:
            pending = next(thread, None)  # a comment of a post without a document
        said: list[str] = []
        while pending is not None and pending.thread_of == row.message_id:
            said.append(f"{pending.author or 'anonymous'}: {pending.text}")
            pending = next(thread, None)
        text = row.text + FOLD_SEPARATOR + "\n".join(said) if said else row.text
        yield document_line(
            row._replace(text=text),
            channel_key=key,
            username=username,
            telegram_id=telegram_id,
            comments=len(said),
        )


def _chain(first: Iterable[str | bytes], second: Iterable[str]) -> Iterator[str | bytes]:
    yield from first
    yield from second
