"""Pure domain models: channels, messages (posts), entities, documents, topics.

No celery, sqlalchemy, telethon or SDK import lives here. Models are frozen
pydantic models so they validate on construction and serialise to JSON for
storage and for Celery-free hand-offs.

Offsets of :class:`Entity` are counted in Python ``str`` code points of
:attr:`Message.text` (Telegram's own offsets count UTF-16 code units; sources
convert).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EntityType(StrEnum):
    """Telegram message entity types, named as the Bot API / Desktop export name them.

    Source: https://core.telegram.org/bots/api#messageentity and the ``type``
    values of Telegram Desktop's ``result.json``.
    """

    PLAIN = "plain"
    BOLD = "bold"
    ITALIC = "italic"
    UNDERLINE = "underline"
    STRIKETHROUGH = "strikethrough"
    SPOILER = "spoiler"
    CODE = "code"
    PRE = "pre"
    BLOCKQUOTE = "blockquote"
    TEXT_LINK = "text_link"
    LINK = "link"
    MENTION = "mention"
    MENTION_NAME = "mention_name"
    HASHTAG = "hashtag"
    CASHTAG = "cashtag"
    BOT_COMMAND = "bot_command"
    EMAIL = "email"
    PHONE = "phone"
    BANK_CARD = "bank_card"
    CUSTOM_EMOJI = "custom_emoji"
    UNKNOWN = "unknown"


class Entity(BaseModel):
    """One formatting or semantic span of a post's text.

    Attributes:
        type: The entity type (unknown types map to ``unknown`` with the
            original name kept in ``raw_type``).
        offset: Start in code points of the post text.
        length: Length in code points.
        text: The covered text (``text[offset:offset+length]``).
        url: Target of a ``text_link`` (the ``href``), or the text of a ``link``.
        user_id: Target user of a ``mention_name``, when known.
        language: Language of a ``pre`` block, when given.
        raw_type: The source's own type name when it differs from ``type``.
    """

    model_config = ConfigDict(frozen=True)

    type: EntityType
    offset: int = Field(ge=0)
    length: int = Field(ge=0)
    text: str
    url: str | None = None
    user_id: int | None = None
    language: str | None = None
    raw_type: str | None = None

    def json_dict(self) -> dict[str, Any]:
        """Return the entity as JSON: ``model_dump(mode="json", exclude_none=True)``, built by hand.

        The same keys in the same order, without pydantic's serializer: this
        runs for every entity of every post an import reads (it feeds both
        :meth:`Message.content_hash` and the stored ``entities`` column).

        Returns:
            ``type`` (the string value), ``offset``, ``length``, ``text``, then
            those of ``url``, ``user_id``, ``language``, ``raw_type`` that are set.
        """
        out: dict[str, Any] = {
            "type": self.type.value,
            "offset": self.offset,
            "length": self.length,
            "text": self.text,
        }
        if self.url is not None:
            out["url"] = self.url
        if self.user_id is not None:
            out["user_id"] = self.user_id
        if self.language is not None:
            out["language"] = self.language
        if self.raw_type is not None:
            out["raw_type"] = self.raw_type
        return out


def content_hash(text: str, entities: list[dict[str, Any]]) -> str:
    """Return the SHA-256 hex digest of a post's text and entities (see :meth:`Message.content_hash`).

    Args:
        text: The post text.
        entities: Each entity as :meth:`Entity.json_dict` gives it, in order.

    Returns:
        64 lowercase hex characters.
    """
    payload = {"text": text, "entities": entities}
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Reaction(BaseModel):
    """A reaction count on a post: an emoji (or custom emoji id) and how many."""

    model_config = ConfigDict(frozen=True)

    emoji: str
    count: int = Field(ge=0)


class Media(BaseModel):
    """What a post's media is, as far as its source tells (``metadata.media`` of an export line).

    Attributes:
        type: The media type (:attr:`Message.media_type`: ``photo``,
            ``video_file``, ``document``, ``sticker``, ``poll``…).
        file_name: The file's name as sent, when the source has one (photos have none).
        mime_type: MIME type, when known.
        size_bytes: File size in bytes, when known.
        duration_s: Duration of audio or video in seconds, when known.
        width: Width in pixels of a photo, video or sticker, when known.
        height: Height in pixels, when known.
        path: Desktop exports: the file's path relative to the export folder
            (``photos/photo_1@...jpg``), ``None`` when the file was not
            exported; live sources: the path under ``MEDIA_DIR`` once downloaded.
    """

    model_config = ConfigDict(frozen=True)

    type: str
    file_name: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    duration_s: int | float | None = None
    width: int | None = None
    height: int | None = None
    path: str | None = None

    def json_dict(self) -> dict[str, Any]:
        """Return the media as JSON, every key present (``None`` where unknown), in the export's order."""
        return {
            "type": self.type,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "size_bytes": self.size_bytes,
            "duration_s": self.duration_s,
            "width": self.width,
            "height": self.height,
            "path": self.path,
        }


