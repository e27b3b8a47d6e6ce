# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Read Telegram Desktop JSON exports (``result.json``) as posts.

Telegram Desktop writes two layouts (``JsonWriter`` in tdesktop's
``Telegram/SourceFiles/export/output/export_output_json.cpp``):

* "Export chat history" of one chat: ``{"name", "type", "id", "messages": [...]}``.
* "Export Telegram data" of a whole account: an object with ``about`` and other
  sections, whose chats sit in ``chats.list[]`` and ``left_chats.list[]``, each
  shaped like a single-chat export.

Both old and new exports are read. Newer ones add ``date_unixtime`` /
``edited_unixtime`` (true UTC epoch seconds) and ``text_entities``; older ones
have only the local wall-clock ``date`` (read as UTC, see
:func:`~tg_parser.sources._desktop_message.to_message`), entities only in the
list form of ``text``, and a ``from_id`` that may be a number instead of
``"user123"`` (it is kept in ``raw`` only). Service messages
(``"type": "service"``) and ``unsupported`` placeholders are not posts: they are
counted, never yielded.

Streaming: the file is read with ijson (its C backend when built), one message
object at a time, so a 1 GB export never sits in memory. Telegram Desktop
writes a chat's ``name``, ``type`` and ``id`` before its ``messages``. When a
file puts them after (hand-edited or produced by another tool),
:meth:`DesktopExportSource.iter_all` does one extra metadata-only pass
(:meth:`DesktopExportSource.chats`) to learn the chat before yielding its
messages: memory stays flat, only time doubles, and only for such files.
:meth:`DesktopExportSource.iter_messages` knows its chat from the argument and
needs no extra pass.

Errors: a malformed message is *yielded* as an :class:`~tg_parser.errors.InputError`
naming the file and the message id, and reading goes on. A malformed file (not
JSON, truncated, wrong top-level shape, no ``messages`` anywhere) is *raised* as
an ``InputError`` naming the file; since the readers are generators, every
message before the fault has already been yielded when it is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tg_parser.domain import ChatInfo, Message
from tg_parser.domain.post_fields import PostFields
from tg_parser.errors import InputError
from tg_parser.sources._desktop_message import flatten_text, is_post, json_kind, to_message, to_post_fields
from tg_parser.sources._desktop_resume import resilient_walk
from tg_parser.sources._desktop_stream import (
    ChatEnd,
    ChatStart,
    RawMessage,
    head_meta,
    top_level_messages,
)
from tg_parser.sources._desktop_topics import DesktopForumTopics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["DesktopExportSource", "ExportStats", "ExportedChat", "flatten_text"]

#: Chat types Desktop writes without a ``name`` (``writeDialogStart``).
_NAMELESS_TYPES = frozenset({"saved_messages", "replies", "verification_codes"})


@dataclass(frozen=True)
class ExportedChat:
    """One chat inside an export file.

    Attributes:
        info: The chat: ``telegram_id`` is the export's ``id``, ``title`` its
            ``name`` (the ``type`` when the export names none, as for saved
            messages), ``chat_type`` its ``type`` (``public_channel``,
            ``private_supergroup``…). Desktop exports carry no username.
        index: 0-based position of the chat in the file.

    """

    info: ChatInfo
    index: int


@dataclass(frozen=True)
class ExportStats:
    """What the last read of one chat found.

    Attributes:
        posts: Messages yielded as posts.
        service: Messages that are not posts (service messages, ``unsupported``).
        errors: Malformed messages, yielded as ``InputError``.

    """

    posts: int
    service: int
    errors: int


@dataclass
class _Counts:
    posts: int = 0
    service: int = 0
    errors: int = 0
    #: The chat's forum topics as read so far (issue 13).
    topics: DesktopForumTopics = field(default_factory=DesktopForumTopics)


