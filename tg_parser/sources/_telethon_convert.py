"""Telethon objects to our domain: channel references, chats, messages, entities, media.

Private helpers of :mod:`tg_parser.sources.telethon_source` (which re-exports
the public ones). Rules:

* entity offsets and lengths count UTF-16 code units
  (https://core.telegram.org/api/entities#entity-length); ours count code points;
* albums are messages sharing a ``grouped_id``
  (https://core.telegram.org/api/files#albums-grouped-media);
* media types, chat types and reaction keys use the Telegram Desktop export's
  words (tdesktop ``export_data.cpp`` / ``export_output_json.cpp``), so a post
  reads the same from an export and from Telethon;
* message links: https://core.telegram.org/api/links#message-links.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from telethon import utils
from telethon.tl import types

from tg_parser.domain import ChatInfo, Entity, EntityType, ForumTopic, Message, Reaction
from tg_parser.domain.channel_refs import RefKind, parse_channel_ref
from tg_parser.sources._telethon_depth import forum_topic_id, media_info

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

_SURROGATE_MIN = 0x10000

_ENTITY_TYPES: dict[type, EntityType] = {
    types.MessageEntityBold: EntityType.BOLD,
    types.MessageEntityItalic: EntityType.ITALIC,
    types.MessageEntityUnderline: EntityType.UNDERLINE,
    types.MessageEntityStrike: EntityType.STRIKETHROUGH,
    types.MessageEntitySpoiler: EntityType.SPOILER,
    types.MessageEntityCode: EntityType.CODE,
    types.MessageEntityPre: EntityType.PRE,
    types.MessageEntityBlockquote: EntityType.BLOCKQUOTE,
    types.MessageEntityTextUrl: EntityType.TEXT_LINK,
    types.MessageEntityUrl: EntityType.LINK,
    types.MessageEntityMention: EntityType.MENTION,
    types.MessageEntityMentionName: EntityType.MENTION_NAME,
    types.InputMessageEntityMentionName: EntityType.MENTION_NAME,
    types.MessageEntityHashtag: EntityType.HASHTAG,
    types.MessageEntityCashtag: EntityType.CASHTAG,
    types.MessageEntityBotCommand: EntityType.BOT_COMMAND,
    types.MessageEntityEmail: EntityType.EMAIL,
    types.MessageEntityPhone: EntityType.PHONE,
    types.MessageEntityBankCard: EntityType.BANK_CARD,
    types.MessageEntityCustomEmoji: EntityType.CUSTOM_EMOJI,
}

#: Media classes and the Desktop export's name for them (tdesktop ``export_output_json.cpp``).
_MEDIA_TYPES: dict[type, str] = {
    types.MessageMediaPhoto: "photo",
    types.MessageMediaPoll: "poll",
    types.MessageMediaContact: "contact",
    types.MessageMediaVenue: "venue",
    types.MessageMediaGeo: "location",
    types.MessageMediaGeoLive: "location",
    types.MessageMediaGame: "game",
    types.MessageMediaInvoice: "invoice",
    types.MessageMediaGiveaway: "giveaway",
    types.MessageMediaGiveawayResults: "giveaway_results",
    types.MessageMediaPaidMedia: "paid_media",
    types.MessageMediaDice: "dice",
    types.MessageMediaStory: "story",
}

# -- references and chats --------------------------------------------------------------------


def to_peer(channel: str | int) -> str | types.PeerChannel | types.PeerChat:
    """Turn a channel reference into something ``client.get_entity`` accepts.

    The reference is parsed by :func:`tg_parser.domain.channel_refs.parse_channel_ref`
    (every form it accepts: ``@name``, ``t.me`` links, ``tg://resolve``, ids).

    Returns:
        A username, or a ``PeerChannel`` (channels and supergroups) / ``PeerChat`` (basic groups).

    Raises:
        InputError: Invite links or anything that is no username, link or id.
    """
    ref = parse_channel_ref(channel)
    if ref.kind is RefKind.USERNAME:
        return str(ref.username)
    if ref.kind is RefKind.CHAT_ID:
        return types.PeerChat(int(ref.telegram_id or 0))
    return types.PeerChannel(int(ref.telegram_id or 0))


def chat_info(entity: Any) -> ChatInfo:
    """Describe a Telethon ``Channel``, ``Chat`` or ``User`` in the Desktop export's words.

    Args:
        entity: The resolved Telethon entity.

    Returns:
        ``ChatInfo`` with the bare id and a ``chat_type`` such as ``public_channel``.
    """
    username = getattr(entity, "username", None)
    if not username:
        usernames = getattr(entity, "usernames", None) or ()
        username = next((u.username for u in usernames if getattr(u, "active", False)), None)
    if isinstance(entity, types.Channel):
        kind = "supergroup" if entity.megagroup else "channel"
        chat_type = f"{'public' if username else 'private'}_{kind}"
    elif isinstance(entity, types.Chat | types.ChatForbidden):
        chat_type = "private_group"
    elif isinstance(entity, types.ChannelForbidden):
        chat_type = "private_supergroup" if entity.megagroup else "private_channel"
    else:
        chat_type = "bot_chat" if getattr(entity, "bot", False) else "personal_chat"
    return ChatInfo(
        telegram_id=entity.id,
        title=utils.get_display_name(entity) or str(entity.id),
        chat_type=chat_type,
        username=username or None,
    )


# -- conversion ------------------------------------------------------------------------------


def split_trailing_album(raws: list[Any]) -> tuple[list[Any], list[Any]]:
    """Split ascending raw messages before an album that may continue in the next request.

    Args:
        raws: Raw messages, ascending by id.

    Returns:
        ``(emit, hold)``: ``hold`` is the suffix starting at the first member
        of the last message's album (empty when the last message is no album member).
    """
    group = getattr(raws[-1], "grouped_id", None) if raws else None
    if group is None:
        return raws, []
    first = next(i for i, r in enumerate(raws) if getattr(r, "grouped_id", None) == group)
    return raws[:first], raws[first:]


def build_posts(raws: Iterable[Any], *, chat_id: int | None, chat_title: str | None) -> list[Message]:
    """Convert raw Telethon messages to posts: service messages dropped, albums merged.

    Args:
        raws: Telethon ``Message`` objects (``MessageService``, ``MessageEmpty``
            and ``None`` are skipped).
        chat_id: The chat's bare id, or ``None`` to take each message's ``peer_id``.
        chat_title: The chat's title, used as the author of unsigned channel
            posts (as the Desktop export's ``from``).

    Returns:
        Posts ascending by ``message_id``.
    """
    groups: dict[int, list[Any]] = {}
    order: list[tuple[int, Any]] = []
    for raw in raws:
        if not isinstance(raw, types.Message):
            continue
        if raw.grouped_id is None:
            order.append((raw.id, raw))
        elif raw.grouped_id in groups:
            groups[raw.grouped_id].append(raw)
        else:
            groups[raw.grouped_id] = [raw]
            order.append((raw.id, groups[raw.grouped_id]))
    posts = []
    for _, item in sorted(order, key=lambda pair: pair[0]):
        if isinstance(item, list):
            posts.append(album_to_message(item, chat_id=chat_id, chat_title=chat_title))
        else:
            posts.append(telethon_to_message(item, chat_id=chat_id, chat_title=chat_title))
    return posts


def album_to_message(members: Sequence[Any], *, chat_id: int | None, chat_title: str | None) -> Message:
    """Merge an album's messages into one post.

    The post takes the lowest member id, the caption (text and entities) of
    the member that has one, the latest edit, the highest view count, the first
    reactions, and the members' common media type (the first member's when
    they differ).

    Args:
        members: Messages sharing one ``grouped_id``.
        chat_id: As for :func:`build_posts`.
        chat_title: As for :func:`build_posts`.

    Returns:
        One post; ``raw`` holds ``{"_": "album", "messages": [...]}``.
    """
    ordered = sorted(members, key=lambda m: m.id)
    converted = [telethon_to_message(m, chat_id=chat_id, chat_title=chat_title) for m in ordered]
    first = converted[0]
    captioned = next((c for c in converted if c.text), first)
    media = {c.media_type for c in converted}
    edits = [c.edited for c in converted if c.edited is not None]
    views = [c.views for c in converted if c.views is not None]
    forwards = [c.forwards for c in converted if c.forwards is not None]
    return first.model_copy(
        update={
            "text": captioned.text,
            "entities": captioned.entities,
            "edited": max(edits) if edits else None,
            "views": max(views) if views else None,
            "reactions": next((c.reactions for c in converted if c.reactions), ()),
            "reply_to": next((c.reply_to for c in converted if c.reply_to), None),
            "media_type": first.media_type if len(media) > 1 else media.pop(),
            "forwards": max(forwards) if forwards else None,
            "raw": {"_": "album", "grouped_id": first.grouped_id, "messages": [c.raw for c in converted]},
        }
    )


def telethon_to_message(raw: Any, *, chat_id: int | None = None, chat_title: str | None = None) -> Message:
    """Convert one Telethon ``Message`` into our :class:`Message`.

    Args:
        raw: A ``telethon.tl.types.Message``.
        chat_id: The chat's bare id (default: from ``raw.peer_id``).
        chat_title: As for :func:`build_posts`.

    Returns:
        The message; ``raw`` is Telethon's ``to_dict()`` made JSON-safe.
    """
    text = raw.message or ""
    kind = media_type(raw.media)
    topic = forum_topic_id(raw.reply_to)
    return Message(
        channel_id=chat_id if chat_id is not None else utils.get_peer_id(raw.peer_id, add_mark=False),
        message_id=raw.id,
        date=_utc(raw.date),
        text=text,
        entities=convert_entities(text, raw.entities),
        edited=_utc(raw.edit_date) if raw.edit_date else None,
        author=_author(raw, chat_title),
        reply_to=getattr(raw.reply_to, "reply_to_msg_id", None),
        forwarded_from=_forwarded_from(raw),
        media_type=kind,
        views=raw.views,
        reactions=_reactions(raw.reactions),
        grouped_id=raw.grouped_id,
        forwards=raw.forwards,
        media=media_info(raw.media, kind),
        # The title is filled in by TelethonSource from channels' forum topic list.
        forum_topic=ForumTopic(id=topic) if topic is not None else None,
        raw=_jsonable(raw.to_dict()),
    )


def convert_entities(text: str, tl_entities: Sequence[Any] | None) -> tuple[Entity, ...]:
    """Convert Telegram entities (UTF-16 offsets) to entities over code points.

    Args:
        text: The message text.
        tl_entities: ``MessageEntity*`` objects, or ``None``.

    Returns:
        Entities in source order; spans are clamped to the text.
    """
    if not tl_entities:
        return ()
    index = _utf16_index(text)
    last = len(index) - 1
    out = []
    for ent in tl_entities:
        start16 = min(max(ent.offset, 0), last)
        end16 = min(max(ent.offset + ent.length, start16), last)
        start, end = index[start16], index[end16]
        if end16 < last and end16 > 0 and index[end16] == index[end16 - 1]:
            end += 1  # the span ends inside a surrogate pair: keep the whole character
        entity_type = _ENTITY_TYPES.get(type(ent), EntityType.UNKNOWN)
        covered = text[start:end]
        user_id = getattr(ent, "user_id", None)
        if isinstance(user_id, types.InputUser):
            user_id = user_id.user_id
        out.append(
            Entity(
                type=entity_type,
                offset=start,
                length=end - start,
                text=covered,
                url=ent.url
                if entity_type is EntityType.TEXT_LINK
                else (covered if entity_type is EntityType.LINK else None),
                user_id=user_id if isinstance(user_id, int) else None,
                language=(getattr(ent, "language", None) or None) if entity_type is EntityType.PRE else None,
                raw_type=type(ent).__name__ if entity_type is EntityType.UNKNOWN else None,
            )
        )
    return tuple(out)


def _utf16_index(text: str) -> list[int]:
    """Map each UTF-16 offset of ``text`` (0..len16) to a code point offset."""
    index: list[int] = []
    for i, char in enumerate(text):
        index.append(i)
        if ord(char) >= _SURROGATE_MIN:
            index.append(i)
    index.append(len(text))
    return index


def media_type(media: Any) -> str | None:
    """Name a message's media as the Desktop export does (``photo``, ``video_file``…).

    Rule source: tdesktop ``export_data.cpp`` (``ParseDocument``: sticker,
    animation, video message, video file, voice message, audio file) and
    ``export_output_json.cpp``.

    Args:
        media: ``message.media`` or ``None``.

    Returns:
        The media type, or ``None`` for no media and for link previews.
    """
    if media is None or isinstance(media, types.MessageMediaEmpty | types.MessageMediaWebPage):
        return None
    if isinstance(media, types.MessageMediaDocument):
        return _document_type(media)
    for cls, name in _MEDIA_TYPES.items():
        if isinstance(media, cls):
            return name
    name = type(media).__name__.removeprefix("MessageMedia")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or "unknown"


def _document_type(media: Any) -> str:
    attributes = getattr(media.document, "attributes", None) or ()
    kinds = {type(a): a for a in attributes}
    if types.DocumentAttributeSticker in kinds:
        return "sticker"
    if types.DocumentAttributeAnimated in kinds:
        return "animation"
    video = kinds.get(types.DocumentAttributeVideo)
    if video is not None or media.video or media.round:
        return "video_message" if (video is not None and video.round_message) or media.round else "video_file"
    audio = kinds.get(types.DocumentAttributeAudio)
    if audio is not None or media.voice:
        return "voice_message" if (audio is not None and audio.voice) or media.voice else "audio_file"
    return "document"


def _author(raw: Any, chat_title: str | None) -> str | None:
    """Signature, else the sender's name (the Desktop export's ``from``)."""
    if raw.post_author:
        return str(raw.post_author)
    sender = getattr(raw, "sender", None)
    if sender is not None:
        return utils.get_display_name(sender) or None
    if raw.post and chat_title:
        return chat_title
    return None


def _forwarded_from(raw: Any) -> str | None:
    """Name a forward's origin: ``from_name``, the resolved chat or user, else a stable id."""
    fwd = raw.fwd_from
    if fwd is None:
        return None
    name = fwd.from_name
    forward = getattr(raw, "forward", None)
    if not name and forward is not None:
        origin = forward.chat or forward.sender
        name = utils.get_display_name(origin) if origin is not None else None
    if not name:
        name = _peer_label(fwd.from_id) or fwd.saved_from_name or "unknown"
    return str(name)


def _peer_label(peer: Any) -> str | None:
    """Name a peer as the Desktop export's ``from_id`` does (``channel123``, ``user42``)."""
    if isinstance(peer, types.PeerChannel):
        return f"channel{peer.channel_id}"
    if isinstance(peer, types.PeerUser):
        return f"user{peer.user_id}"
    if isinstance(peer, types.PeerChat):
        return f"chat{peer.chat_id}"
    return None


def _reactions(reactions: Any) -> tuple[Reaction, ...]:
    if reactions is None:
        return ()
    out: dict[str, int] = {}
    for count in reactions.results:
        reaction = count.reaction
        if isinstance(reaction, types.ReactionEmoji):
            key = reaction.emoticon
        elif isinstance(reaction, types.ReactionCustomEmoji):
            key = f"custom:{reaction.document_id}"
        elif isinstance(reaction, types.ReactionPaid):
            key = "paid"
        else:
            continue
        out[key] = out.get(key, 0) + count.count
    return tuple(Reaction(emoji=key, count=n) for key, n in out.items())


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _jsonable(value: Any) -> Any:
    """Make Telethon's ``to_dict()`` JSON-safe (datetimes as ISO 8601, bytes as base64)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
