"""The topics aggregate: a channel's topics and which posts belong to each.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return domain :class:`~tg_parser.domain.Topic` objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Text, case, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from tg_parser.domain import Topic
from tg_parser.storage._common import strip_nul
from tg_parser.storage.documents import plan_cursor_for_whole_result
from tg_parser.storage.tables import MessageRow, TopicMemberRow, TopicRow, utcnow
from tg_parser.storage.upsert import insert_for


def replace_topics(
    session: Session, *, channel_pk: int, topics: Sequence[Topic], pk_by_message_id: dict[int, int]
) -> None:
    """Replace the channel's topics and memberships with ``topics``.

    Topics are upserted by their deterministic key, so ids of unchanged topics
    survive; topics that no longer exist are removed. Posts whose topic id or
    label changes are stamped with a new change value (``storage.changes``).
    """
    from tg_parser.storage.changes import stamp_topic_changes, topic_assignments

    # Posts whose topic id or label changes get a new change value (their lines change; storage/changes.py).
    before = topic_assignments(session, channel_pk=channel_pk)
    after = {pk_by_message_id[m]: (t.topic_id, t.label) for t in topics for m in t.member_ids}
    stamp_topic_changes(session, channel_pk=channel_pk, before=before, after=after)
    keys = [t.topic_id for t in topics]
    member_pks = list(pk_by_message_id.values())
    for start in range(0, len(member_pks), 1000):
        chunk = member_pks[start : start + 1000]
        session.execute(delete(TopicMemberRow).where(TopicMemberRow.message_pk.in_(chunk)))
    session.execute(
        delete(TopicRow).where(TopicRow.channel_id == channel_pk, TopicRow.topic_key.not_in(keys or [""]))
    )
    for topic in topics:
        values = strip_nul(
            {
                "channel_id": channel_pk,
                "topic_key": topic.topic_id,
                "label": topic.label,
                "keywords": list(topic.keywords),
                "summary": topic.summary,
                "size": topic.size,
            }
        )
        stmt = insert_for(session, TopicRow).values(**values, updated_at=utcnow())
        # updated_at moves only when the topic changed (its members' lines carry it:
        # the incremental GET /documents?since= returns them again then, not after every topicize).
        stmt = stmt.on_conflict_do_update(
            index_elements=["topic_key"],
            set_={k: v for k, v in values.items() if k != "topic_key"} | {"updated_at": utcnow()},
            where=or_(
                TopicRow.label.is_distinct_from(stmt.excluded.label),
                TopicRow.size.is_distinct_from(stmt.excluded.size),
                TopicRow.summary.is_distinct_from(stmt.excluded.summary),
                TopicRow.channel_id.is_distinct_from(stmt.excluded.channel_id),
                cast(TopicRow.keywords, Text).is_distinct_from(cast(stmt.excluded.keywords, Text)),
            ),
        )
        session.execute(stmt)
        topic_pk = session.execute(
            select(TopicRow.id).where(TopicRow.topic_key == topic.topic_id)
        ).scalar_one()
        rows = [{"message_pk": pk_by_message_id[m], "topic_id": topic_pk} for m in topic.member_ids]
        if rows:
            session.execute(insert_for(session, TopicMemberRow), rows)


def list_topics(session: Session, *, channel_pk: int) -> list[Topic]:
    """Return the channel's stored topics with member message ids, by topic key."""
    topics = (
        session.execute(select(TopicRow).where(TopicRow.channel_id == channel_pk).order_by(TopicRow.id))
        .scalars()
        .all()
    )
    members: dict[int, list[int]] = {t.id: [] for t in topics}
    stmt = (
        select(TopicMemberRow.topic_id, MessageRow.message_id)
        .join(MessageRow, MessageRow.id == TopicMemberRow.message_pk)
        .where(MessageRow.channel_id == channel_pk)
    )
    for topic_pk, mid in session.execute(stmt):
        members.setdefault(topic_pk, []).append(int(mid))
    out = [
        Topic(
            topic_id=t.topic_key,
            label=t.label,
            keywords=list(t.keywords or []),
            summary=t.summary,
            member_ids=sorted(members.get(t.id, [])),
            fitted_at=t.fitted_at,
            fit=t.fit_kind,
        )
        for t in topics
    ]
    return sorted(out, key=lambda t: _topic_order(t.topic_id))


def _topic_order(topic_key: str) -> tuple[int, str]:
    tail = topic_key.rsplit("-", 1)[-1]
    return (int(tail), topic_key) if tail.isdigit() else (1 << 30, topic_key)


@dataclass(frozen=True)
class StoredTopic:
    """A stored topic without its members, with a lazy way to read them.

    Attributes:
        pk: The topic's primary key.
        topic_id: Its deterministic key (``<channel>:topic-<n>``).
        label: Its label.
        keywords: Its keywords, best first.
        summary: Its summary, or ``None``.
        size: Number of member posts stored for it.
        fitted_at: When its members last changed, or ``None`` (stored before fits were recorded).
        fit: How: ``full`` or ``incremental``, or ``None``.
    """

    pk: int
    topic_id: str
    label: str
    keywords: list[str]
    summary: str | None
    size: int
    fitted_at: datetime | None
    fit: str | None
    _members: _MemberStream = field(repr=False, compare=False)

    @property
    def member_ids(self) -> Iterator[int]:
        """The members' message ids, ascending, streamed while the session is open (read once)."""
        return self._members.member_ids(self.pk)


