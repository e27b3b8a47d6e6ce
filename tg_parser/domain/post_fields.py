"""A post as plain values: what an import stores, without building the ``Message`` model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tg_parser.domain.models import ForumTopic, Media


@dataclass(slots=True)
class PostFields:
    """The fields of a :class:`~tg_parser.domain.Message`, as plain values (no model, no validation).

    The import of a Telegram Desktop export reads 100k posts and more, and
    building the pydantic models (a :class:`~tg_parser.domain.Entity` per
    formatted span) cost about a fifth of it; the reader checks every value
    itself (``sources._desktop_message``), so the same values travel as this
    class to the ``COPY`` encoder. ``Message.model_validate`` of the same
    values (entities and reactions as the dicts below) gives the post
    ``to_message`` builds; ``tests/unit/test_desktop_export.py`` checks it on
    the real exports.

    Attributes:
        channel_id: Telegram id of the chat.
        message_id: Telegram message id inside the chat.
        date: Send time, UTC, time-zone aware.
        text: The post text.
        entities: Each entity as ``Entity.json_dict`` gives it, in source order.
        edited: Time of the last edit, UTC, or ``None``.
        author: Signature or sender name.
        reply_to: Message id this one replies to.
        forwarded_from: Name of the original sender of a forward.
        media_type: Media type or ``None``.
        views: View count, when known.
        reactions: ``{"emoji", "count"}`` dicts, in source order.
        raw: The source's own JSON of the message.
        grouped_id: Album id (``None`` in Desktop exports).
        deleted: Whether the post was seen deleted (``False`` in exports).
        forwards: How many times the post was forwarded, when the source has it.
        media: Metadata of the post's media, or ``None`` without media.
        forum_topic: The forum topic of a message of a forum supergroup, else ``None``.
        thread_of: For a comment, the message id of the channel post it comments on.
    """

    channel_id: int
    message_id: int
    date: datetime
    text: str
    entities: list[dict[str, Any]]
    edited: datetime | None
    author: str | None
    reply_to: int | None
    forwarded_from: str | None
    media_type: str | None
    views: int | None
    reactions: list[dict[str, Any]]
    raw: dict[str, Any] | None
    grouped_id: int | None = None
    deleted: bool = False
    forwards: int | None = None
    media: Media | None = None
    forum_topic: ForumTopic | None = None
    thread_of: int | None = None