class ForumTopic(BaseModel):
    """The forum topic a message belongs to.

    Attributes:
        id: The topic's id: the message id of its root (the ``topic_created``
            service message; Telegram's ``reply_to_top_id``).
        title: The topic's title as the source last named it, when known.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    title: str | None = None


class Message(BaseModel):
    """One normalised Telegram message (a post of a channel or a group message).

    The same post gives an equal ``Message`` whether it comes from a Telegram
    Desktop export or from Telethon (``raw`` aside, which keeps the source form).

    Attributes:
        channel_id: Telegram id of the chat (the export's ``id``; for channels
            the id without the ``-100`` prefix).
        message_id: Telegram message id inside the chat.
        date: Send time, UTC, time-zone aware.
        text: The post text: exact concatenation of the text parts.
        entities: Entities over ``text`` in source order.
        edited: Time of the last edit, UTC, or ``None``.
        author: Post author signature or sender display name.
        reply_to: Message id this one replies to.
        forwarded_from: Name of the original sender of a forward.
        media_type: ``photo``, ``video_file``, ``document``, ``sticker``, ``poll``… or ``None``.
        views: View count, when the source has it.
        reactions: Reaction counts, one per distinct reaction key (an emoji,
            ``custom:<document id>`` for a custom emoji, ``paid`` for paid stars).
        forwards: How many times the post was forwarded, when the source has it.
        media: Metadata of the post's media, or ``None`` without media.
        forum_topic: The forum topic of a message of a forum supergroup, else ``None``.
        thread_of: For a comment (a message of a channel's linked discussion
            group read as a post's thread): the message id of that channel post.
        grouped_id: Album id for grouped media.
        deleted: Whether the post was seen deleted at the source.
        raw: The source's own JSON of the message, kept for audit.
    """

    model_config = ConfigDict(frozen=True)

    channel_id: int
    message_id: int
    date: datetime
    text: str = ""
    entities: tuple[Entity, ...] = ()
    edited: datetime | None = None
    author: str | None = None
    reply_to: int | None = None
    forwarded_from: str | None = None
    media_type: str | None = None
    views: int | None = None
    reactions: tuple[Reaction, ...] = ()
    grouped_id: int | None = None
    forwards: int | None = None
    media: Media | None = None
    forum_topic: ForumTopic | None = None
    thread_of: int | None = None
    deleted: bool = False
    raw: dict[str, Any] | None = Field(default=None, repr=False, exclude=False)

    def content_hash(self) -> str:
        """Return the SHA-256 hex digest of what processing reads.

        Processing reads the text and the entities (their links change what
        a document says), so a change of either changes the hash; edits of the
        view count or reactions do not.

        Returns:
            64 lowercase hex characters.
        """
        return content_hash(self.text, [e.json_dict() for e in self.entities])

    def links(self) -> list[str]:
        """Return the URLs of the post's link entities, in order, without duplicates.

        A ``text_link`` gives its ``href``; a plain ``link`` gives its text.
        """
        out: list[str] = []
        for ent in self.entities:
            url = None
            if ent.type == EntityType.TEXT_LINK:
                url = ent.url
            elif ent.type == EntityType.LINK:
                url = ent.url or ent.text
            if url and url not in out:
                out.append(url)
        return out

    def hashtags(self) -> list[str]:
        """Return the post's hashtag entities (with ``#``), in order, without duplicates."""
        return _unique(e.text for e in self.entities if e.type == EntityType.HASHTAG)

    def mentions(self) -> list[str]:
        """Return the post's ``@mention`` entities and named mentions, in order, unique."""
        return _unique(
            e.text for e in self.entities if e.type in (EntityType.MENTION, EntityType.MENTION_NAME)
        )


def _unique(items: Any) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


class ChatInfo(BaseModel):
    """What a source knows about a chat before reading its messages.

    Attributes:
        telegram_id: The chat's numeric id as the source gives it.
        title: Display name.
        chat_type: ``public_channel``, ``private_supergroup``… (source's words).
        username: Public username without ``@``, when known.
    """

    model_config = ConfigDict(frozen=True)

    telegram_id: int
    title: str
    chat_type: str | None = None
    username: str | None = None


class NamedEntity(BaseModel):
    """A named entity found in a post (a person, organisation, place, link…)."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="The entity as written in the post.")
    type: str = Field(
        description="One of: person, organization, location, product, event, link, hashtag, mention, other."
    )


class PostAnalysis(BaseModel):
    """The structured output a processor produces for one post.

    This is the schema LLM providers are asked to fill (JSON schema from
    ``PostAnalysis.model_json_schema()``) and the offline processor fills too.
    """

    model_config = ConfigDict(frozen=True)

    language: str = Field(description="ISO 639-1 code of the post's main language, e.g. 'ru' or 'en'.")
    summary: str = Field(description="One or two sentences that say what the post is about.")
    keywords: list[str] = Field(default_factory=list, description="3 to 10 key words or phrases.")
    entities: list[NamedEntity] = Field(default_factory=list, description="Named entities in the post.")


class Document(BaseModel):
    """The processed form of one post, ready for export.

    Attributes:
        channel_key: Key of the channel the post belongs to.
        message_id: The post's message id.
        content_hash: :meth:`Message.content_hash` of the post processed.
        processor: ``offline`` or the LLM provider name.
        model: Model name (``offline`` processor: its algorithm version).
        prompt_version: Version of the prompt (or of the offline rules).
        clean_text: The text after cleaning (whitespace normalised).
        analysis: The structured output.
    """

    model_config = ConfigDict(frozen=True)

    channel_key: str
    message_id: int
    content_hash: str
    processor: str
    model: str
    prompt_version: str
    clean_text: str
    analysis: PostAnalysis


class Topic(BaseModel):
    """A group of a channel's documents about one subject.

    Attributes:
        topic_id: Stable id, ``<channel_key>:topic-<n>``: ``n`` is kept while the topic exists
            and never reused in the channel (see ``tg_parser.topics.stable``).
        label: Short human label (top keywords, or an LLM label).
        keywords: Top keywords, most characteristic first.
        summary: One-line summary, when an LLM made one.
        member_ids: Message ids of member posts, ascending.
        fitted_at: When the topic's members last changed (``None`` before it is stored).
        fit: How: ``full`` (a re-cluster) or ``incremental`` (new posts joined it);
            ``None`` before it is stored.
    """

    model_config = ConfigDict(frozen=True)

    topic_id: str
    label: str
    keywords: list[str]
    summary: str | None = None
    member_ids: list[int]
    fitted_at: datetime | None = None
    fit: str | None = None

    @property
    def size(self) -> int:
        """Number of member posts."""
        return len(self.member_ids)
