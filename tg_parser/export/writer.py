"""NDJSON/JSON export writers (format of ``docs/export-format.md``).

``documents.ndjson`` holds one JSON object per post that has text, loadable as
a LangChain ``Document`` (``page_content`` = ``text``) or a LlamaIndex
``Document`` (``id_`` = ``id``). Files are written to a temporary file in the
target folder, flushed, fsynced and renamed over the old one (``os.replace`` is
atomic on POSIX), so a reader never sees half a file.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from tg_parser.domain import Message, permalink
from tg_parser.domain.export_keys import EXCLUDED_EMBED_METADATA_KEYS, EXCLUDED_LLM_METADATA_KEYS
from tg_parser.export.depth import depth_fields

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
        A JSON-ready dict with ``id``, ``id_``, ``text``, ``metadata`` and the
        LlamaIndex metadata exclusions.
    """
    doc_id = document_id(channel_key, message.message_id)
    return {
        "id": doc_id,
        "id_": doc_id,
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
            "media": message.media.json_dict() if message.media is not None else None,
            "views": message.views,
            "forwards": message.forwards,
            "reactions": {r.emoji: r.count for r in message.reactions},
            "forum_topic": (
                {"id": message.forum_topic.id, "title": message.forum_topic.title}
                if message.forum_topic is not None
                else None
            ),
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
        "excluded_embed_metadata_keys": EXCLUDED_EMBED_METADATA_KEYS,
        "excluded_llm_metadata_keys": EXCLUDED_LLM_METADATA_KEYS,
    }


_ENTITY_LINK = "link"
_ENTITY_TEXT_LINK = "text_link"
_ENTITY_HASHTAG = "hashtag"
_ENTITY_MENTIONS = frozenset({"mention", "mention_name"})


def entity_lists(entities: Iterable[Mapping[str, Any]] | None) -> tuple[list[str], list[str], list[str]]:
    """Return ``(links, hashtags, mentions)`` of stored entity objects in one pass.

    The same rules as :meth:`Message.links`, :meth:`Message.hashtags` and
    :meth:`Message.mentions` (``tests/unit/test_export_stream.py`` checks they
    agree), applied to the JSON form the database holds, so an export needs no
    pydantic model per post.

    Args:
        entities: Entity objects as stored (``type``, ``text``, optional ``url``).

    Returns:
        Links (a ``text_link`` gives its ``url``, a ``link`` its ``url`` or text),
        hashtags and mentions, each in order and without duplicates.
    """
    links: list[str] = []
    hashtags: list[str] = []
    mentions: list[str] = []
    for ent in entities or ():
        kind = ent.get("type")
        if kind == _ENTITY_TEXT_LINK:
            url = ent.get("url")
            if url and url not in links:
                links.append(url)
        elif kind == _ENTITY_LINK:
            url = ent.get("url") or ent.get("text")
            if url and url not in links:
                links.append(url)
        elif kind == _ENTITY_HASHTAG:
            tag = ent.get("text")
            if tag and tag not in hashtags:
                hashtags.append(tag)
        elif kind in _ENTITY_MENTIONS:
            name = ent.get("text")
            if name and name not in mentions:
                mentions.append(name)
    return links, hashtags, mentions


class ExportFields(Protocol):
    """The plain columns of one post the exporter reads (``storage.documents.ExportRow`` has them)."""

    @property
    def message_id(self) -> int: ...  # noqa: D102 - described by the class
    @property
    def date(self) -> datetime: ...  # noqa: D102
    @property
    def edited(self) -> datetime | None: ...  # noqa: D102
    @property
    def text(self) -> str: ...  # noqa: D102
    @property
    def entities(self) -> list[dict[str, Any]] | None: ...  # noqa: D102
    @property
    def author(self) -> str | None: ...  # noqa: D102
    @property
    def reply_to(self) -> int | None: ...  # noqa: D102
    @property
    def forwarded_from(self) -> str | None: ...  # noqa: D102
    @property
    def media_type(self) -> str | None: ...  # noqa: D102
    @property
    def media(self) -> dict[str, Any] | None: ...  # noqa: D102
    @property
    def views(self) -> int | None: ...  # noqa: D102
    @property
    def forwards(self) -> int | None: ...  # noqa: D102
    @property
    def reactions(self) -> list[dict[str, Any]] | None: ...  # noqa: D102
    @property
    def forum_topic_id(self) -> int | None: ...  # noqa: D102
    @property
    def forum_topic_title(self) -> str | None: ...  # noqa: D102
    @property
    def language(self) -> str | None: ...  # noqa: D102
    @property
    def summary(self) -> str: ...  # noqa: D102
    @property
    def keywords(self) -> list[str] | None: ...  # noqa: D102
    @property
    def processor(self) -> str: ...  # noqa: D102
    @property
    def model(self) -> str: ...  # noqa: D102
    @property
    def topic_key(self) -> str | None: ...  # noqa: D102
    @property
    def topic_label(self) -> str | None: ...  # noqa: D102


