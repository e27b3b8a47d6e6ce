# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Go on reading an export after the parser stopped on damage (imported only then).

Private helper of :mod:`tg_parser.sources._desktop_stream` and
:mod:`tg_parser.sources.desktop_export`. The clean path never comes here: the
fast readers catch the parser's error and hand over to :func:`recover`, which
finds (with :class:`~tg_parser.sources._resync.FileMap`) the end of the last
good message, reads the next message with the standard library's decoder
when it is valid JSON the C backend refused (an integer beyond 64 bits), or
else records it as damaged, and says where the next message starts. The
caller restarts its parser there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tg_parser.errors import InputError
from tg_parser.sources._resync import (
    FileMap,
    HostileInputError,
    chat_list_prefix,
    chat_object_prefix,
    damage_error,
    parser_reason,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tg_parser.sources._desktop_stream import ChatStart, StreamEvent


MAX_REDECODE_BYTES = 4 * 1024 * 1024
"""Largest message re-read by the fallback decoder: Telegram caps a message at 4,096
characters (a caption at 1,024), so a bigger object is damage, not a post."""


@dataclass
class Recovery:
    """What to do after one stop of the parser.

    Attributes:
        values: Message values read by the fallback decoder, in order.
        errors: Input errors to report (the damaged message, or an unread stretch).
        resume: Byte where the next message object starts, or ``None``: stop
            reading this chat (its list ended, or nothing readable follows).

    """

    values: list[Any] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    resume: int | None = None


def recover(
    fm: FileMap,
    *,
    path: Path,
    last: Any,
    lower: int,
    upper: int,
    list_start: int | None,
    exc: BaseException,
) -> Recovery:
    """Decide how to go on after the parser stopped inside a chat's ``messages`` list.

    Args:
        fm: The mapped file.
        path: The file, for errors.
        last: The last message value read since the parser (re)started, or
            ``None`` when none was.
        lower: Where the parser (re)started (a message start, or 0).
        upper: How far the parser had read when it stopped.
        list_start: The byte after the chat's ``messages`` ``[`` (used when
            ``last`` is ``None`` and the parser started at 0).
        exc: What the parser raised.

    Returns:
        The :class:`Recovery`.

    Raises:
        InputError: When the position of the damage cannot be found at all
            (nothing after the last good message can be located); it names
            the file and the parser's reason.

    """
    reason = parser_reason(exc)
    if last is not None:
        start = fm.end_of_message(last, lower=lower, upper=upper)
        if start is None:
            start = _walk_elements(fm, lower=lower, list_start=list_start)
    else:
        start = lower if lower > 0 else list_start
    if start is None:
        msg = f"not valid JSON ({reason}), before byte {upper}"
        raise InputError(msg, path=str(path), offset=upper)
    if fm.list_ended(start):
        # The damage lies after this chat's list (later sections): every message was read.
        return Recovery()
    skip = fm.skip_from(start)
    end = skip.resume if skip.resume is not None else fm.size
    if skip.one_message and not isinstance(exc, HostileInputError) and end - skip.start <= MAX_REDECODE_BYTES:
        decoded = fm.decode_message(_object_start(fm, skip.start), limit=skip.resume)
        if decoded is not None and isinstance(decoded[0], dict):
            return Recovery(values=[decoded[0]], resume=skip.resume)
    return Recovery(
        errors=[damage_error(skip, path=str(path), reason=reason, file_size=fm.size)], resume=skip.resume
    )


def _object_start(fm: FileMap, start: int) -> int:
    """Return where the message object that starts right after ``start`` opens (its ``{``)."""
    brace = fm.slice(start, min(fm.size, start + 256)).find(b"{")
    return start + brace if brace >= 0 else start


def _walk_elements(fm: FileMap, *, lower: int, list_start: int | None) -> int | None:
    """Fall back when the last message cannot be found by its id (it has none, or not an integer).

    Reading resumes where the parser last (re)started: messages read since
    are read again (the store keeps one row per id), and each round passes
    at least one more message, so the read ends.
    """
    del fm
    return lower if lower > 0 else list_start


def resume_point(path: Path, *, last: Any, lower: int, upper: int, exc: BaseException) -> Recovery:
    """:func:`recover` for the ``messages`` list of a single-chat export (the file's first one)."""
    fm = FileMap(path)
    try:
        return recover(
            fm, path=path, last=last, lower=lower, upper=upper, list_start=fm.single_messages_start(), exc=exc
        )
    finally:
        fm.close()


def resilient_walk(  # noqa: C901, PLR0912, PLR0915 - one loop: read, stop on damage, resume
    path: Path, *, wants: Callable[[int], bool]
) -> Iterator[StreamEvent | InputError]:
    """:func:`~tg_parser.sources._desktop_stream.walk` that goes on after damage.

    Inside the ``messages`` of a wanted chat, reading resumes at the next
    message object (see :func:`recover`); anywhere else (a chat not wanted,
    metadata, other sections) at the next chat object. Errors of a wanted
    chat are yielded in its place; damage elsewhere costs nothing the caller
    asked for and is not reported.

    Args:
        path: The ``result.json`` file.
        wants: As for ``walk``.

    Yields:
        ``walk``'s events, and :class:`InputError` items for damaged stretches
        of wanted chats.

    Raises:
        InputError: When the file cannot be read, is not JSON where no chat
            can be found after the fault, or has the wrong shape.

    """
    from tg_parser.sources._desktop_stream import ChatEnd, ChatStart, RawMessage, walk

    start, prefix, seen, carry = 0, b"", 0, None
    current: ChatStart | None = None
    last_ended: int | None = None  # telegram id of the last chat read to its end
    last: Any = None
    read = False
    drop_start: int | None = None
    next_index = 0
    fm: FileMap | None = None
    try:
        while True:
            try:
                for event in walk(path, wants=wants, start=start, prefix=prefix, seen=seen, carry=carry):
                    if isinstance(event, RawMessage):
                        last, read = event.value, True
                    elif isinstance(event, ChatStart):
                        if drop_start == event.index:
                            drop_start = None
                            continue
                        current, last, read, next_index = event, None, False, event.index + 1
                    elif isinstance(event, ChatEnd):
                        current = None
                        last_ended = (
                            event.meta.get("id") if isinstance(event.meta.get("id"), int) else last_ended
                        )
                    yield event
                return  # noqa: TRY300 - the clean end; the handler resumes after damage
            except InputError as exc:
                if exc.offset is None:
                    raise
                fm = fm or FileMap(path)
                upper = exc.offset
                reported = False
                if current is not None and wants(current.index) and isinstance(current.meta.get("id"), int):
                    found = fm.find_chat(current.meta["id"])
                    list_start = found[1] if found else None
                    chat_prefix = found[2] if found else ""
                    rec = recover(
                        fm,
                        path=path,
                        last=last if read else None,
                        lower=start,
                        upper=upper,
                        list_start=list_start,
                        exc=exc.__cause__ if exc.__cause__ is not None else exc,
                    )
                    for value in rec.values:
                        last, read = value, True
                        yield RawMessage(index=current.index, position=-1, value=value)
                    yield from rec.errors
                    reported = bool(rec.errors)
                    if rec.resume is not None and rec.resume > start:
                        start, prefix = rec.resume, chat_list_prefix(chat_prefix)
                        seen, carry, drop_start = current.index, dict(current.meta), current.index
                        read = False
                        continue
                    if rec.resume is None and not rec.errors and found is not None:
                        # The list is complete; the damage lies after it in this chat.
                        last_ended = current.meta["id"]
                after = start
                if last_ended is not None:
                    done = fm.find_chat(last_ended)
                    after = max(after, done[0] + 1) if done else after
                if current is not None and isinstance(current.meta.get("id"), int):
                    here = fm.find_chat(current.meta["id"], after=0)
                    after = max(after, here[0] + 1) if here else after
                nxt = fm.next_chat(after)
                if nxt is None or nxt[0] <= start:
                    if reported:  # the damage is in the place of the chat's messages already
                        return
                    raise
                reported = False
                start, prefix, seen, carry = nxt[0], chat_object_prefix(nxt[2]), next_index, None
                current, last, read, drop_start = None, None, False, None
    finally:
        if fm is not None:
            fm.close()
