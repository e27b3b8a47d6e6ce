"""The documents aggregate: one structured document per post, and the reads export and topicize need.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return dataclasses and domain objects, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tg_parser.domain import Document, Message
from tg_parser.storage._common import strip_nul
from tg_parser.storage.messages import _row_to_message
from tg_parser.storage.tables import DocumentRow, MessageRow, TopicMemberRow, TopicRow, utcnow
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


def upsert_document(session: Session, *, message_pk: int, channel_pk: int, document: Document) -> None:
    """Insert or replace the document of one message."""
    analysis = document.analysis
    values = strip_nul(
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
    now = utcnow()
    stmt = insert_for(session, DocumentRow).values(**values, created_at=now, updated_at=now)
    update_values = {k: v for k, v in values.items() if k != "message_pk"} | {"updated_at": now}
    session.execute(stmt.on_conflict_do_update(index_elements=["message_pk"], set_=update_values))


@dataclass(frozen=True)
class ExportRow:
    """A post joined with its document and topic, as the exporter needs it.

    Attributes:
        message: The post.
        language: ISO 639-1 code the processor detected, or ``None``.
        summary: The document's summary.
        keywords: The document's keywords.
        processor: ``offline`` or the provider name.
        model: The model (``offline`` for the offline processor).
        topic_key: The post's topic id, or ``None``.
        topic_label: That topic's label, or ``None``.
    """

    message: Message
    language: str | None
    summary: str
    keywords: list[str]
    processor: str
    model: str
    topic_key: str | None
    topic_label: str | None


def iter_export_rows(session: Session, *, channel_pk: int, telegram_id: int) -> Iterator[ExportRow]:
    """Yield non-deleted posts that have a document, by message id, with their topic.

    Rows stream from the database 1,000 at a time.
    """
    stmt = (
        select(MessageRow, DocumentRow, TopicRow.topic_key, TopicRow.label)
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .outerjoin(TopicMemberRow, TopicMemberRow.message_pk == MessageRow.id)
        .outerjoin(TopicRow, TopicRow.id == TopicMemberRow.topic_id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    for msg, doc, topic_key, label in session.execute(stmt).yield_per(1000):
        yield ExportRow(
            message=_row_to_message(msg, telegram_id=telegram_id),
            language=doc.language,
            summary=doc.summary,
            keywords=list(doc.keywords or []),
            processor=doc.processor,
            model=doc.model,
            topic_key=topic_key,
            topic_label=label,
        )


def topic_inputs(session: Session, *, channel_pk: int) -> list[tuple[int, int, str, list[str]]]:
    """Return ``(message_pk, message_id, clean_text, keywords)`` of the channel's live documents."""
    stmt = (
        select(MessageRow.id, MessageRow.message_id, DocumentRow.clean_text, DocumentRow.keywords)
        .join(DocumentRow, DocumentRow.message_pk == MessageRow.id)
        .where(MessageRow.channel_id == channel_pk, MessageRow.deleted.is_(False))
        .order_by(MessageRow.message_id)
    )
    return [(int(a), int(b), c, list(d or [])) for a, b, c, d in session.execute(stmt)]
