"""Media metadata, forward counts and forum topics of Telethon messages (issue 13).

Private helpers of :mod:`tg_parser.sources._telethon_convert`. They give a
live post the same :class:`~tg_parser.domain.Media` a Telegram Desktop export
gives it (``_desktop_media``), except ``path`` (set only once a file is
downloaded). Rule sources:

* photo sizes: https://core.telegram.org/constructor/photoSize,
  ``photoSizeProgressive`` (its ``sizes`` grow, the last is the full file),
  ``photoCachedSize`` (inline bytes); Desktop exports the largest size;
* document attributes: https://core.telegram.org/type/DocumentAttribute
  (``documentAttributeFilename``, ``…Video`` with a ``double`` duration since
  layer 161, ``…Audio``, ``…ImageSize``);
* forum topics: https://core.telegram.org/api/forum#forum-topics: a message
  in a topic has ``reply_to.forum_topic`` set, and the topic id is
  ``reply_to_top_id`` when it answers a message of the topic, else
  ``reply_to_msg_id`` (the topic's root); the General topic has id 1 and
  its messages carry no ``reply_to``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telethon.tl import types
from telethon.tl.functions.messages import GetForumTopicsRequest

from tg_parser.domain import Media


def media_info(media: Any, media_type: str | None) -> Media | None:
    """Return the :class:`Media` of a message's ``media``, or ``None`` without media.

    Args:
        media: ``message.media`` (a ``MessageMedia*`` object) or ``None``.
        media_type: Its type as :func:`~._telethon_convert.media_type` names it.

    Returns:
        The metadata Telegram sent, ``None`` in every field it did not (a
        poll or a location has only its ``type``).
    """
    if media_type is None:
        return None
    if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
        width, height, size = _largest_photo_size(media.photo.sizes or ())
        return Media(type=media_type, size_bytes=size, width=width, height=height)
    document = getattr(media, "document", None)
    if isinstance(media, types.MessageMediaDocument) and isinstance(document, types.Document):
        return _document_media(document, media_type)
    return Media(type=media_type)


def _largest_photo_size(sizes: Any) -> tuple[int | None, int | None, int | None]:
    best: tuple[int, int, int | None] | None = None
    for size in sizes:
        w, h = getattr(size, "w", None), getattr(size, "h", None)
        if not isinstance(w, int) or not isinstance(h, int):
            continue  # stripped and path sizes have no dimensions
        if isinstance(size, types.PhotoSizeProgressive):
            nbytes: int | None = max(size.sizes) if size.sizes else None
        elif isinstance(size, types.PhotoCachedSize):
            nbytes = len(size.bytes)
        else:
            nbytes = getattr(size, "size", None)
        if best is None or w * h > best[0] * best[1]:
            best = (w, h, nbytes)
    return best if best is not None else (None, None, None)


def _document_media(document: Any, media_type: str) -> Media:
    file_name = None
    duration: int | float | None = None
    width = height = None
    for attribute in document.attributes or ():
        if isinstance(attribute, types.DocumentAttributeFilename):
            file_name = attribute.file_name or None
        elif isinstance(attribute, types.DocumentAttributeVideo):
            duration = seconds(attribute.duration)
            width, height = attribute.w, attribute.h
        elif isinstance(attribute, types.DocumentAttributeAudio):
            duration = seconds(attribute.duration) if duration is None else duration
        elif isinstance(attribute, types.DocumentAttributeImageSize) and width is None:
            width, height = attribute.w, attribute.h
    return Media(
        type=media_type,
        file_name=file_name,
        mime_type=document.mime_type or None,
        size_bytes=document.size if isinstance(document.size, int) else None,
        duration_s=duration,
        width=width,
        height=height,
    )


def seconds(value: Any) -> int | float | None:
    """Return a duration as an ``int`` when whole, else rounded to milliseconds (``None`` when absent).

    Desktop exports write whole seconds; Telegram sends video durations as a
    ``double``. Rounding keeps the number's JSON text the same whether Python
    or PostgreSQL writes the export line.
    """
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if float(value).is_integer():
        return int(value)
    return round(float(value), 3)


def forum_topic_id(reply_to: Any) -> int | None:
    """Return the forum topic id of a message's ``reply_to`` header, or ``None`` outside topics.

    Args:
        reply_to: ``message.reply_to`` (``MessageReplyHeader``) or ``None``.

    Returns:
        ``reply_to_top_id`` (or ``reply_to_msg_id`` for a message straight
        under the topic's root) when ``forum_topic`` is set, else ``None``.
    """
    if not isinstance(reply_to, types.MessageReplyHeader) or not reply_to.forum_topic:
        return None
    topic = reply_to.reply_to_top_id or reply_to.reply_to_msg_id
    return topic if isinstance(topic, int) else None


#: Topics asked for per ``messages.getForumTopics`` request (Telegram serves at most 100).
FORUM_TOPICS_PAGE = 100


async def forum_titles(request: Callable[[Any], Awaitable[Any]], peer: Any) -> dict[int, str]:
    """List a forum's topics with ``messages.getForumTopics``: topic id → current title.

    Pages by the last topic's ``(date, top_message, id)`` as the method asks
    (https://core.telegram.org/method/messages.getForumTopics). Deleted topics
    (``forumTopicDeleted``) have no title and are left out.

    Args:
        request: Sends one request and returns its result (the caller's
            FloodWait and error handling around ``client(request)``).
        peer: The forum supergroup's entity.

    Returns:
        Every topic's id and title, the General topic (id 1) included.
    """
    titles: dict[int, str] = {}
    offset_date, offset_id, offset_topic = None, 0, 0
    while True:
        result = await request(
            GetForumTopicsRequest(
                peer=peer,
                offset_date=offset_date,
                offset_id=offset_id,
                offset_topic=offset_topic,
                limit=FORUM_TOPICS_PAGE,
            )
        )
        topics = [t for t in result.topics if isinstance(t, types.ForumTopic)]
        for topic in topics:
            titles.setdefault(topic.id, topic.title)
        if len(result.topics) < FORUM_TOPICS_PAGE or not topics or len(titles) >= result.count:
            return titles
        last = topics[-1]
        offset_date, offset_id, offset_topic = last.date, last.top_message, last.id
