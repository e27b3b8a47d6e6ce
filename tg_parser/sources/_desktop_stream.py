# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Stream the chats and message objects of a Telegram Desktop ``result.json``.

Private helper of :mod:`tg_parser.sources.desktop_export`. It walks ijson's
parse events once, keeps only the metadata of the chat being read, and builds
one message object at a time, so memory stays flat however large the file is.

Layouts (from Telegram Desktop's ``JsonWriter`` in
``export/output/export_output_json.cpp``): a single-chat export is one object
``{"name", "type", "id", "messages": [...]}``; a full-account export is an
object whose ``chats.list[]`` and ``left_chats.list[]`` hold such chat objects
next to other sections (``about``, ``contacts``, ``sessions``…), which are
skipped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ijson

from tg_parser.errors import InputError
from tg_parser.sources._desktop_split import NotSplittableError, elements
from tg_parser.sources._resync import GuardedReader, HostileInputError, parser_reason

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

#: Where chat objects live: the top level (single-chat export) and the two
#: lists of a full-account export.
CHAT_PREFIXES: tuple[str, ...] = ("", "chats.list.item", "left_chats.list.item")
#: Chat metadata keys kept while streaming.
META_KEYS: tuple[str, ...] = ("name", "type", "id")

_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})
_STRUCTURAL = _STARTS | _ENDS | {"map_key"}
_ARRAY_EVENTS = frozenset({"start_array", "end_array"})


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _roles() -> dict[str, tuple[str, str, str]]:
    """Map an ijson prefix to ``(role, chat prefix, metadata key)``."""
    roles: dict[str, tuple[str, str, str]] = {}
    for chat in CHAT_PREFIXES:
        roles[chat] = ("chat", chat, "")
        roles[_join(chat, "messages")] = ("messages", chat, "")
        roles[_join(chat, "messages.item")] = ("message", chat, "")
        for key in META_KEYS:
            roles[_join(chat, key)] = ("meta", chat, key)
    return roles


_ROLES = _roles()


