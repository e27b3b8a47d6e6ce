"""NDJSON/JSON export writers (format of ``docs/export-format.md``).

``documents.ndjson`` holds one JSON object per post that has text, loadable as
a LangChain ``Document`` (``page_content`` = ``text``) or a LlamaIndex
``Document`` (``id_`` = ``id``). Files are written to a temporary file in the
target folder, flushed, fsynced and renamed over the old one (``os.replace`` is
atomic on POSIX), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tg_parser.domain import Message, Topic, permalink

EXPORT_FORMAT_VERSION = 1


def iso_utc(value: datetime | None) -> str | None:
    """Format a time as ``2024-05-01T10:00:00Z`` (UTC, seconds), or ``None``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def document_id(channel_key: str, message_id: int) -> str:
    """Return the deterministic document id ``<channel_key>:<message_id>``."""
    return f"{channel_key}:{message_id}"


def document_record(
    *,
    channel_key: str,
    username: str | None,
    telegram_id: int,
    message: Message,
    language: str | None,
    summary: str,
    keywords: list[str],
    processor: str,
    model: str,
    topic_id: str | None,
    topic_label: str | None,
) -> dict[str, Any]:
    """Build one ``documents.ndjson`` object.

    Args:
        channel_key: The channel's key (first half of the id).
        username: Public username for the permalink, or ``None`` (``t.me/c/`` form).
        telegram_id: The export's chat id (``metadata.channel_id``).
        message: The post.
        language: ISO 639-1 code from processing.
        summary: Summary from processing.
        keywords: Keywords from processing.
        processor: ``offline`` or the provider name.
        model: The model (or offline rules version).
        topic_id: The post's topic id, or ``None``.
        topic_label: The post's topic label, or ``None``.

    Returns:
        A JSON-ready dict with ``id``, ``text`` and ``metadata``.
    """
    return {
        "id": document_id(channel_key, message.message_id),
        "text": message.text,
        "metadata": {
            "source": permalink(username=username, channel_id=telegram_id, message_id=message.message_id),
            "channel": channel_key,
            "channel_id": telegram_id,
            "message_id": message.message_id,
            "date": iso_utc(message.date),
            "edited": iso_utc(message.edited),
            "author": message.author,
            "reply_to": message.reply_to,
            "forwarded_from": message.forwarded_from,
            "media_type": message.media_type,
            "links": message.links(),
            "hashtags": message.hashtags(),
            "mentions": message.mentions(),
            "language": language,
            "summary": summary,
            "keywords": keywords,
            "topic_id": topic_id,
            "topic_label": topic_label,
            "processor": processor,
            "model": model,
        },
    }


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On error the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    documents_path: Path
    topics_path: Path
    documents: int
    topics: int


def write_channel_export(
    *,
    out_dir: Path,
    channel_key: str,
    title: str,
    records: Iterable[dict[str, Any]],
    topics: list[Topic],
) -> ExportResult:
    """Write ``documents.ndjson`` (streamed) and ``topics.json`` into ``out_dir``.

    Args:
        out_dir: The channel's export folder (created if missing).
        channel_key: The channel's key.
        title: The channel's title.
        records: Document objects from :func:`document_record`, in message-id order.
        topics: The channel's topics.
    """
    docs_path = out_dir / "documents.ndjson"
    count = 0
    with atomic_writer(docs_path) as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            count += 1
    topics_path = out_dir / "topics.json"
    payload = {
        "format_version": EXPORT_FORMAT_VERSION,
        "channel": channel_key,
        "title": title,
        "topics": [
            {
                "id": t.topic_id,
                "label": t.label,
                "keywords": t.keywords,
                "summary": t.summary,
                "size": t.size,
                "member_ids": [document_id(channel_key, m) for m in t.member_ids],
            }
            for t in topics
        ],
    }
    with atomic_writer(topics_path) as fh:
        json.dump(payload, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    return ExportResult(
        documents_path=docs_path, topics_path=topics_path, documents=count, topics=len(topics)
    )