MEMBER_BATCH_ROWS = 10_000
"""Member ids fetched per round trip of the server-side cursor."""


class _MemberStream:
    """Every member of a channel's topics from one server-side cursor, handed out topic by topic.

    The topics are read in their listed order (as ``topics.json`` writes
    them), so one query sorted by (topic's place, message id) serves all of
    them: one sort in the database instead of one index walk per topic (40
    topics at 100k posts cost 1-4 s that way). A topic asked for out of that
    order, or twice, gets its own query.
    """

    def __init__(self, session: Session, *, channel_pk: int, topic_pks: list[int]) -> None:
        self._session = session
        self._channel_pk = channel_pk
        self._place = {pk: i for i, pk in enumerate(topic_pks)}
        self._rows: Iterator[tuple[int, int]] | None = None
        self._next: tuple[int, int] | None = None
        self._done = -1  # the place of the last topic handed out from the shared stream

    def _shared_rows(self) -> Iterator[tuple[int, int]]:
        place = case(self._place, value=TopicMemberRow.topic_id)
        stmt = (
            select(place, MessageRow.message_id)
            .join(TopicMemberRow, MessageRow.id == TopicMemberRow.message_pk)
            .where(TopicMemberRow.topic_id.in_(list(self._place)), MessageRow.channel_id == self._channel_pk)
            .order_by(place, MessageRow.message_id)
        )
        plan_cursor_for_whole_result(self._session)
        options = {"stream_results": True, "yield_per": MEMBER_BATCH_ROWS}
        for partition in self._session.connection().execute(stmt, execution_options=options).partitions():
            for topic_place, mid in partition:
                yield int(topic_place), int(mid)

    def member_ids(self, topic_pk: int) -> Iterator[int]:
        """Yield one topic's member message ids, ascending."""
        wanted = self._place.get(topic_pk)
        if wanted is None or wanted <= self._done:
            yield from iter_member_ids(self._session, channel_pk=self._channel_pk, topic_pk=topic_pk)
            return
        self._done = wanted
        if self._rows is None:
            self._rows = self._shared_rows()
            self._next = next(self._rows, None)
        while self._next is not None and self._next[0] < wanted:  # members of topics nobody asked for
            self._next = next(self._rows, None)
        while self._next is not None and self._next[0] == wanted:
            yield self._next[1]
            self._next = next(self._rows, None)


def list_topic_summaries(session: Session, *, channel_pk: int) -> list[StoredTopic]:
    """Return the channel's topics with their sizes but no member ids, in :func:`list_topics` order.

    Sizes count the same memberships :func:`list_topics` lists, so a
    streamed ``topics.json`` is identical to one built from it. Reading the
    topics' ``member_ids`` in the listed order streams all members through one
    query.

    Args:
        session: An open session.
        channel_pk: The channel's primary key.

    Returns:
        One :class:`StoredTopic` per topic (a channel has at most a few dozen).
    """
    sizes: dict[int, int] = {
        int(topic_pk): int(count)
        for topic_pk, count in session.execute(
            select(TopicMemberRow.topic_id, func.count())
            .join(MessageRow, MessageRow.id == TopicMemberRow.message_pk)
            .where(MessageRow.channel_id == channel_pk)
            .group_by(TopicMemberRow.topic_id)
        )
    }
    rows = session.execute(
        select(
            TopicRow.id,
            TopicRow.topic_key,
            TopicRow.label,
            TopicRow.keywords,
            TopicRow.summary,
            TopicRow.fitted_at,
            TopicRow.fit_kind,
        )
        .where(TopicRow.channel_id == channel_pk)
        .order_by(TopicRow.id)
    ).all()
    rows = sorted(rows, key=lambda r: _topic_order(r[1]))
    members = _MemberStream(session, channel_pk=channel_pk, topic_pks=[int(r[0]) for r in rows])
    return [
        StoredTopic(
            pk=pk,
            topic_id=key,
            label=label,
            keywords=list(kw or []),
            summary=summary,
            size=int(sizes.get(pk, 0)),
            fitted_at=fitted_at,
            fit=fit,
            _members=members,
        )
        for pk, key, label, kw, summary, fitted_at, fit in rows
    ]


def iter_member_ids(session: Session, *, channel_pk: int, topic_pk: int) -> Iterator[int]:
    """Yield the message ids of a topic's members, ascending, through a server-side cursor.

    Args:
        session: An open session.
        channel_pk: The channel's primary key.
        topic_pk: The topic's primary key (:attr:`StoredTopic.pk`).

    Yields:
        Message ids.
    """
    stmt = (
        select(MessageRow.message_id)
        .join(TopicMemberRow, MessageRow.id == TopicMemberRow.message_pk)
        .where(TopicMemberRow.topic_id == topic_pk, MessageRow.channel_id == channel_pk)
        .order_by(MessageRow.message_id)
    )
    plan_cursor_for_whole_result(session)
    options = {"stream_results": True, "yield_per": MEMBER_BATCH_ROWS}
    for partition in session.connection().execute(stmt, execution_options=options).scalars().partitions():
        for mid in partition:
            yield int(mid)