@dataclass(frozen=True, slots=True)
class ChatStart:
    """The ``messages`` key of a chat object was reached.

    Attributes:
        index: 0-based position of the chat among the file's chats.
        meta: The metadata (``name``, ``type``, ``id``) seen so far.

    """

    index: int
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One element of a chat's ``messages`` list, as parsed.

    Attributes:
        index: Position of the chat in the file.
        position: 0-based position of the message in the chat's list.
        value: The parsed element (normally an object).

    """

    index: int
    position: int
    value: Any


@dataclass(frozen=True, slots=True)
class ChatEnd:
    """A chat object closed; its metadata is now complete.

    Attributes:
        index: Position of the chat in the file.
        meta: The chat's ``name``, ``type`` and ``id`` (those present).

    """

    index: int
    meta: dict[str, Any]


StreamEvent = ChatStart | RawMessage | ChatEnd


@dataclass(slots=True)
class _ChatState:
    meta: dict[str, Any] = field(default_factory=dict)
    index: int | None = None
    position: int = 0


@functools.cache
def _backend() -> Any:
    """Return ijson's C (yajl2_c) backend, or ijson's default when it is not built."""
    try:
        return ijson.get_backend("yajl2_c")
    except ImportError:
        return ijson


def walk(
    path: Path,
    *,
    wants: Callable[[int], bool],
    start: int = 0,
    prefix: bytes = b"",
    seen: int = 0,
    carry: dict[str, Any] | None = None,
) -> Iterator[StreamEvent]:
    """Stream the chats of an export and the messages of the chats wanted.

    Args:
        path: The ``result.json`` file.
        wants: Called with a chat's index; message objects are built and
            yielded only for chats it accepts (others are skipped unparsed).
        start: Byte to read from (a restart after damage, see
            :mod:`tg_parser.sources._desktop_resume`); 0 reads the whole file.
        prefix: Synthetic bytes read before ``start`` that put the parser back
            in its place (``{"chats":{"list":[`` …).
        seen: Index of the first chat met (chats before ``start``).
        carry: Metadata of the chat the restart is inside of.

    Yields:
        For each chat, in file order: :class:`ChatStart`, its
        :class:`RawMessage` items (when wanted), :class:`ChatEnd`.

    Raises:
        InputError: Naming the file, when it cannot be read, is not JSON, ends
            early, has the wrong top-level shape or holds no ``messages`` list.
            Everything before the fault has been yielded already. A parser
            stop carries ``offset``: how far the file had been read.

    """
    try:
        with path.open("rb") as handle:
            reader = GuardedReader(handle, path=str(path), start=start, prefix=prefix)
            events = _backend().parse(reader, use_float=True)
            try:
                yield from _walk_events(events, path=path, wants=wants, seen=seen, carry=carry)
            except HostileInputError:
                raise
            except (ijson.JSONError, UnicodeDecodeError) as exc:
                raise _json_error(exc, path=path, offset=reader.offset) from exc
    except OSError as exc:
        msg = f"cannot read the export: {exc.strerror or exc}"
        raise InputError(msg, path=str(path)) from exc


def head_meta(path: Path) -> dict[str, Any] | None:
    """Read the metadata of a single-chat export from the head of the file only.

    Parsing stops at the top-level ``messages`` key, so the cost does not grow
    with the file (Desktop writes ``name``, ``type`` and ``id`` first).

    Args:
        path: The ``result.json`` file.

    Returns:
        The top-level ``name``/``type``/``id`` seen before ``messages`` (those
        present), or ``None`` when the top level is not a chat whose
        ``messages`` list comes before any ``chats``/``left_chats`` section, or
        the head cannot be parsed (a full read then reports the fault).

    """
    try:
        with path.open("rb") as handle:
            events = _backend().parse(GuardedReader(handle, path=str(path)), use_float=True)
            first = next(events, None)
            if first is None or first[1] != "start_map":
                return None
            meta: dict[str, Any] = {}
            for prefix, event, value in events:
                if prefix != "" or event != "map_key":
                    if prefix in META_KEYS and event not in _STRUCTURAL:
                        meta[prefix] = value
                    continue
                if value == "messages":
                    # A list, else a full read reports the wrong shape.
                    return meta if next(events, ("", "", None))[1] == "start_array" else None
                if value in ("chats", "left_chats"):
                    return None
    except (OSError, ijson.JSONError, UnicodeDecodeError, InputError):
        return None
    return None


def top_level_messages(path: Path) -> Iterator[RawMessage | InputError]:
    """Stream the top-level ``messages`` list of a single-chat export, one element at a time.

    Each element's bytes are cut out of the list and parsed by orjson
    (:mod:`tg_parser.sources._desktop_split`, which says why the cut is
    exact); wherever that is not certain (an unusual layout, a malformed or
    truncated file) ijson's ``items`` (in C with the yajl2_c backend) reads on
    from that element, so values and errors are ijson's. Nothing outside that
    list is looked at. When ijson stops on damage, reading resumes at the next
    message object (:mod:`tg_parser.sources._desktop_resume`): the damaged
    message is yielded as an :class:`InputError` (with ``unread`` set when
    more than that one message may be lost), or read by the standard
    library's decoder when it is valid JSON the C backend refused (an integer
    beyond 64 bits).

    Args:
        path: A ``result.json`` for which :func:`head_meta` returned metadata.

    Yields:
        Each element as a :class:`RawMessage` of chat 0, in file order, and
        each damaged stretch as an :class:`InputError`.

    Raises:
        InputError: Naming the file, when it cannot be read, is UTF-16/32, or
            breaks off where nothing after the last good message can be found.

    """
    done = 0
    try:
        with path.open("rb") as handle:
            for value in elements(handle, ijson_backend=_backend()):
                yield RawMessage(index=0, position=done, value=value)
                done += 1
            return
    except NotSplittableError:
        pass
    except OSError as exc:
        msg = f"cannot read the export: {exc.strerror or exc}"
        raise InputError(msg, path=str(path)) from exc
    yield from _ijson_messages(path, skip=done)


def _ijson_messages(path: Path, *, skip: int) -> Iterator[RawMessage | InputError]:
    """Stream the top-level ``messages`` list with ijson's ``items``, resyncing after damage.

    The first ``skip`` elements (already read by the fast path) are not yielded again.
    """
    start, prefix, position = 0, b"", 0
    try:
        with path.open("rb") as handle:
            while True:
                reader = GuardedReader(handle, path=str(path), start=start, prefix=prefix)
                elements_ = _backend().items(reader, "messages.item", use_float=True)
                value: Any = None
                first = position
                try:
                    for value in elements_:
                        if position >= skip:
                            yield RawMessage(index=0, position=position, value=value)
                        position += 1
                    return  # noqa: TRY300 - the clean end; the handler resumes after damage
                except (ijson.JSONError, UnicodeDecodeError, HostileInputError) as exc:
                    from tg_parser.sources._desktop_resume import resume_point

                    last = value if position > first else None
                    outcome = resume_point(path, last=last, lower=start, upper=reader.offset, exc=exc)
                for item in outcome.values:
                    yield RawMessage(index=0, position=position, value=item)
                    position += 1
                for error in outcome.errors:
                    position += 1
                    yield error
                if outcome.resume is None:
                    return
                start, prefix = outcome.resume, b'{"messages":['
    except OSError as exc:
        msg = f"cannot read the export: {exc.strerror or exc}"
        raise InputError(msg, path=str(path)) from exc


def _json_error(exc: BaseException, *, path: Path, offset: int) -> InputError:
    msg = f"not valid JSON ({parser_reason(exc)}), before byte {offset}"
    return InputError(msg, path=str(path), offset=offset)


def _walk_events(
    events: Iterator[tuple[str, str, Any]],
    *,
    path: Path,
    wants: Callable[[int], bool],
    seen: int = 0,
    carry: dict[str, Any] | None = None,
) -> Iterator[StreamEvent]:
    events = iter(events)
    _check_top_level(next(events, None), path=path)
    chats = _Chats(path=path)
    chats.seen, chats.carry = seen, carry
    for prefix, event, value in events:
        role = _ROLES.get(prefix)
        if role is None:
            continue
        kind, chat_prefix, key = role
        if kind == "message":
            state = chats.states.get(chat_prefix)
            if state is None or state.index is None or event in _ENDS:
                continue
            position = state.position
            state.position += 1
            if wants(state.index):
                message = _build(events, prefix=prefix, event=event, value=value)
                yield RawMessage(index=state.index, position=position, value=message)
            elif event in _STARTS:
                _skip(events, prefix=prefix)
        elif kind == "meta":
            chats.on_meta(chat_prefix, key=key, event=event, value=value)
        else:
            found = chats.on_chat(kind, chat_prefix, event=event, value=value)
            if found is not None:
                yield found
    if chats.seen == 0:
        msg = (
            "no messages anywhere: expected a chat export (name, type, id, messages) "
            "or a full-account export (chats.list[], left_chats.list[])"
        )
        raise InputError(msg, path=str(path))


def _check_top_level(first: tuple[str, str, Any] | None, *, path: Path) -> None:
    if first is None or first[1] != "start_map":
        found = "nothing" if first is None else _shape(first[1])
        msg = f"top level is {found}; a Telegram Desktop result.json is a JSON object"
        raise InputError(msg, path=str(path))


class _Chats:
    """The chat objects open at the current point of the parse."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self.states: dict[str, _ChatState] = {"": _ChatState()}
        self.seen = 0
        self.carry: dict[str, Any] | None = None  # metadata of a chat a restart is inside of

    def on_meta(self, chat_prefix: str, *, key: str, event: str, value: Any) -> None:
        state = self.states.get(chat_prefix)
        if state is not None and event not in _STRUCTURAL:
            state.meta[key] = value

    def on_chat(self, kind: str, chat_prefix: str, *, event: str, value: Any) -> StreamEvent | None:
        state = self.states.get(chat_prefix)
        if kind == "messages":
            if event not in _ARRAY_EVENTS:
                where = f"chat {state.index}" if state is not None and state.index is not None else "a chat"
                msg = f"messages of {where} is {_shape(event)}, expected a list"
                raise InputError(msg, path=str(self.path))
            return None
        if event == "start_map":
            self.states[chat_prefix] = _ChatState(meta=self.carry or {})
            self.carry = None
        elif event == "map_key" and value == "messages" and state is not None:
            state.index = self.seen
            self.seen += 1
            return ChatStart(index=state.index, meta=dict(state.meta))
        elif event == "end_map" and state is not None:
            del self.states[chat_prefix]
            if state.index is not None:
                return ChatEnd(index=state.index, meta=state.meta)
        return None


def _build(events: Iterator[tuple[str, str, Any]], *, prefix: str, event: str, value: Any) -> Any:
    """Build the value that starts with ``(prefix, event, value)`` from the next events.

    The same result as ijson's ``ObjectBuilder``, with the container stack
    kept in locals: this loop runs once per JSON token of every message, and
    ``ObjectBuilder.event`` costs two Python calls per token.
    """
    del prefix  # the matching end event is found by depth
    if event not in _STARTS:
        return value
    root: Any = {} if event == "start_map" else []
    stack: list[Any] = [root]
    top: Any = root
    key: Any = None
    for _prefix, inner_event, inner_value in events:
        if inner_event == "map_key":
            key = inner_value
        elif inner_event in _STARTS:
            child: Any = {} if inner_event == "start_map" else []
            if type(top) is dict:
                top[key] = child
            else:
                top.append(child)
            stack.append(child)
            top = child
        elif inner_event in _ENDS:
            stack.pop()
            if not stack:
                break
            top = stack[-1]
        elif type(top) is dict:
            top[key] = inner_value
        else:
            top.append(inner_value)
    return root


def _skip(events: Iterator[tuple[str, str, Any]], *, prefix: str) -> None:
    """Consume the events of a value whose start event at ``prefix`` was just read."""
    for inner_prefix, inner_event, _ in events:
        if inner_event in _ENDS and inner_prefix == prefix:
            return


def _shape(event: str) -> str:
    shapes = {
        "start_map": "an object",
        "start_array": "a list",
        "string": "a string",
        "number": "a number",
        "integer": "a number",
        "double": "a number",
        "boolean": "a boolean",
        "null": "null",
    }
    return shapes.get(event, event)
