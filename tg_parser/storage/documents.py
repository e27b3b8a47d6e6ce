"""The documents aggregate: one structured document per post, and the reads export and topicize need.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return dataclasses and domain objects, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, or_, select, text
from sqlalchemy.orm import Session

from tg_parser.domain import Document
from tg_parser.storage._change_seq import next_change_seq
from tg_parser.storage._common import strip_nul
from tg_parser.storage.tables import DocumentRow, ForumTopicRow, MessageRow, TopicMemberRow, TopicRow, utcnow
from tg_parser.storage.upsert import insert_for


def has_current_document(
    session: Session, *, message_pk: int, content_hash: str, processor: str, model: str, prompt_version: str
) -> bool:
    """Return whether the post's document is current for this content, processor, model and prompt."""
    found = session.execute(
        select(DocumentRow.id).where(
            DocumentRow.message_pk == message_pk,
            DocumentRow.content_hash == content_hash,
            DocumentRow.processor == processor,
            DocumentRow.model == model,
            DocumentRow.prompt_version == prompt_version,
        )
    ).first()
    return found is not None


def current_document_pks(
    session: Session, *, content_hashes: Mapping[int, str], processor: str, model: str, prompt_version: str
) -> set[int]:
    """Return which posts of ``content_hashes`` have a current document (batch :func:`has_current_document`).

    Args:
        session: An open session.
        content_hashes: ``{message_pk: content_hash}`` of the posts to check.
        processor: Processor name.
        model: Model name.
        prompt_version: Prompt (or rules) version.

    Returns:
        The message keys whose document has this content hash, processor, model and prompt version.
    """
    if not content_hashes:
        return set()
    rows = session.execute(
        select(DocumentRow.message_pk, DocumentRow.content_hash).where(
            DocumentRow.message_pk.in_(list(content_hashes)),
            DocumentRow.processor == processor,
            DocumentRow.model == model,
            DocumentRow.prompt_version == prompt_version,
        )
    )
    return {int(pk) for pk, content_hash in rows if content_hashes.get(int(pk)) == content_hash}


def document_row(*, message_pk: int, channel_pk: int, document: Document) -> dict[str, Any]:
    """Return the ``documents`` columns of one post's document (no times), NUL characters stripped.

    ``keywords``, ``entities`` and ``output`` are JSON-ready lists and dicts.
    """
    analysis = document.analysis
    values: dict[str, Any] = strip_nul(
        {
            "message_pk": message_pk,
            "channel_id": channel_pk,
            "content_hash": document.content_hash,
            "processor": document.processor,
            "model": document.model,
            "prompt_version": document.prompt_version,
            "language": analysis.language,
            "summary": analysis.summary,
            "keywords": list(analysis.keywords),
            "entities": [e.model_dump(mode="json") for e in analysis.entities],
            "clean_text": document.clean_text,
            "output": analysis.model_dump(mode="json"),
        }
    )
    return values


def upsert_document(session: Session, *, message_pk: int, channel_pk: int, document: Document) -> None:
    """Insert or replace the document of one message, stamped with the channel's next change value."""
    values = document_row(message_pk=message_pk, channel_pk=channel_pk, document=document)
    # First statement of the write: the channel row's lock orders the commits (storage/changes.py).
    values["change_seq"] = next_change_seq(session, channel_pk=channel_pk)
    now = utcnow()
    stmt = insert_for(session, DocumentRow).values(**values, created_at=now, updated_at=now)
    update_values = {k: v for k, v in values.items() if k != "message_pk"} | {"updated_at": now}
    session.execute(stmt.on_conflict_do_update(index_elements=["message_pk"], set_=update_values))


class NewDocument(NamedTuple):
    """One document to write with :func:`upsert_documents`: the post, its channel and the document."""

    message_pk: int
    channel_pk: int
    document: Document


def upsert_documents(session: Session, *, documents: Sequence[NewDocument]) -> None:
    """Insert or replace the documents of several messages in one statement (batch :func:`upsert_document`).

    The rows are those :func:`upsert_document` writes, one per post (a
    replaced document keeps its ``created_at``; each channel's documents share
    one change value), sent as one multi-row
    ``INSERT … ON CONFLICT (message_pk) DO UPDATE`` (SQLAlchemy's
    "insertmanyvalues" batches them).

    Args:
        session: An open session.
        documents: The documents, at most one per ``message_pk``.
    """
    if not documents:
        return
    # One change value per channel of the batch, taken first (storage/changes.py).
    seqs = {pk: next_change_seq(session, channel_pk=pk) for pk in sorted({d.channel_pk for d in documents})}
    now = utcnow()
    rows = [
        document_row(message_pk=d.message_pk, channel_pk=d.channel_pk, document=d.document)
        | {"change_seq": seqs[d.channel_pk], "created_at": now, "updated_at": now}
        for d in documents
    ]
    stmt = insert_for(session, DocumentRow)
    update_columns = [c for c in rows[0] if c not in {"message_pk", "created_at"}]
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["message_pk"], set_={c: stmt.excluded[c] for c in update_columns}
        ),
        rows,
    )