# One encoder for every line: ``json.dumps`` with keyword arguments builds a
# new ``JSONEncoder`` per call; ``encode`` of a prepared one runs the C encoder
# directly and gives the same bytes.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_VALUE_ENCODER = json.JSONEncoder(ensure_ascii=False)


def document_line(
    row: ExportFields,
    *,
    channel_key: str,
    username: str | None,
    telegram_id: int,
    thread_of: str | None = None,
    comments: int | None = None,
) -> str:
    """Return one ``documents.ndjson`` line (with its newline) from plain columns.

    Byte for byte what :func:`document_record` gives for the same post, encoded
    compactly with ``ensure_ascii=False``.

    Args:
        row: The post's columns.
        channel_key: The channel's key (first half of the id).
        username: Public username for the permalink, or ``None`` (``t.me/c/`` form).
        telegram_id: The export's chat id (``metadata.channel_id``).
        thread_of: For a comment: the document id of the post it answers,
            written last as ``metadata.thread_of`` (``COMMENTS=separate``).
        comments: For a post whose thread is folded into its text: how many
            comments, written last as ``metadata.comments`` (``COMMENTS=fold``).

    Returns:
        A JSON object followed by a newline.
    """
    links, hashtags, mentions = entity_lists(row.entities)
    message_id = row.message_id
    doc_id = f"{channel_key}:{message_id}"
    record = {
        "id": doc_id,
        "id_": doc_id,
        "text": row.text,
        "metadata": {
            "source": permalink(username=username, channel_id=telegram_id, message_id=message_id),
            "channel": channel_key,
            "channel_id": telegram_id,
            "message_id": message_id,
            "date": iso_utc(row.date),
            "edited": iso_utc(row.edited),
            "author": row.author,
            "reply_to": row.reply_to,
            "forwarded_from": row.forwarded_from,
            "media_type": row.media_type,
            **depth_fields(row),
            "links": links,
            "hashtags": hashtags,
            "mentions": mentions,
            "language": row.language,
            "summary": row.summary,
            "keywords": list(row.keywords or []),
            "topic_id": row.topic_key,
            "topic_label": row.topic_label,
            "processor": row.processor,
            "model": row.model,
        },
        "excluded_embed_metadata_keys": EXCLUDED_EMBED_METADATA_KEYS,
        "excluded_llm_metadata_keys": EXCLUDED_LLM_METADATA_KEYS,
    }
    metadata: dict[str, Any] = record["metadata"]  # type: ignore[assignment]
    if thread_of is not None:
        metadata["thread_of"] = thread_of
    if comments is not None:
        metadata["comments"] = comments
    return _LINE_ENCODER.encode(record) + "\n"


_TMP_ATTEMPTS = 100


