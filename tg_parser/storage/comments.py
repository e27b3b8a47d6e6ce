"""Discussion comments of channels (issue 13): the linked group's row, comment cursors, folded threads.

A channel's comments are messages of its linked discussion group. They are
stored as that group's posts (its own ``channels`` row, whose
``discussion_of`` names the channel) with ``messages.thread_of`` = the
channel post they answer. Keyword-only functions over a session (the caller
commits).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tg_parser.domain import ChatInfo, channel_key
from tg_parser.storage.channels import ChannelRecord, get_channel_by_pk, upsert_channel
from tg_parser.storage.tables import ChannelRow, MessageRow


def upsert_discussion(session: Session, *, channel_pk: int, chat: ChatInfo, source: str) -> int:
    """Register (or refresh) the discussion group holding a channel's comments; return its primary key.

    Args:
        session: Open session (the caller commits).
        channel_pk: The channel whose comments the group holds.
        chat: The group as Telegram describes it.
        source: The group's ``channels.source`` (a live reference, so it can also be read alone).

    Returns:
        The group's primary key; its ``discussion_of`` is ``channel_pk``.
    """
    key = channel_key(username=chat.username, telegram_id=chat.telegram_id)
    pk = upsert_channel(
        session,
        key=key,
        telegram_id=chat.telegram_id,
        username=chat.username,
        title=chat.title,
        chat_type=chat.chat_type,
        source_kind="telegram",
        source=source,
    )
    session.execute(update(ChannelRow).where(ChannelRow.id == pk).values(discussion_of=channel_pk))
    return pk


def discussion_of(session: Session, *, channel_pk: int) -> ChannelRecord | None:
    """Return the discussion group that holds the channel's comments, or ``None`` (none read yet)."""
    pk = session.execute(
        select(ChannelRow.id).where(ChannelRow.discussion_of == channel_pk).order_by(ChannelRow.id).limit(1)
    ).scalar_one_or_none()
    return get_channel_by_pk(session, pk=pk) if pk is not None else None


def comment_cursors(session: Session, *, channel_pk: int) -> dict[int, int]:
    """Return post id → highest comment id stored for it (the cursors of an incremental comment read)."""
    rows = session.execute(
        select(MessageRow.thread_of, func.max(MessageRow.message_id))
        .join(ChannelRow, ChannelRow.id == MessageRow.channel_id)
        .where(ChannelRow.discussion_of == channel_pk, MessageRow.thread_of.is_not(None))
        .group_by(MessageRow.thread_of)
    )
    return {int(post): int(last) for post, last in rows if post is not None and last is not None}


class CommentRow(NamedTuple):
    """One stored comment as a folded thread needs it."""

    thread_of: int
    message_id: int
    author: str | None
    text: str


def iter_thread_comments(session: Session, *, discussion_pk: int) -> Iterator[CommentRow]:
    """Yield a discussion group's non-deleted comments by post id, then comment id (streamed)."""
    stmt = (
        select(MessageRow.thread_of, MessageRow.message_id, MessageRow.author, MessageRow.text)
        .where(
            MessageRow.channel_id == discussion_pk,
            MessageRow.thread_of.is_not(None),
            MessageRow.deleted.is_(False),
        )
        .order_by(MessageRow.thread_of, MessageRow.message_id)
    )
    options = {"stream_results": True, "yield_per": 2000}
    for partition in session.connection().execute(stmt, execution_options=options).partitions():
        for row in partition:
            yield CommentRow._make(row)