class ExportRow(NamedTuple):
    """A post joined with its document and topic: the plain columns the exporter needs.

    A named tuple built straight from a Core row (no ORM entity, no pydantic
    model per post), so a channel of a million posts streams at database speed.

    Attributes:
        message_id: The post's message id.
        date: Send time, UTC.
        edited: Last edit time, UTC, or ``None``.
        text: The post text.
        entities: The post's entities as stored (``Entity`` JSON objects).
        author: Author signature, or ``None``.
        reply_to: Message id replied to, or ``None``.
        forwarded_from: Original sender of a forward, or ``None``.
        media_type: Media kind, or ``None``.
        language: ISO 639-1 code the processor detected, or ``None``.
        summary: The document's summary.
        keywords: The document's keywords (``None`` when never set).
        processor: ``offline`` or the provider name.
        model: The model (``offline`` for the offline processor).
        topic_key: The post's topic id, or ``None``.
        topic_label: That topic's label, or ``None``.
        media: The post's media metadata as stored (``Media.json_dict``), or ``None``.
        views: View count, or ``None``.
        forwards: Forward count, or ``None``.
        reactions: Reaction counts as stored (``[{"emoji", "count"}]``).
        forum_topic_id: The post's forum topic id, or ``None``.
        forum_topic_title: That forum topic's latest title, or ``None``.
        thread_of: For a comment, the channel post it answers, else ``None``.
        media_path: A live post's downloaded media file under ``MEDIA_DIR``, else ``None``.
    """

    message_id: int
    date: datetime
    edited: datetime | None
    text: str
    entities: list[dict[str, Any]] | None
    author: str | None
    reply_to: int | None
    forwarded_from: str | None
    media_type: str | None
    language: str | None
    summary: str
    keywords: list[str] | None
    processor: str
    model: str
    topic_key: str | None
    topic_label: str | None
    media: dict[str, Any] | None
    views: int | None
    forwards: int | None
    reactions: list[dict[str, Any]] | None
    forum_topic_id: int | None
    forum_topic_title: str | None
    thread_of: int | None
    media_path: str | None


def plan_cursor_for_whole_result(session: Session) -> None:
    """Tell PostgreSQL that a server-side cursor of this transaction will be read to the end.

    PostgreSQL plans a cursor to return its first 10% of rows fast
    (``cursor_tuple_fraction`` = 0.1, https://www.postgresql.org/docs/current/runtime-config-query.html);
    for a join sorted by message id that picks nested loops which made reading
    one topic's members 100x slower than the same query without a cursor.
    An export reads every row, so it asks for the plan with the best total
    time. Does nothing on other databases.

    Args:
        session: The session whose transaction runs the cursor.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))


EXPORT_BATCH_ROWS = 2000
"""Rows fetched per round trip of the server-side cursor (bounded memory whatever the channel size)."""


def iter_export_rows(
    session: Session,
    *,
    channel_pk: int,
    after_message_id: int | None = None,
    limit: int | None = None,
    changed_since: datetime | None = None,
    comments_only: bool = False,
) -> Iterator[ExportRow]:
    """Yield non-deleted posts that have a document, by message id, with their topic.

    Rows stream through a server-side cursor (``stream_results``, PostgreSQL)
    :data:`EXPORT_BATCH_ROWS` at a time, as Core rows.

    Args:
        session: An open session; the rows must be consumed before it commits.
        channel_pk: The channel's primary key.
        after_message_id: Only posts with a larger message id (keyset pages).
        limit: At most this many rows.
        changed_since: Only posts whose line may have changed after this time:
            the post, its document or its topic was written after it.
        comments_only: Only discussion comments (``thread_of`` set).

    Yields:
        One :class:`ExportRow` per post.
    """
    stmt = (
        select(*export_columns())
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .outerjoin(TopicMemberRow, TopicMemberRow.message_pk == MessageRow.id)
        .outerjoin(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    if after_message_id is not None:
        stmt = stmt.where(MessageRow.message_id > after_message_id)
    if comments_only:
        stmt = stmt.where(MessageRow.thread_of.is_not(None))
    if changed_since is not None:
        stmt = stmt.where(
            or_(
                MessageRow.updated_at > changed_since,
                DocumentRow.updated_at > changed_since,
                TopicRow.updated_at > changed_since,
                select(ForumTopicRow.id)
                .where(
                    ForumTopicRow.channel_id == MessageRow.channel_id,
                    ForumTopicRow.topic_id == MessageRow.forum_topic_id,
                    ForumTopicRow.updated_at > changed_since,
                )
                .exists(),
            )
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    plan_cursor_for_whole_result(session)
    make = ExportRow._make
    # Core execution on the session's connection: plain rows, no ORM loading per row.
    options = {"stream_results": True, "yield_per": EXPORT_BATCH_ROWS}
    for partition in session.connection().execute(stmt, execution_options=options).partitions():
        for row in partition:
            yield make(row)


def export_columns() -> tuple[Any, ...]:
    """Return the columns of an :class:`ExportRow`, in its field order (read by the export and by deltas)."""
    return (
        MessageRow.message_id,
        MessageRow.date,
        MessageRow.edited_at,
        MessageRow.text,
        MessageRow.entities,
        MessageRow.author,
        MessageRow.reply_to,
        MessageRow.forwarded_from,
        MessageRow.media_type,
        DocumentRow.language,
        DocumentRow.summary,
        DocumentRow.keywords,
        DocumentRow.processor,
        DocumentRow.model,
        TopicRow.topic_key,
        TopicRow.label,
        MessageRow.media,
        MessageRow.views,
        MessageRow.forwards,
        MessageRow.reactions,
        MessageRow.forum_topic_id,
        forum_topic_title(),
        MessageRow.thread_of,
        MessageRow.media_path,
    )


def forum_topic_title() -> Any:
    """Return the post's forum topic title as a correlated scalar subquery (``NULL`` outside forums)."""
    return (
        select(ForumTopicRow.title)
        .where(
            ForumTopicRow.channel_id == MessageRow.channel_id,
            ForumTopicRow.topic_id == MessageRow.forum_topic_id,
        )
        .correlate(MessageRow)
        .scalar_subquery()
    )


