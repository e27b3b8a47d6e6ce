# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
r"""Cut the top-level ``messages`` list of a single-chat export into elements and parse each with orjson.

Private helper of :mod:`tg_parser.sources._desktop_stream`, which falls back
to ijson wherever this module is not sure (:class:`NotSplittableError`). Building a
message object with ijson's ``items`` costs several times what orjson needs
for the same bytes, so the import reads each element's bytes and hands them
to orjson.

Why a cut is exact. Telegram Desktop writes the elements of ``messages`` one
after another with the same separator (``},\n  {`` in its indented layout).
The separator is learnt from the first element: the first ``}`` *ws* ``,``
*ws* ``{`` whose left side parses as one JSON value. Each later element is the
bytes up to the next occurrence of that separator, and must parse on its own.
When every piece between separators parses as a complete JSON value, the text
``[p1,p2,…]`` is a valid array whose elements are exactly those pieces (JSON
has one parse per text), so nothing is cut in the wrong place: a separator
inside a string or a nested object would leave a piece that does not parse.
Anything else (a piece that does not parse, an element that is no object, a
file that ends early, a long tail after the list) raises
:class:`NotSplittableError` and the caller reads on with ijson.

Values are the ones ijson builds (``use_float=True``) with two exceptions
handled here: orjson reads an integer beyond 64 bits as a float where ijson
fails, so a piece holding a run of 19 digits is built by ijson instead; and
orjson rejects a lone surrogate escape that ijson replaces, which makes the
piece not parse (so ijson reads it).
"""

from __future__ import annotations

import io
import re
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterator

BLOCK_BYTES = 1 << 22
"""Bytes read from the file at a time (memory: a few of these, whatever the file's size)."""
MAX_ELEMENT_BYTES = 1 << 24
"""A message longer than this (16 MiB; Telegram caps a post's text at 4,096 characters) is left to ijson."""
MAX_HEAD_BYTES = 1 << 20
"""The ``messages`` key must start within this many bytes (Desktop writes three short keys before it)."""

_WS = rb"[ \t\n\r]*"
_ARRAY_HEAD = re.compile(rb'"messages"' + _WS + rb":" + _WS + rb"\[")
_GAP = re.compile(rb"\}" + _WS + rb"," + _WS + rb"\{")
_LAST = re.compile(rb"\}" + _WS + rb"\]")
# A run of 19 digits, found by mapping digits to "0" and every other byte to
# "." (a regular expression costs ten times as much on a post's bytes).
_DIGITS_TO_ZERO = bytes(b"0"[0] if b in b"0123456789" else b"."[0] for b in range(256))
_LONG_RUN = b"0" * 19
_SPACE = b" \t\n\r"


class NotSplittableError(Exception):
    """The list cannot be cut safely from here on; read the rest with ijson."""


class _Buffer:
    """The file's bytes from some offset on, read in blocks."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.data = b""
        self.eof = False

    def more(self, pos: int) -> int:
        """Drop the bytes before ``pos``, read one more block; return ``pos``'s new index (0)."""
        if self.eof:
            raise NotSplittableError
        if len(self.data) - pos > MAX_ELEMENT_BYTES:
            raise NotSplittableError
        block = self.handle.read(BLOCK_BYTES)
        if not block:
            self.eof = True
        self.data = self.data[pos:] + block
        return 0