def _open_temporary(path: Path) -> tuple[int, Path]:
    """Create a new temporary file beside ``path`` with the umask's permissions (``0o666 & ~umask``)."""
    for _ in range(_TMP_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return fd, tmp
    msg = f"no free temporary name beside {path}"
    raise FileExistsError(msg)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported here (e.g. Windows): the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_binary_writer(path: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path`` for bytes; on success rename it over ``path``.

    The file is flushed and fsynced before the rename (``os.replace`` is atomic
    on POSIX) and the folder after it. Its mode is what the umask gives a new
    file (``0o666 & ~umask``, e.g. ``0644`` under ``022``), as for any file the
    user creates; ``tempfile.mkstemp`` would force ``0600``. On error the
    temporary file is removed and ``path`` is left as it was.

    Args:
        path: The file to (re)place.

    Yields:
        A binary handle with a :data:`WRITE_BUFFER_BYTES` buffer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temporary(path)
    try:
        with os.fdopen(fd, "wb", buffering=WRITE_BUFFER_BYTES) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@contextmanager
def atomic_writer(path: Path) -> Iterator[IO[str]]:
    """Open ``path`` for text through :func:`atomic_binary_writer` (same atomicity and mode).

    Args:
        path: The file to (re)place.

    Yields:
        A text handle (UTF-8, LF newlines) over the binary one.
    """
    with atomic_binary_writer(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n", write_through=True)
        try:
            yield text
            text.flush()
        finally:
            text.detach()


WRITE_BUFFER_BYTES = 1 << 20
"""Buffer of the export files: few system calls for a multi-gigabyte export."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote; ``delta_cursor`` and ``delta``: ``services.pipeline.export_channel``."""

    documents_path: Path
    topics_path: Path
    documents: int
    topics: int
    delta_cursor: int | None = None
    delta: Any = None


class ExportTopic(Protocol):
    """A topic as ``topics.json`` lists it; ``member_ids`` may be a lazy iterable (``domain.Topic`` fits)."""

    @property
    def topic_id(self) -> str: ...  # noqa: D102 - described by the class
    @property
    def label(self) -> str: ...  # noqa: D102
    @property
    def keywords(self) -> list[str]: ...  # noqa: D102
    @property
    def summary(self) -> str | None: ...  # noqa: D102
    @property
    def size(self) -> int: ...  # noqa: D102
    @property
    def fitted_at(self) -> datetime | None: ...  # noqa: D102
    @property
    def fit(self) -> str | None: ...  # noqa: D102
    @property
    def member_ids(self) -> Iterable[int]: ...  # noqa: D102


_LINE_BATCH = 1000


def write_channel_export(
    *,
    out_dir: Path,
    channel_key: str,
    title: str,
    records: Iterable[dict[str, Any] | str | bytes],
    topics: Iterable[ExportTopic],
) -> ExportResult:
    """Write ``documents.ndjson`` and ``topics.json`` into ``out_dir``, both streamed.

    Neither file is held in memory: document lines are written in batches of
    1,000 (or as the byte chunks they come in) and ``topics.json`` member by
    member, in the layout of ``json.dump(payload, indent=2, ensure_ascii=False)``.

    Args:
        out_dir: The channel's export folder (created if missing).
        channel_key: The channel's key.
        title: The channel's title.
        records: In message-id order, document objects from :func:`document_record`,
            ready lines from :func:`document_line`, or UTF-8 chunks of whole lines
            (each ending in a newline, as ``storage.export_lines`` streams them).
        topics: The channel's topics, in order; each one's ``member_ids`` is read once.

    Returns:
        The paths written and the counts of documents and topics.
    """
    docs_path = out_dir / "documents.ndjson"
    count = 0
    with atomic_binary_writer(docs_path) as fh:
        batch: list[str] = []
        for record in records:
            if isinstance(record, bytes):
                fh.write(record)
                count += record.count(b"\n")
                continue
            batch.append(record if isinstance(record, str) else _LINE_ENCODER.encode(record) + "\n")
            if len(batch) == _LINE_BATCH:
                fh.write("".join(batch).encode())
                count += len(batch)
                batch.clear()
        fh.write("".join(batch).encode())
        count += len(batch)
    topics_path = out_dir / "topics.json"
    with atomic_writer(topics_path) as fh:
        n_topics = write_topics_json(fh, channel_key=channel_key, title=title, topics=topics)
    return ExportResult(documents_path=docs_path, topics_path=topics_path, documents=count, topics=n_topics)


def _write_list(fh: IO[str], items: Iterable[str], *, level: int) -> None:
    """Write a JSON array of already-encoded items as ``json.dump(indent=2)`` lays it out at ``level``."""
    inner = "\n" + "  " * (level + 1)
    first = True
    batch: list[str] = []
    for item in items:
        batch.append(("[" if first else ",") + inner + item)
        first = False
        if len(batch) == _LINE_BATCH:
            fh.write("".join(batch))
            batch.clear()
    fh.write("".join(batch))
    fh.write("[]" if first else "\n" + "  " * level + "]")


def write_topics_json(fh: IO[str], *, channel_key: str, title: str, topics: Iterable[ExportTopic]) -> int:
    """Stream ``topics.json`` into ``fh``, byte for byte as ``json.dump(..., indent=2)`` writes it.

    Args:
        fh: A text handle.
        channel_key: The channel's key (prefix of member ids).
        title: The channel's title.
        topics: The topics, in order.

    Returns:
        The number of topics written.
    """
    enc = _VALUE_ENCODER.encode
    fh.write(
        f'{{\n  "format_version": {EXPORT_FORMAT_VERSION},\n  "channel": {enc(channel_key)},\n'
        f'  "title": {enc(title)},\n  "topics": '
    )
    n = 0
    pad = "\n      "
    for topic in topics:
        fh.write(("[" if n == 0 else ",") + "\n    {")
        fh.write(f'{pad}"id": {enc(topic.topic_id)},{pad}"label": {enc(topic.label)},{pad}"keywords": ')
        _write_list(fh, (enc(k) for k in topic.keywords), level=3)
        fh.write(f',{pad}"summary": {enc(topic.summary)},{pad}"size": {enc(topic.size)},')
        fitted = enc(iso_utc(topic.fitted_at))
        fh.write(f'{pad}"fitted_at": {fitted},{pad}"fit": {enc(topic.fit)},{pad}"member_ids": ')
        prefix = enc(channel_key)[:-1] + ":"
        _write_list(fh, (f'{prefix}{m}"' for m in topic.member_ids), level=3)
        fh.write("\n    }")
        n += 1
    fh.write("[]\n}\n" if n == 0 else "\n  ]\n}\n")
    return n