WANTED_IDS_PER_QUERY = 900
"""Message ids per ``IN (...)`` when topicize reads its fit sample (under SQLite's old 999-variable limit)."""


class TopicPosts:
    """The channel's live documents as a re-readable source for topicize (``topics.PostSource``).

    Ids are read once (two integers per post); texts stream in batches,
    through a server-side cursor, each time :meth:`batches` is called.
    """

    def __init__(self, session: Session, *, channel_pk: int) -> None:
        """Bind the source to an open session and a channel.

        Args:
            session: A session that stays open while the source is read.
            channel_pk: The channel's primary key.
        """
        self._session = session
        self._channel_pk = channel_pk
        self._ids: list[int] | None = None

    def _where(self) -> Select[int, str, list[str]]:
        return (
            select(MessageRow.message_id, DocumentRow.clean_text, DocumentRow.keywords)
            .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
            .where(MessageRow.channel_id == self._channel_pk, MessageRow.deleted.is_(False))
            .order_by(MessageRow.message_id)
        )

    def message_ids(self) -> list[int]:
        """Return the message ids of the channel's live documents, ascending."""
        if self._ids is None:
            stmt = (
                select(MessageRow.message_id)
                .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
                .where(MessageRow.channel_id == self._channel_pk, MessageRow.deleted.is_(False))
                .order_by(MessageRow.message_id)
            )
            self._ids = [int(mid) for mid in self._session.execute(stmt).scalars()]
        return self._ids

    def batches(
        self, *, wanted: Collection[int] | None, size: int
    ) -> Iterator[list[tuple[int, str, list[str]]]]:
        """Yield ``(message_id, clean_text, keywords)`` by message id, ``size`` at a time.

        With ``wanted``, only those rows are read: the ids go to the database
        :data:`WANTED_IDS_PER_QUERY` at a time, in ascending order.

        Args:
            wanted: Only these message ids, or ``None`` for all.
            size: Posts per batch.

        Yields:
            Batches of posts.
        """
        plan_cursor_for_whole_result(self._session)
        # Core execution on the session's connection: plain rows, no ORM loading per row.
        connection = self._session.connection()
        options = {"stream_results": True, "yield_per": size}
        if wanted is None:
            statements = [self._where()]
        else:
            ids = sorted(wanted)
            statements = [
                self._where().where(MessageRow.message_id.in_(ids[start : start + WANTED_IDS_PER_QUERY]))
                for start in range(0, len(ids), WANTED_IDS_PER_QUERY)
            ]
        batch: list[tuple[int, str, list[str]]] = []
        for stmt in statements:
            for partition in connection.execute(stmt, execution_options=options).partitions():
                batch.extend((int(mid), text_, list(keywords or [])) for mid, text_, keywords in partition)
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def message_pks(self) -> dict[int, int]:
        """Return ``{message_id: message_pk}`` of the channel's live documents."""
        stmt = (
            select(MessageRow.message_id, MessageRow.id)
            .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
            .where(MessageRow.channel_id == self._channel_pk, MessageRow.deleted.is_(False))
        )
        return {int(mid): int(pk) for mid, pk in self._session.execute(stmt)}


def topic_inputs(session: Session, *, channel_pk: int) -> list[tuple[int, int, str, list[str]]]:
    """Return ``(message_pk, message_id, clean_text, keywords)`` of the channel's live documents."""
    stmt = (
        select(MessageRow.id, MessageRow.message_id, DocumentRow.clean_text, DocumentRow.keywords)
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    return [(int(a), int(b), c, list(d or [])) for a, b, c, d in session.execute(stmt)]
