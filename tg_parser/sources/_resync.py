# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Guard the byte stream of an export and find where to resume after damage.

Private helper of :mod:`tg_parser.sources._desktop_stream`. Two parts:

* :class:`GuardedReader`, the file object ijson reads. It accepts a UTF-8
  byte-order mark, refuses UTF-16 and UTF-32 (naming the encoding), and
  refuses hostile input before the parser spends memory on it: nesting deeper
  than :data:`MAX_NESTING` levels, and a single token (string, number,
  whitespace run) longer than :data:`MAX_TOKEN_BYTES`. Its cost on a clean
  file is two numpy compares and one ``bytes.rfind`` per 64 KiB chunk.
* The resync scan: after the parser stops on a damaged message, the file is
  searched (by regular expression over a memory map, only then) for the end of
  the last good message and the start of the next message object, so the
  parser can restart there behind a synthetic prefix that puts it back in the
  same place of the document (``{"messages":[`` for a single-chat export,
  ``{"chats":{"list":[{"messages":[`` inside a full-account export).

Message starts are recognised by the way Telegram Desktop writes a message
object (``JsonWriter`` in tdesktop's ``export_output_json.cpp``): ``{`` then
``"id": <integer>,`` then ``"type": "``, right after the ``[`` or ``,`` of the
``messages`` list. Chat starts by ``{`` then an optional ``"name"``, then
``"type"``, ``"id"`` and ``"messages": [``.

Why the limits: ijson's C backend keeps the dotted prefix of every open level
(``item.item.item…``), so memory grows with the square of the depth: 20,000
levels take about 1 GB (measured with ijson 3.6). At 4,096 levels it is
about 40 MB. Real exports nest fewer than ten levels. A 16 MiB token is far
beyond any Telegram text (4,096 characters for a message, 1,024 for a
caption) yet bounded.
"""

from __future__ import annotations

import json
import mmap
import re
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from tg_parser.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

#: Deepest nesting of arrays and objects accepted while streaming (see module doc).
MAX_NESTING = 4096
#: Longest run of bytes without a ``"`` accepted: bounds any single string or token.
MAX_TOKEN_BYTES = 16 * 1024 * 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "UTF-32-BE"),
    (b"\xff\xfe\x00\x00", "UTF-32-LE"),
    (b"\xfe\xff", "UTF-16-BE"),
    (b"\xff\xfe", "UTF-16-LE"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
_OPEN = ord("{")  # ``[`` | 0x20
_CLOSE = ord("}")  # ``]`` | 0x20
#: Bytes a JSON object or list may start with (RFC 8259: blanks, then ``{`` or ``[``).
_JSON_FIRST = frozenset(b"{[ \t\r\n")

_MESSAGE_START = re.compile(rb'[\[,]\s*(\{\s*"id"\s*:\s*(-?\d+)\s*,\s*"type"\s*:\s*")')
_CHAT_START = re.compile(
    rb'\{\s*(?:"name"\s*:\s*(?:null|"(?:[^"\\]|\\.)*")\s*,\s*)?'
    rb'"type"\s*:\s*"\w+"\s*,\s*"id"\s*:\s*(-?\d+)\s*,\s*"messages"\s*:\s*\['
)
_OBJECT_START = re.compile(rb'\{\s*"id"\s*:\s*(-?\d+)\s*,\s*"type"\s*:\s*"')
#: Bytes other than blanks, ``,`` and ``[`` allowed before a message start for it to count as "right there".
_SEPARATOR_SLACK = 2
_SINGLE_MESSAGES = re.compile(rb'"messages"\s*:\s*\[')
_LEFT_CHATS = re.compile(rb'"left_chats"\s*:\s*\{')
_ID_NEAR = re.compile(rb'"id"\s*:\s*(-?\d+)')
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_QUOTE = ord('"')
_OPENERS = frozenset(b"[{")
_NEXT_BYTE = re.compile(rb"[^\s,]")


def _no_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


#: The fallback decoder: the standard library's, without the NaN/Infinity extension.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


class HostileInputError(InputError):
    """The stream was refused by :class:`GuardedReader` at byte ``offset`` (too deep, too long)."""

    def __init__(self, message: str, *, path: str, offset: int) -> None:
        """Keep the offset next to the reason."""
        super().__init__(message, path=path, offset=offset)


def detect_encoding(head: bytes) -> str | None:
    """Name the encoding of a file that is JSON but not UTF-8, from its first bytes.

    Rule source: RFC 4627 section 3 (the first two characters of JSON text are
    ASCII, so the pattern of NUL bytes names the encoding) and the byte-order
    marks of UTF-16 and UTF-32.

    Args:
        head: The first four bytes (or fewer) of the file.

    Returns:
        ``"UTF-16-LE"``, ``"UTF-16-BE"``, ``"UTF-32-LE"``, ``"UTF-32-BE"``,
        or ``None`` for UTF-8 (with or without a mark) and anything else.

    """
    for mark, name in _BOMS:
        if head.startswith(mark):
            return name
    if len(head) >= 4:  # noqa: PLR2004 - four bytes tell UTF-32
        if head[:3] == b"\x00\x00\x00" and head[3] in _JSON_FIRST:
            return "UTF-32-BE"
        if head[1:4] == b"\x00\x00\x00" and head[0] in _JSON_FIRST:
            return "UTF-32-LE"
    if len(head) >= 2:  # noqa: PLR2004 - two bytes tell UTF-16
        if head[0] == 0 and head[1] in _JSON_FIRST:
            return "UTF-16-BE"
        if head[0] in _JSON_FIRST and head[1] == 0:
            return "UTF-16-LE"
    return None


class GuardedReader:
    """A binary file, read from ``start``, behind an optional synthetic ``prefix``.

    ``offset`` is the position in the file of the next byte handed out (the
    prefix is not counted). See the module docstring for what is refused.

    Args:
        handle: The file, opened ``rb``.
        path: Its name, for errors.
        start: Byte offset to read from; 0 checks the encoding and skips a UTF-8 mark.
        prefix: Bytes handed out before the file's.

    Raises:
        InputError: From :meth:`read`: the file is UTF-16 or UTF-32.
        HostileInputError: From :meth:`read`: nesting or a token beyond the limits.

    """

    def __init__(self, handle: IO[bytes], *, path: str, start: int = 0, prefix: bytes = b"") -> None:
        """Position the file; nothing is read yet."""
        self._handle = handle
        self._path = path
        self._prefix = prefix
        self._depth = prefix.count(b"[") + prefix.count(b"{")
        #: ``(byte, depth)`` where the exact nesting is known, outside any string.
        self._known = (start, self._depth)
        self._since_quote = 0
        self._pending: HostileInputError | None = None
        handle.seek(start)
        self.offset = start
        if start == 0:
            head = handle.read(4)
            encoding = detect_encoding(head)
            if encoding is not None:
                codec = encoding.replace("-", "")
                msg = (
                    f"the file is {encoding} text; Telegram Desktop writes UTF-8 "
                    f"(convert it first, e.g. iconv -f {codec} -t UTF-8)"
                )
                raise InputError(msg, path=path)
            skip = 3 if head.startswith(_UTF8_BOM) else 0
            handle.seek(skip)
            self.offset = skip

    def read(self, size: int = -1) -> bytes:
        """Return the next bytes (at most ``size``), after checking them."""
        if self._pending is not None:
            raise self._pending
        if size == 0:  # ijson asks for 0 bytes to learn whether the file gives bytes or text
            return b""
        if self._prefix:
            chunk, self._prefix = self._prefix, b""
            return chunk
        chunk = self._handle.read(size)
        start = self.offset
        self.offset += len(chunk)
        if not chunk:
            return chunk
        # ``[``/``{`` are 0x5B/0x7B and ``]``/``}`` 0x5D/0x7D: setting bit 0x20 folds each pair
        # into one value, so two vector compares count them (bytes.count is ~5x slower per chunk).
        folded = np.frombuffer(chunk, np.uint8) | 0x20
        opens = int(np.count_nonzero(folded == _OPEN))
        if self._depth + opens > MAX_NESTING:
            # Suspicious (the count ignores strings): measure exactly from the last known point.
            cut, self._depth, self._known = _scan_depth(self._path, self._known, start + len(chunk))
            if cut is not None:
                msg = f"nesting deeper than {MAX_NESTING} levels at byte {cut}"
                self._pending = HostileInputError(msg, path=self._path, offset=cut)
                self.offset = cut
                return chunk[: cut - start]
        else:
            self._depth = max(0, self._depth + opens - int(np.count_nonzero(folded == _CLOSE)))
        quote = chunk.rfind(b'"')
        if quote < 0:
            self._since_quote += len(chunk)
            if self._since_quote > MAX_TOKEN_BYTES:
                at = start + len(chunk) - self._since_quote
                msg = (
                    f"a single value runs over {MAX_TOKEN_BYTES // (1024 * 1024)} MiB from byte {max(at, 0)}"
                )
                raise HostileInputError(msg, path=self._path, offset=self.offset)
        else:
            self._since_quote = len(chunk) - quote - 1
        return chunk


def _scan_depth(path: str, known: tuple[int, int], end: int) -> tuple[int | None, int, tuple[int, int]]:
    """Measure the nesting of the file from a known point up to ``end``, strings skipped.

    Runs only when the cheap per-chunk count says the nesting may pass
    :data:`MAX_NESTING` (deep data, or many brackets inside strings).

    Args:
        path: The file.
        known: ``(byte, depth)`` outside any string where the depth is exact.
        end: Scan up to this byte.

    Returns:
        ``(byte where the nesting passes the limit, or None; the depth at the
        last token before end; the new known point)``.

    """
    pos, depth = known
    with open(path, "rb") as handle:  # noqa: PTH123 - a path string, as the reader got it
        data: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        for m in _TOKENS.finditer(data, pos):
            if m.start() >= end:
                break
            first = data[m.start()]
            if first == _QUOTE:
                pos = m.end()
                continue
            depth = depth + 1 if first in _OPENERS else max(depth - 1, 0)
            if depth > MAX_NESTING:
                return m.start(), depth, (m.end(), depth)
            pos = m.end()
    finally:
        data.close()
    return None, depth, (max(pos, known[0]), depth)


@dataclass(frozen=True)
class Skip:
    """Where a damaged stretch starts and where reading resumes.

    Attributes:
        start: First byte not read (just after the last good message).
        resume: Start of the next message object, or ``None``: none follows.
        message_id: Id of the damaged message when its start could be read.
        one_message: The stretch is exactly one message whose start was
            recognised (so it is dead-lettered alone; nothing else is lost).

    """

    start: int
    resume: int | None
    message_id: int | None
    one_message: bool


class FileMap:
    """A read-only memory map of the export, for the resync scans (opened only after damage)."""

    def __init__(self, path: Path) -> None:
        """Map the file (an empty file maps to ``b""``)."""
        with path.open("rb") as handle:
            try:
                self.data: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # empty file
                self.data = b""
        self.size = len(self.data)

    def close(self) -> None:
        """Unmap the file."""
        if isinstance(self.data, mmap.mmap):
            self.data.close()

    def single_messages_start(self) -> int | None:
        """Return the byte after the ``[`` of the first ``"messages": [`` in the file."""
        m = _SINGLE_MESSAGES.search(self.data)
        return m.end() if m else None

    def find_chat(self, chat_id: int, *, after: int = 0) -> tuple[int, int, str] | None:
        """Find the chat object with ``chat_id`` at or after ``after``.

        Returns:
            ``(its start, the byte after its messages' [, its chat prefix)`` or ``None``.
        """
        pos = after
        while True:
            m = _CHAT_START.search(self.data, pos)
            if m is None:
                return None
            if int(m.group(1)) == chat_id:
                return m.start(), m.end(), self.chat_prefix(m.start())
            pos = m.end()

    def next_chat(self, after: int) -> tuple[int, int, str] | None:
        """Find the next chat object after ``after``: ``(its start, its id, its chat prefix)``."""
        m = _CHAT_START.search(self.data, after)
        if m is None:
            return None
        return m.start(), int(m.group(1)), self.chat_prefix(m.start())

    def chat_prefix(self, pos: int) -> str:
        """Return the walk prefix of a chat object of a full-account export starting at ``pos``."""
        left = None
        for left in _LEFT_CHATS.finditer(self.data, 0, pos):  # noqa: B007 - the last one counts
            pass
        return "left_chats.list.item" if left is not None else "chats.list.item"

    def end_of_message(self, value: Any, *, lower: int, upper: int) -> int | None:
        """Return the byte after the message object ``value``, read cleanly between ``lower`` and ``upper``.

        The object is found by its ``"id"`` (the last start with that id before
        ``upper``), then decoded with the standard library's JSON decoder,
        which gives its exact end. ``None`` when it cannot be found so.
        """
        message_id = value.get("id") if isinstance(value, dict) else None
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return None
        found = None
        for m in _MESSAGE_START.finditer(self.data, lower, upper):
            if int(m.group(2)) == message_id:
                found = m.start(1)
        if found is None:
            return None
        window = bytes(self.data[found:upper])
        text = window.decode("utf-8", "replace")
        try:
            _, end = json.JSONDecoder().raw_decode(text)
        except (ValueError, RecursionError):
            return None
        return found + len(text[:end].encode("utf-8"))

    def message_start(self, at: int) -> re.Match[bytes] | None:
        """Return the first message start whose ``{`` is at or after byte ``at``."""
        for m in _MESSAGE_START.finditer(self.data, max(at - 256, 0)):
            if m.start(1) >= at:
                return m
        return None

    def skip_from(self, start: int) -> Skip:
        """Describe the damaged stretch from ``start`` (just after a good message or the list's ``[``).

        The stretch is one message when a message object starts right there,
        after blanks and at most :data:`_SEPARATOR_SLACK` other bytes (a
        damaged ``,`` between two messages costs neither of them).
        """
        own = _OBJECT_START.search(self.data, start, min(start + 256, self.size))
        if own is not None and len(self.slice(start, own.start()).strip(b" \t\r\n,[")) > _SEPARATOR_SLACK:
            own = None
        if own is not None:
            following = self.message_start(own.start() + 1)
            message_id: int | None = int(own.group(1))
        else:
            following = self.message_start(start)
            near = _ID_NEAR.search(self.slice(start, start + 200))
            message_id = int(near.group(1)) if near else None
        resume = following.start(1) if following is not None else None
        return Skip(start=start, resume=resume, message_id=message_id, one_message=own is not None)

    def slice(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)``."""
        return bytes(self.data[start:end])

    def list_ended(self, start: int) -> bool:
        """Tell whether the first byte after ``start`` that is not blank or ``,`` closes the list."""
        m = _NEXT_BYTE.search(self.data, start)
        return m is not None and m.group() == b"]"

    def decode_message(self, start: int, *, limit: int | None) -> tuple[Any, int] | None:
        """Decode the JSON value at ``start`` with the standard library (big integers included).

        Args:
            start: Where the value starts.
            limit: It must end before this byte (the next message start), or
                ``None``: within :data:`MAX_TOKEN_BYTES` twice.

        Returns:
            ``(value, byte after it)``, or ``None`` when it is not valid JSON there.
        """
        end = min(self.size, limit if limit is not None else start + 2 * MAX_TOKEN_BYTES)
        window = bytes(self.data[start:end])
        try:
            text = window.decode("utf-8")
        except UnicodeDecodeError:
            return None
        try:
            value, stop = _DECODER.raw_decode(text)
        except (ValueError, RecursionError):
            return None
        return value, start + len(text[:stop].encode("utf-8"))


def chat_list_prefix(chat_prefix: str) -> bytes:
    """Return the synthetic bytes that open a chat's ``messages`` list at walk prefix ``chat_prefix``."""
    if chat_prefix == "":
        return b'{"messages":['
    section = chat_prefix.split(".", 1)[0]
    return b'{"' + section.encode() + b'":{"list":[{"messages":['


def chat_object_prefix(chat_prefix: str) -> bytes:
    """Return the synthetic bytes before a chat object of a full-account export at ``chat_prefix``."""
    section = chat_prefix.split(".", 1)[0]
    return b'{"' + section.encode() + b'":{"list":['


def damage_error(skip: Skip, *, path: str, reason: str, file_size: int) -> InputError:
    """Build the input error of one damaged stretch, with its unread range when it is not one message.

    Args:
        skip: The stretch.
        path: The file.
        reason: What the parser said.
        file_size: Bytes in the file (the end of an unread tail).

    Returns:
        An :class:`InputError` naming file, byte offset, message id (when
        readable) and the reason; ``unread`` is set when more than one
        recognisable message may be lost.

    """
    end = skip.resume if skip.resume is not None else file_size
    if skip.resume is None:
        what = f"unreadable from byte {skip.start} to the end of the file ({reason})"
    elif skip.one_message:
        what = f"message at byte {skip.start} is damaged ({reason}); skipped to byte {end}"
    else:
        what = f"damaged stretch at bytes {skip.start}-{end} ({reason}); skipped"
    unread = None if skip.one_message and skip.resume is not None else (skip.start, end)
    return InputError(what, path=path, message_id=skip.message_id, offset=skip.start, unread=unread)


def parser_reason(exc: BaseException) -> str:
    """Return the first line of a parser error, in words a user reads."""
    if isinstance(exc, InputError):
        return exc.reason
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text: {exc.reason}"
    if isinstance(exc, RecursionError):
        return "nesting too deep"
    first = exc.args[0] if exc.args else ""
    text = (first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    if "premature EOF" in reason or "Incomplete" in reason:
        reason = "the JSON ends early (truncated file?)"
    elif "integer overflow" in reason:
        reason = "an integer beyond 64 bits"
    return reason