class DesktopExportSource:
    """Posts of a Telegram Desktop ``result.json``, single-chat or full-account.

    Every method streams the file anew; nothing is cached between calls. An
    instance is not meant to be shared between threads (it keeps the counts of
    its last read).

    Args:
        path: The ``result.json`` file.

    """

    def __init__(self, path: str | Path) -> None:
        """Remember the file; nothing is read yet."""
        self._path = Path(path)
        self._counts: dict[int, _Counts] = {}
        # What a post object becomes: a Message (to_message) or, for
        # iter_chat_fields, PostFields (to_post_fields); typed Any so the
        # shared readers keep their Message signatures.
        self._build: Callable[..., Any] = to_message

    @property
    def path(self) -> Path:
        """The export file."""
        return self._path

    def chats(self) -> list[ExportedChat]:
        """List the chats of the file in one streaming pass over metadata only.

        Returns:
            Every chat object that has a ``messages`` list, in file order
            (``chats.list`` then ``left_chats.list`` in a full-account export).

        Raises:
            InputError: When the file is malformed or a chat has no integer ``id``.

        """
        ended: dict[int, ExportedChat] = {}
        started: dict[int, dict[str, object]] = {}
        try:
            for event in resilient_walk(self._path, wants=_no_chat):
                if isinstance(event, ChatStart):
                    started[event.index] = event.meta
                elif isinstance(event, ChatEnd):
                    ended[event.index] = ExportedChat(
                        info=self._chat_info(event.meta, index=event.index), index=event.index
                    )
        except InputError as exc:
            # A file that breaks off inside a chat whose metadata came first
            # (as Desktop writes it) still lists that chat, so the posts before
            # the break can be imported; reading its messages raises the error.
            cut = [i for i in started if i not in ended and "id" in started[i]]
            if not (ended or cut) or not exc.reason.startswith("not valid JSON"):
                raise
            for index in cut:
                ended[index] = ExportedChat(info=self._chat_info(started[index], index=index), index=index)
        # A chat broken by damage (the walk resumed at the next chat) is still
        # listed, so its readable posts import; reading it reports the damage.
        for index, meta in started.items():
            if index not in ended and isinstance(meta.get("id"), int):
                ended[index] = ExportedChat(info=self._chat_info(meta, index=index), index=index)
        return [ended[i] for i in sorted(ended)]

    def head_chat(self) -> ExportedChat | None:
        """Return the chat of a single-chat export, read from the head of the file only.

        Telegram Desktop writes a single-chat export's ``name``, ``type`` and
        ``id`` before its ``messages``, so the chat is known after a few bytes,
        whatever the file's size; :meth:`chats` would parse the whole file.
        Such a file is taken to hold that one chat (Desktop never writes
        ``chats`` next to a top-level ``messages``).

        Returns:
            The chat (index 0), or ``None`` when the file is not a single-chat
            export with its metadata first (a full-account export, a
            hand-edited file, an unreadable head): use :meth:`chats` then.

        Raises:
            InputError: When the chat's ``id`` is not an integer.

        """
        meta = head_meta(self._path)
        if meta is None or not _meta_complete(meta):
            return None
        return ExportedChat(info=self._chat_info(meta, index=0), index=0)

    def iter_messages(self, chat: ExportedChat) -> Iterator[Message | InputError]:
        """Stream the posts of one chat, in file order.

        Reading stops at the end of that chat; later chats are not parsed.
        Counts are then available from :meth:`stats`.

        Args:
            chat: A chat from :meth:`chats` of this file.

        Yields:
            Each post as a :class:`Message`, and each malformed message as an
            ``InputError`` naming the file and message id.

        Raises:
            InputError: When the file is malformed (after yielding every message
                before the fault) or holds no chat at ``chat.index``.

        """
        counts = None
        for event in resilient_walk(self._path, wants=lambda index: index == chat.index):
            if isinstance(event, InputError):
                if counts is not None:
                    counts.errors += 1
                yield event
            elif isinstance(event, RawMessage):
                if counts is None:
                    counts = self._reset(chat.index)
                item = self._convert(event, chat=chat, counts=counts)
                if item is not None:
                    yield item
            elif event.index == chat.index:
                if isinstance(event, ChatStart):
                    counts = self._reset(chat.index)
                else:
                    return
        if counts is not None:  # the file broke off inside the chat (reported in its place)
            return
        msg = f"no chat at position {chat.index} (the file changed since chats() was read?)"
        raise InputError(msg, path=str(self._path))

    def iter_chat(self, telegram_id: int) -> Iterator[Message | InputError]:  # noqa: C901
        """Stream the posts of the chat with Telegram id ``telegram_id`` in one pass.

        Like :meth:`iter_messages` for that chat, without the metadata pass of
        :meth:`chats`: a chat is recognised by the ``id`` Desktop writes before
        its ``messages``. A file that writes a chat's metadata after its
        messages is read with that extra pass instead. A single-chat export
        (:meth:`head_chat`) takes the fast path: each message object is built
        by ijson's C backend rather than from parse events in Python.

        Args:
            telegram_id: The chat's ``id`` in the export.

        Yields:
            Each post as a :class:`Message`, and each malformed message as an
            ``InputError`` naming the file and message id.

        Raises:
            InputError: When the file is malformed (after yielding every message
                before the fault) or holds no chat with that id.

        """
        head = self.head_chat()
        if head is not None:
            yield from self._iter_head_chat(head, telegram_id=telegram_id)
            return
        wanted: set[int] = set()
        chat: ExportedChat | None = None
        counts = _Counts()
        for event in resilient_walk(self._path, wants=wanted.__contains__):
            if isinstance(event, InputError):
                counts.errors += 1
                yield event
            elif isinstance(event, ChatStart) and chat is None:
                if not _meta_complete(event.meta):
                    yield from self._iter_chat_two_pass(telegram_id)
                    return
                if event.meta["id"] == telegram_id:
                    chat = ExportedChat(
                        info=self._chat_info(event.meta, index=event.index), index=event.index
                    )
                    wanted.add(event.index)
                    counts = self._reset(event.index)
            elif isinstance(event, RawMessage) and chat is not None:
                item = self._convert(event, chat=chat, counts=counts)
                if item is not None:
                    yield item
            elif isinstance(event, ChatEnd) and chat is not None and event.index == chat.index:
                return
        if chat is not None:  # the file broke off inside the chat (reported in its place)
            return
        msg = f"export holds no chat with id {telegram_id}"
        raise InputError(msg, path=str(self._path))

    def iter_chat_fields(self, telegram_id: int) -> Iterator[PostFields | InputError]:
        """Stream the posts of a chat like :meth:`iter_chat`, each as plain :class:`PostFields`.

        The same posts, errors and order; no :class:`Message` models are built
        (the import into PostgreSQL encodes these values for ``COPY``).

        Raises:
            InputError: As :meth:`iter_chat`.
        """
        self._build = to_post_fields
        try:
            yield from cast("Iterator[PostFields | InputError]", self.iter_chat(telegram_id))
        finally:
            self._build = to_message

    def _iter_head_chat(self, chat: ExportedChat, *, telegram_id: int) -> Iterator[Message | InputError]:
        """Stream a single-chat export's posts with each message built in C (see :meth:`head_chat`)."""
        if chat.info.telegram_id != telegram_id:
            msg = f"export holds no chat with id {telegram_id}"
            raise InputError(msg, path=str(self._path))
        counts = self._reset(chat.index)
        for event in top_level_messages(self._path):
            if isinstance(event, InputError):  # a damaged stretch, the reading went on after it
                counts.errors += 1
                yield event
                continue
            item = self._convert(event, chat=chat, counts=counts)
            if item is not None:
                yield item

    def _iter_chat_two_pass(self, telegram_id: int) -> Iterator[Message | InputError]:
        for chat in self.chats():
            if chat.info.telegram_id == telegram_id:
                yield from self.iter_messages(chat)
                return
        msg = f"export holds no chat with id {telegram_id}"
        raise InputError(msg, path=str(self._path))

    def iter_all(self) -> Iterator[tuple[ExportedChat, Message | InputError]]:
        """Stream the posts of every chat in one pass over the file.

        Yields:
            ``(chat, post)`` or ``(chat, InputError)`` pairs in file order.

        Raises:
            InputError: When the file is malformed (after yielding every message
                before the fault) or a chat has no integer ``id``.

        """
        by_index: dict[int, ExportedChat] | None = None
        chat: ExportedChat | None = None
        counts = _Counts()
        for event in resilient_walk(self._path, wants=_every_chat):
            if isinstance(event, InputError):
                if chat is not None:
                    counts.errors += 1
                    yield chat, event
            elif isinstance(event, RawMessage):
                if chat is None:  # pragma: no cover - walk starts every chat first
                    continue
                item = self._convert(event, chat=chat, counts=counts)
                if item is not None:
                    yield chat, item
            elif isinstance(event, ChatStart):
                if _meta_complete(event.meta):
                    chat = ExportedChat(
                        info=self._chat_info(event.meta, index=event.index), index=event.index
                    )
                else:
                    if by_index is None:
                        by_index = {known.index: known for known in self.chats()}
                    chat = by_index[event.index]
                counts = self._reset(event.index)

    def stats(self, chat: ExportedChat) -> ExportStats:
        """Return the counts of the last read of ``chat`` by this instance.

        Args:
            chat: A chat of this file.

        Returns:
            Posts, non-post messages and malformed messages seen so far (all
            zero when the chat has not been read). After a complete read,
            ``posts + service + errors`` is the length of its ``messages`` list.

        """
        counts = self._counts.get(chat.index, _Counts())
        return ExportStats(posts=counts.posts, service=counts.service, errors=counts.errors)

    def _reset(self, index: int) -> _Counts:
        counts = _Counts()
        self._counts[index] = counts
        return counts

    def _chat_info(self, meta: dict[str, Any], *, index: int) -> ChatInfo:
        telegram_id = meta.get("id")
        if not isinstance(telegram_id, int) or isinstance(telegram_id, bool):
            msg = f"chat {index} has {json_kind(telegram_id)} as its id, expected an integer"
            raise InputError(msg, path=str(self._path))
        chat_type = meta.get("type") if isinstance(meta.get("type"), str) else None
        name = meta.get("name")
        title = name if isinstance(name, str) else (chat_type or str(telegram_id))
        return ChatInfo(telegram_id=telegram_id, title=title, chat_type=chat_type)

    def _convert(
        self,
        event: RawMessage,
        *,
        chat: ExportedChat,
        counts: _Counts,
    ) -> Message | InputError | None:
        raw = event.value
        if not isinstance(raw, dict):
            counts.errors += 1
            where = f"chat {chat.index} ({chat.info.title!r}), message #{event.position}"
            return InputError(f"{where} is {json_kind(raw)}, expected an object", path=str(self._path))
        try:
            if not is_post(raw):
                counts.service += 1
                counts.topics.see_service(raw)
                return None
            message: Message = counts.topics.place(self._build(raw, channel_id=chat.info.telegram_id), raw)
        except InputError as exc:
            counts.errors += 1
            where = f"chat {chat.index} ({chat.info.title!r}), message #{event.position}"
            return InputError(
                f"{exc.reason} ({where})",
                path=str(self._path),
                message_id=_id_for_error(raw.get("id")),
            )
        counts.posts += 1
        return message


def _no_chat(_index: int) -> bool:
    return False


def _every_chat(_index: int) -> bool:
    return True


def _meta_complete(meta: dict[str, Any]) -> bool:
    """Tell whether a chat's metadata is all known when its messages start."""
    return "id" in meta and "type" in meta and ("name" in meta or meta["type"] in _NAMELESS_TYPES)


def _id_for_error(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    return repr(value)
