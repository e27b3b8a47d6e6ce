"""Forum topics of a channel (issue 13): topic id → latest title, joined into export lines.

A post stores only its topic's id (``messages.forum_topic_id``); the title
lives here once per topic, so a rename seen later changes every post's line
of that topic without rewriting the posts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tg_parser.domain import Message
from tg_parser.domain.post_fields import PostFields
from tg_parser.storage.tables import ForumTopicRow, utcnow
from tg_parser.storage.upsert import insert_for


def topics_named(messages: Iterable[Message | PostFields]) -> tuple[tuple[int, str | None], ...]:
    """Return the forum topics ``messages`` name with a title: ``(topic id, title)``, the last title of each.

    Args:
        messages: Posts in source order (a later post carries the later title).

    Returns:
        One pair per topic, in first-seen order; empty when no post is in a titled topic.
    """
    titles: dict[int, str | None] = {}
    for msg in messages:
        topic = msg.forum_topic
        if topic is not None and topic.title is not None:
            titles[topic.id] = topic.title.replace("\x00", "")
    return tuple(titles.items())


def upsert_forum_topics(
    session: Session, *, channel_pk: int, topics: Sequence[tuple[int, str | None]]
) -> None:
    """Store or rename the channel's forum topics; an unchanged title writes nothing.

    Args:
        session: Open session (the caller commits).
        channel_pk: The channel's primary key.
        topics: ``(topic id, title)`` pairs, unique by topic id.
    """
    if not topics:
        return
    now = utcnow()
    stmt = insert_for(session, ForumTopicRow).values(
        [
            {"channel_id": channel_pk, "topic_id": tid, "title": title, "updated_at": now}
            for tid, title in topics
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel_id", "topic_id"],
        set_={"title": stmt.excluded.title, "updated_at": stmt.excluded.updated_at},
        where=ForumTopicRow.title.is_distinct_from(stmt.excluded.title),
    )
    session.execute(stmt)


def forum_topic_titles(session: Session, *, channel_pk: int) -> dict[int, str | None]:
    """Return the channel's forum topics: topic id → title (empty outside forums)."""
    rows = session.execute(
        select(ForumTopicRow.topic_id, ForumTopicRow.title).where(ForumTopicRow.channel_id == channel_pk)
    )
    return {int(tid): title for tid, title in rows}