def elements(handle: IO[bytes], *, ijson_backend: Any) -> Iterator[Any]:
    """Yield the elements of the top-level ``messages`` list of a single-chat export, in order.

    Args:
        handle: The file, opened in binary mode at its start.
        ijson_backend: The ijson backend the caller reads with (for the pieces
            orjson would read differently).

    Yields:
        Each element, as ijson's ``items(..., use_float=True)`` would build it.

    Raises:
        NotSplittableError: From the first element that cannot be cut safely on
            (every element before it has been yielded), or when the list or
            the end of the file is not where this module expects it.
    """
    buf = _Buffer(handle)
    pos = _array_start(buf)
    pos = _skip_space(buf, pos)
    if buf.data[pos : pos + 1] == b"]":
        _check_tail(buf, pos + 1)
        return
    if buf.data[pos : pos + 1] != b"{":
        raise NotSplittableError
    separator, value, pos = _first(buf, pos, ijson_backend)
    if separator is None:
        yield value
        return
    yield value
    step = len(separator) - 1
    while True:
        end = buf.data.find(separator, pos)
        if end >= 0:
            yield _parse(buf.data[pos : end + 1], ijson_backend)
            pos = end + step
        elif buf.eof:
            yield _last(buf, pos, ijson_backend)
            return
        else:
            pos = buf.more(pos)


def _array_start(buf: _Buffer) -> int:
    """Return the index just after the ``[`` of the top-level ``messages`` key."""
    pos = 0
    while True:
        for match in _ARRAY_HEAD.finditer(buf.data, pos):
            try:  # a key of the top-level object iff the head before it closes as one
                head = orjson.loads(buf.data[: match.start()] + b'"messages":[]}')
            except orjson.JSONDecodeError:
                continue
            if isinstance(head, dict):
                return match.end()
        if buf.eof or len(buf.data) > MAX_HEAD_BYTES:
            raise NotSplittableError
        pos = max(0, len(buf.data) - 64)
        buf.more(0)


def _skip_space(buf: _Buffer, pos: int) -> int:
    while True:
        while pos < len(buf.data) and buf.data[pos] in _SPACE:
            pos += 1
        if pos < len(buf.data):
            return pos
        pos = buf.more(pos)


def _first(buf: _Buffer, pos: int, ijson_backend: Any) -> tuple[bytes | None, Any, int]:
    """Read the first element; return ``(separator, value, next element's index)``.

    ``separator`` is ``None`` when the first element is the last one.
    """
    while True:
        for gap in _GAP.finditer(buf.data, pos):
            piece = buf.data[pos : gap.start() + 1]
            if _try_parse(piece) is not _FAILED:
                return gap.group(0), _parse(piece, ijson_backend), gap.end() - 1
        if buf.eof:
            return None, _last(buf, pos, ijson_backend), len(buf.data)
        pos = buf.more(pos)


def _last(buf: _Buffer, pos: int, ijson_backend: Any) -> Any:
    """Read the list's last element from ``pos`` and check what follows the list up to the end of the file."""
    while not buf.eof:
        buf.more(pos)
        pos = 0
    for close in _LAST.finditer(buf.data, pos):
        piece = buf.data[pos : close.start() + 1]
        if _try_parse(piece) is not _FAILED:
            _check_tail(buf, close.end())
            return _parse(piece, ijson_backend)
    raise NotSplittableError


def _check_tail(buf: _Buffer, pos: int) -> None:
    """Check that only white space, the top-level object's ``}`` and white space follow the list."""
    while not buf.eof:
        pos = buf.more(pos)
    if buf.data[pos:].strip(_SPACE) != b"}":
        raise NotSplittableError


_FAILED = object()


def _try_parse(piece: bytes) -> Any:
    try:
        return orjson.loads(piece)
    except orjson.JSONDecodeError:
        return _FAILED


def _parse(piece: bytes, ijson_backend: Any) -> Any:
    """Parse one element's bytes as ijson would; raise :class:`NotSplittableError` when they do not parse."""
    if _LONG_RUN in piece.translate(_DIGITS_TO_ZERO):
        try:
            return next(iter(ijson_backend.items(io.BytesIO(piece), "", use_float=True)))
        except Exception:  # noqa: BLE001 - any doubt: ijson reads the file itself
            raise NotSplittableError from None
    try:
        return orjson.loads(piece)
    except orjson.JSONDecodeError:
        raise NotSplittableError from None
