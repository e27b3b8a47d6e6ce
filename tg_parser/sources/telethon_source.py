"""Live Telegram channels through Telethon: resolution, paged fetching, conversion.

The caller owns the cursor. :meth:`TelethonSource.fetch` is an async generator
of :class:`FetchPage` objects, oldest first; after committing a page the caller
may store ``page.max_id_seen`` as the channel's cursor. Every page holds exactly
the posts whose message ids lie in ``(previous max_id_seen, max_id_seen]``, so a
fetch interrupted at any point (a long FloodWait, a crash) and started again
with the last committed cursor is gap-free and yields no new post twice.

Telegram rules used here:

* history is read with ``messages.getHistory`` in ascending order (Telethon's
  ``iter_messages(reverse=True, min_id=…)``), up to 100 messages a request
  (https://core.telegram.org/method/messages.getHistory,
  https://core.telegram.org/api/offsets);
* FloodWait (``420 FLOOD_WAIT_X``) names the seconds to wait
  (https://core.telegram.org/api/errors#420-flood);
* albums (messages sharing a ``grouped_id``) become one post and are never
  split across pages (https://core.telegram.org/api/files#albums-grouped-media);
* discussion comments are read with ``messages.getReplies``
  (https://core.telegram.org/api/threads).

Conversion of Telethon objects lives in :mod:`._telethon_convert`; its public
functions are re-exported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from telethon import errors

from tg_parser.domain import ForumTopic
from tg_parser.errors import InputError, PermanentError, RetryableError
from tg_parser.sources._telethon_convert import (
    album_to_message,
    build_posts,
    chat_info,
    convert_entities,
    media_type,
    split_trailing_album,
    telethon_to_message,
    to_peer,
)
from tg_parser.sources._telethon_depth import forum_titles
from tg_parser.sources._telethon_errors import translate as _translate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence
    from datetime import datetime

    from tg_parser.domain import ChatInfo, Message

__all__ = [
    "FetchPage",
    "TelethonSource",
    "album_to_message",
    "build_posts",
    "chat_info",
    "convert_entities",
    "media_type",
    "split_trailing_album",
    "telethon_to_message",
    "to_peer",
]

_log = structlog.get_logger(__name__)
_T = TypeVar("_T")

#: FloodWaits slept in place in a row without progress before giving up with a retryable error.
_MAX_IN_PLACE_WAITS = 3


@dataclass(frozen=True, slots=True)
class FetchPage:
    """One committed-or-not unit of a fetch, oldest first.

    Attributes:
        messages: Posts, ascending by ``message_id`` (albums merged into one post).
        max_id_seen: Highest Telegram message id this page covers (service
            messages and album members included). Store it as the cursor after
            committing the page; it never decreases within a fetch and is never
            below the cursor the fetch started from.
        done: ``True`` on the last page of the fetch.
        deleted_ids: Ids of posts of the edit window that Telegram no longer returns.
        window: ``True`` for the page re-reading already-fetched posts (ids at or
            below the starting cursor) to catch edits and deletions.
        comments: Discussion comments of this page's posts, as messages of the
            linked discussion chat (their own ``channel_id``).
        comments_chat: The linked discussion chat, when comments were read.
    """

    messages: list[Message]
    max_id_seen: int
    done: bool
    deleted_ids: list[int] = field(default_factory=list)
    window: bool = False
    comments: list[Message] = field(default_factory=list)
    comments_chat: ChatInfo | None = None


Sleep = Callable[[float], Awaitable[object]]
"""An async sleep taking seconds (``asyncio.sleep``, or a recorder in tests)."""


class TelethonSource:
    """Read channels through a connected Telethon client.

    Args:
        client: A connected, authorised ``telethon.TelegramClient`` (or an
            object with the same ``get_entity``, ``get_messages`` and
            ``iter_messages`` coroutines). Build it with
            :func:`tg_parser.sources.telegram_session.build_client`, which
            turns Telethon's own FloodWait sleeping off so this class decides.
        edit_window: How many of the most recent messages at or below the cursor
            each incremental fetch reads again (``TELEGRAM_EDIT_WINDOW``); 0 = off.
        flood_sleep_max_s: Longest FloodWait slept in place
            (``TELEGRAM_FLOOD_SLEEP_MAX_S``); longer ones raise
            :class:`RetryableError`.
        page_size: Messages per page (Telegram serves at most 100 per request).
        sleep: Async sleep, injectable for tests.
    """

    def __init__(
        self,
        client: Any,
        *,
        edit_window: int = 50,
        flood_sleep_max_s: float = 30.0,
        page_size: int = 100,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Keep the client and the fetch settings; nothing is sent to Telegram yet."""
        if page_size < 1:
            msg = "page_size must be at least 1"
            raise ValueError(msg)
        self._client = client
        self._edit_window = edit_window
        self._flood_sleep_max_s = flood_sleep_max_s
        self._page_size = page_size
        self._sleep = sleep
        self._entities: dict[str, Any] = {}
        #: Forum topic titles per channel, read once per fetch (so renames are seen on the next sync).
        self._topic_titles: dict[str, dict[int, str]] = {}
        #: Post id → highest comment id read, for the fetch under way.
        self._thread_cursors: dict[int, int] = {}

    # -- resolution --------------------------------------------------------------------------

    async def resolve(self, channel: str | int) -> ChatInfo:
        """Resolve ``@username``, ``https://t.me/name``, ``t.me/c/<id>`` links or numeric ids.

        Args:
            channel: The channel as the user wrote it. Numeric ids (``1878264527``
                or ``-1001878264527``) must be known to the session (seen before
                through a username or a dialog).

        Returns:
            What Telegram says about the chat.

        Raises:
            InputError: The reference is not a username, link or id.
            PermanentError: The channel does not exist, is private, or this
                account may not read it; the message names the channel.
            RetryableError: A long FloodWait or a network failure.
        """
        return chat_info(await self._entity(channel))

    async def _entity(self, channel: str | int) -> Any:
        key = str(channel)
        if key not in self._entities:
            ref = to_peer(channel)
            self._entities[key] = await self._call(channel, lambda: self._client.get_entity(ref))
        return self._entities[key]

    # -- fetching ----------------------------------------------------------------------------

    async def fetch(
        self,
        channel: str | int,
        *,
        cursor: int | None,
        since: datetime | None = None,
        limit: int | None = None,
        known_ids: Iterable[int] = (),
        comments: bool = False,
        comment_cursors: Mapping[int, int] | None = None,
    ) -> AsyncIterator[FetchPage]:
        """Yield the channel's posts page by page, oldest first.

        First run (``cursor`` is ``None``): a backfill of the posts sent at or
        after ``since`` and among the ``limit`` most recent messages (both
        bounds apply when both are given; neither = the whole history). Later
        runs (``cursor`` set, ``since``/``limit`` ignored): first a ``window``
        page re-reading the ``edit_window`` most recent messages at or below the
        cursor, with ``deleted_ids`` = the ``known_ids`` in that window that no
        longer come back; then every post newer than the cursor.

        Args:
            channel: As for :meth:`resolve`.
            cursor: The ``max_id_seen`` of the last committed page, or ``None``
                before the first committed page.
            since: Backfill bound, time-zone aware (naive is read as UTC).
            limit: Backfill bound in messages (albums count each member).
            known_ids: Stored post ids at or below the cursor (the most recent
                ``edit_window`` of them suffice); only these can be reported deleted.
            comments: Also read discussion comments of the fetched posts.
            comment_cursors: Post id → highest comment id already stored for
                it. A post's thread is read only above that id, and not at all
                when its ``replies.max_id`` says nothing newer was written, so
                each comment arrives once and a re-read post costs no request.

        Yields:
            :class:`FetchPage` objects; the last has ``done=True``.

        Raises:
            InputError: The channel reference is malformed.
            PermanentError: The channel cannot be read (names it).
            RetryableError: A FloodWait longer than ``flood_sleep_max_s`` (its
                ``retry_after_s`` is the wait) or a network failure. Pages
                yielded before stay valid: resume with the last committed cursor.
        """
        entity = await self._entity(channel)
        info = chat_info(entity)
        self._topic_titles.pop(str(channel), None)
        self._thread_cursors = dict(comment_cursors or {})
        stats = {"pages": 0, "posts": 0, "deleted": 0, "comments": 0}
        if cursor is None:
            after = await self._start_after(entity, channel, since=since, limit=limit)
        else:
            after = cursor
            if self._edit_window > 0 and cursor > 0:
                page = await self._window_page(
                    entity, channel, info, cursor=cursor, known_ids=set(known_ids), comments=comments
                )
                stats["pages"] += 1
                stats["posts"] += len(page.messages)
                stats["deleted"] += len(page.deleted_ids)
                yield page
        max_id_seen = after
        pending: list[Any] = []
        async for raw in self._history(entity, channel, after_id=after):
            pending.append(raw)
            if len(pending) < self._page_size:
                continue
            emit, pending = split_trailing_album(pending)
            if not emit:
                continue
            max_id_seen = emit[-1].id
            page = await self._page(entity, channel, info, emit, max_id_seen, done=False, comments=comments)
            stats["pages"] += 1
            stats["posts"] += len(page.messages)
            stats["comments"] += len(page.comments)
            yield page
        if pending:
            max_id_seen = max(max_id_seen, pending[-1].id)
        page = await self._page(entity, channel, info, pending, max_id_seen, done=True, comments=comments)
        stats["pages"] += 1
        stats["posts"] += len(page.messages)
        stats["comments"] += len(page.comments)
        _log.info("telegram.fetch", channel=str(channel), cursor=cursor, max_id_seen=max_id_seen, **stats)
        yield page

    async def _start_after(
        self, entity: Any, channel: str | int, *, since: datetime | None, limit: int | None
    ) -> int:
        """Return the id after which a backfill starts (0 = the whole history)."""
        start = 0
        if limit is not None:
            if limit < 0:
                msg = f"limit must be 0 or more, got {limit}"
                raise InputError(msg)
            # The (limit+1)-th newest message: everything above it is the newest `limit`.
            older = await self._call(
                channel, lambda: self._client.get_messages(entity, limit=1, add_offset=limit)
            )
            if older:
                start = max(start, older[0].id)
        if since is not None:
            since_utc = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
            # offset_date is exclusive: the newest message sent before `since`.
            older = await self._call(
                channel, lambda: self._client.get_messages(entity, limit=1, offset_date=since_utc)
            )
            if older:
                start = max(start, older[0].id)
        return start

    async def _window_page(
        self,
        entity: Any,
        channel: str | int,
        info: ChatInfo,
        *,
        cursor: int,
        known_ids: set[int],
        comments: bool,
    ) -> FetchPage:
        raws = await self._call(
            channel,
            lambda: self._client.get_messages(entity, limit=self._edit_window, offset_id=cursor + 1),
        )
        raws = sorted((r for r in raws if r is not None), key=lambda r: r.id)
        seen = {r.id for r in raws}
        full = len(raws) >= self._edit_window
        floor = raws[0].id if full and raws else 0
        cut = getattr(raws[0], "grouped_id", None) if full and raws else None
        if cut is not None:
            # The window's lower edge may cut an album: leave that album out of the re-read.
            raws = [r for r in raws if getattr(r, "grouped_id", None) != cut]
        deleted = sorted(k for k in known_ids if floor <= k <= cursor and k not in seen)
        page = await self._page(entity, channel, info, raws, cursor, done=False, comments=comments)
        return FetchPage(
            messages=page.messages,
            max_id_seen=cursor,
            done=False,
            deleted_ids=deleted,
            window=True,
            comments=page.comments,
            comments_chat=page.comments_chat,
        )

    async def _page(
        self,
        entity: Any,
        channel: str | int,
        info: ChatInfo,
        raws: Sequence[Any],
        max_id_seen: int,
        *,
        done: bool,
        comments: bool,
    ) -> FetchPage:
        posts = await self._titled(
            entity, channel, build_posts(raws, chat_id=info.telegram_id, chat_title=info.title)
        )
        found: list[Message] = []
        comments_chat: ChatInfo | None = None
        if comments:
            found, comments_chat = await self._threads(entity, channel, raws)
        return FetchPage(
            messages=posts,
            max_id_seen=max_id_seen,
            done=done,
            comments=found,
            comments_chat=comments_chat,
        )

    async def download_media(self, channel: str | int, message_id: int, file: str) -> bool:
        """Download one post's media to ``file``, from a fresh copy of the post (a fresh file reference).

        Raises:
            RetryableError: FloodWait (``retry_after_s`` = the wait), an expired
                file reference (the retry fetches the post again), network failures.
            PermanentError: The channel cannot be read.

        Returns:
            ``False`` when the post or its media is gone.
        """
        entity = await self._entity(channel)
        message = await self._call(channel, lambda: self._client.get_messages(entity, ids=message_id))
        if message is None or getattr(message, "media", None) is None:
            return False
        try:
            saved = await self._client.download_media(message, file=file)
        except errors.FileReferenceExpiredError as exc:
            msg = (
                f"channel {channel}, post {message_id}: the file reference expired; the post is fetched again"
            )
            raise RetryableError(msg) from exc
        except errors.FloodWaitError as exc:
            msg = f"channel {channel}, post {message_id}: Telegram asks to wait {exc.seconds} s (FloodWait)"
            raise RetryableError(msg, retry_after_s=float(exc.seconds)) from exc
        except errors.RPCError as exc:
            raise _translate(exc, channel) from exc
        except (ConnectionError, OSError, TimeoutError) as exc:
            raise _translate(exc, channel) from exc
        return saved is not None

    async def _titled(self, entity: Any, channel: str | int, posts: list[Message]) -> list[Message]:
        """Give the posts of a forum their topic's title (``messages.getForumTopics``, once per fetch)."""
        if not any(p.forum_topic is not None for p in posts):
            return posts
        key = str(channel)
        if key not in self._topic_titles:
            self._topic_titles[key] = await forum_titles(
                lambda request: self._call(channel, lambda: self._client(request)), entity
            )
        titles = self._topic_titles[key]
        return [
            p.model_copy(
                update={"forum_topic": ForumTopic(id=p.forum_topic.id, title=titles.get(p.forum_topic.id))}
            )
            if p.forum_topic is not None
            else p
            for p in posts
        ]

    async def _threads(
        self, entity: Any, channel: str | int, raws: Sequence[Any]
    ) -> tuple[list[Message], ChatInfo | None]:
        """Read the new comments of the posts in ``raws``, each linked to its post (``thread_of``)."""
        found: list[Message] = []
        comments_chat: ChatInfo | None = None
        album_head: dict[int, int] = {}
        for raw in raws:
            if raw.grouped_id is not None:
                album_head.setdefault(raw.grouped_id, raw.id)
        for raw in raws:
            replies = getattr(raw, "replies", None)
            if replies is None or not replies.comments or not replies.replies:
                continue
            post_id = album_head.get(raw.grouped_id, raw.id) if raw.grouped_id is not None else raw.id
            after = self._thread_cursors.get(post_id, 0)
            if replies.max_id is not None and replies.max_id <= after:
                continue  # nothing written in the thread since it was last read
            thread = await self._comments(entity, channel, raw.id, after_id=after)
            if not thread:
                continue
            self._thread_cursors[post_id] = max(after, *(m.id for m in thread))
            found.extend(
                c.model_copy(update={"thread_of": post_id})
                for c in build_posts(thread, chat_id=None, chat_title=None)
            )
            if comments_chat is None:
                chat = getattr(thread[0], "chat", None)
                if chat is not None:
                    comments_chat = chat_info(chat)
        return found, comments_chat

    async def _comments(self, entity: Any, channel: str | int, post_id: int, *, after_id: int) -> list[Any]:
        try:
            return [m async for m in self._history(entity, channel, after_id=after_id, reply_to=post_id)]
        except RetryableError:
            raise
        except PermanentError as exc:
            _log.warning(
                "telegram.comments_unreadable", channel=str(channel), post_id=post_id, error=str(exc)
            )
            return []

    async def _history(
        self, entity: Any, channel: str | int, *, after_id: int, reply_to: int | None = None
    ) -> AsyncIterator[Any]:
        """Yield raw messages with id > ``after_id``, ascending, sleeping short FloodWaits in place.

        After a FloodWait the request is repeated from the last message yielded,
        so nothing is yielded twice and nothing is skipped.
        """
        position = after_id
        waits = 0
        while True:
            try:
                async for raw in self._client.iter_messages(
                    entity, min_id=position, reverse=True, reply_to=reply_to
                ):
                    if raw.id <= position:
                        continue
                    position = raw.id
                    waits = 0
                    yield raw
            except errors.RPCError as exc:
                waits += 1
                await self._on_error(exc, channel=channel, waits=waits)
            except (ConnectionError, OSError, TimeoutError, ValueError) as exc:
                raise _translate(exc, channel) from exc
            else:
                return

    async def _call(self, channel: str | int, request: Callable[[], Awaitable[_T]]) -> _T:
        """Await ``request()``, sleeping short FloodWaits in place and translating errors."""
        waits = 0
        while True:
            try:
                return await request()
            except errors.RPCError as exc:
                waits += 1
                await self._on_error(exc, channel=channel, waits=waits)
            except (ConnectionError, OSError, TimeoutError, ValueError) as exc:
                raise _translate(exc, channel) from exc

    async def _on_error(self, exc: errors.RPCError, *, channel: str | int, waits: int) -> None:
        """Sleep a short FloodWait; raise our error for anything else."""
        seconds = getattr(exc, "seconds", None)
        if not isinstance(exc, errors.FloodError) or seconds is None:
            raise _translate(exc, channel) from exc
        if seconds > self._flood_sleep_max_s or waits > _MAX_IN_PLACE_WAITS:
            msg = f"channel {channel}: Telegram asks to wait {seconds} s (FloodWait)"
            raise RetryableError(msg, retry_after_s=float(seconds)) from exc
        _log.info("telegram.flood_wait", channel=str(channel), wait_s=seconds, attempt=waits)
        await self._sleep(max(1, seconds))
