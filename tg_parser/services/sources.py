"""Channel sources as recorded in the database, and how to read them.

A channel's ``source_kind``/``source`` say where its posts come from:

* ``export``: a Telegram Desktop export; ``source`` is JSON
  ``{"path": "/abs/result.json", "chat_id": 123}``. A folder path means the
  newest ``result.json`` under it, re-read on each run.
* ``telegram``: a live channel through Telethon; ``source`` is the reference
  (``@name``, a t.me link or a numeric id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from tg_parser.domain import ChatInfo, Message
from tg_parser.domain.post_fields import PostFields
from tg_parser.errors import InputError
from tg_parser.read_ahead import read_ahead
from tg_parser.storage.messages import EncodedPosts

T = TypeVar("T")


@dataclass(frozen=True)
class ExportSourceRef:
    """Where an export channel's posts live: a file (or folder) and a chat id in it."""

    path: str
    chat_id: int

    def to_json(self) -> str:
        """Serialise for ``channels.source``."""
        return json.dumps({"path": self.path, "chat_id": self.chat_id}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExportSourceRef:
        """Parse ``channels.source``.

        Raises:
            InputError: The stored source is not an export reference.
        """
        try:
            data = json.loads(text)
            return cls(path=str(data["path"]), chat_id=int(data["chat_id"]))
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"channel source {text!r} is not an export reference"
            raise InputError(msg) from exc


@dataclass(frozen=True)
class TelegramSourceRef:
    """A live channel: how to reach it, the bounds of its first backfill, the account it is pinned to."""

    reference: str
    since: datetime | None = None
    limit: int | None = None
    account: str | None = None

    def to_json(self) -> str:
        """Serialise for ``channels.source`` (``account`` only when pinned, so older rows read the same)."""
        data: dict[str, object] = {
            "ref": self.reference,
            "since": self.since.isoformat() if self.since else None,
            "limit": self.limit,
        }
        if self.account is not None:
            data["account"] = self.account
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TelegramSourceRef:
        """Parse ``channels.source`` (a JSON reference, or a bare ``@name``/id from older rows)."""
        try:
            data = json.loads(text)
        except ValueError:
            return cls(reference=text)
        if not isinstance(data, dict):
            return cls(reference=str(data))
        since = datetime.fromisoformat(data["since"]) if data.get("since") else None
        account = data.get("account")
        return cls(
            reference=str(data["ref"]),
            since=since,
            limit=data.get("limit"),
            account=account if isinstance(account, str) else None,
        )


def resolve_export_file(path: str | Path) -> Path:
    """Return the ``result.json`` to read for ``path`` (a file, or a folder holding exports).

    Raises:
        InputError: Nothing readable at ``path``.
    """
    p = Path(path)
    if p.is_dir():
        candidates = sorted(p.rglob("result.json"), key=lambda f: (f.stat().st_mtime, str(f)))
        if not candidates:
            candidates = sorted(p.glob("*.json"), key=lambda f: (f.stat().st_mtime, str(f)))
        if not candidates:
            msg = "folder holds no result.json"
            raise InputError(msg, path=str(p))
        return candidates[-1]
    if not p.is_file():
        msg = "no such file"
        raise InputError(msg, path=str(p))
    return p


def list_export_chats(path: str | Path) -> list[ChatInfo]:
    """Return the chats of an export file, in file order.

    A single-chat export (metadata first, as Desktop writes it) is known from
    the head of the file; any other file is read whole once, metadata only.

    Raises:
        InputError: The file is unreadable or malformed.
    """
    from tg_parser.sources.desktop_export import DesktopExportSource

    source = DesktopExportSource(resolve_export_file(path))
    head = source.head_chat()
    if head is not None:
        return [head.info]
    return [c.info for c in source.chats()]


def iter_export_messages(ref: ExportSourceRef) -> Iterator[Message | InputError]:
    """Yield the posts (and per-message errors) of one chat of an export.

    Raises:
        InputError: The file is unreadable, malformed, or lacks the chat.
    """
    from tg_parser.sources.desktop_export import DesktopExportSource

    path = resolve_export_file(ref.path)
    # One pass: the chat is found by the id written before its messages.
    yield from DesktopExportSource(path).iter_chat(ref.chat_id)


def iter_export_post_fields(ref: ExportSourceRef) -> Iterator[PostFields | InputError]:
    """Yield the posts of one chat of an export like :func:`iter_export_messages`, as plain values.

    Raises:
        InputError: The file is unreadable, malformed, or lacks the chat.
    """
    from tg_parser.sources.desktop_export import DesktopExportSource

    yield from DesktopExportSource(resolve_export_file(ref.path)).iter_chat_fields(ref.chat_id)


@dataclass
class SourceBatch:
    """A batch of posts read from a source, committed together.

    Attributes:
        messages: Posts read.
        errors: Messages the source could not read.
        deleted_ids: Message ids seen deleted at the source.
        cursor: Highest message id covered; the channel cursor moves here after the commit.
        chat: What the source says about the chat now (live sources), or ``None``.
        encoded: The posts already encoded for PostgreSQL's ``COPY`` (an export
            read in a child process, see :mod:`tg_parser.services.export_reader`),
            in which case ``messages`` is empty; else ``None``.
        posts_read: Posts read, when they travel as ``encoded`` (duplicates of
            an id count; the records keep one per id).
        comments: Discussion comments of the batch's posts (live channels,
            ``COMMENTS`` not ``off``), each with ``thread_of`` set.
        comments_chat: The discussion group they were written in.
    """

    messages: list[Message]
    errors: list[InputError] = field(default_factory=list)
    deleted_ids: list[int] = field(default_factory=list)
    cursor: int | None = None
    chat: ChatInfo | None = None
    encoded: EncodedPosts | None = None
    posts_read: int | None = None
    comments: list[Message] = field(default_factory=list)
    comments_chat: ChatInfo | None = None

    @property
    def posts(self) -> int:
        """Posts read in this batch, however they travel."""
        return self.posts_read if self.posts_read is not None else len(self.messages)


def export_batches(ref: ExportSourceRef, *, batch_size: int = 500) -> Iterator[SourceBatch]:
    """Yield an export chat's posts in batches of ``batch_size``.

    A file that breaks off (truncated, malformed) yields what came before and
    then a batch carrying the file's :class:`InputError`.

    Raises:
        InputError: The file cannot be read at all (missing, not JSON, no such chat).
    """
    batch = SourceBatch(messages=[])
    read_any = False
    try:
        for item in iter_export_messages(ref):
            read_any = True
            if isinstance(item, InputError):
                batch.errors.append(item)
                continue
            batch.messages.append(item)
            batch.cursor = item.message_id if batch.cursor is None else max(batch.cursor, item.message_id)
            if len(batch.messages) >= batch_size:
                yield batch
                batch = SourceBatch(messages=[])
    except InputError as exc:
        if not read_any:
            raise
        if exc.unread is None:  # the read broke off: the rest of the file is unread
            size = Path(exc.path).stat().st_size if exc.path and Path(exc.path).is_file() else -1
            exc.unread = (exc.offset or 0, size)
        batch.errors.append(exc)
    yield batch


def prefetched(items: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """Return ``items`` produced on a worker thread up to ``depth`` ahead of the consumer (``read_ahead``).

    Reading a file (parsing, building posts) then overlaps with what the
    consumer does between items (writing to the database, which releases the
    GIL while it waits). An exception of the producer is re-raised here, at
    the point of the stream where it happened. When the consumer stops early
    (an exception, ``close()``), the worker stops at its next item.

    Args:
        items: An iterator; it is consumed on the worker thread only.
        depth: Items held ready at most (memory grows by this many items).

    Returns:
        A generator of the items of ``items``, in order; it re-raises whatever ``items`` raised.
    """
    return read_ahead(items, depth=depth, name="export-prefetch")
