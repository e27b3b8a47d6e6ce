"""Multipart uploads streamed to disk, never held in memory, refused above a size.

The request body is fed chunk by chunk to python-multipart's streaming parser
(the parser FastAPI itself uses); the ``file`` part's bytes go straight to a
file, small text fields are kept (at most :data:`MAX_FIELD_BYTES` each).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from tg_parser.api.problems import ApiProblem, ProblemError

MAX_FIELD_BYTES = 4096
"""Largest text field accepted beside the file (``username``)."""

MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Allowance for boundaries, part headers and text fields when judging ``Content-Length``."""


class UploadTooLargeError(Exception):
    """The file part grew past the limit."""


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None


@dataclass
class StoredUpload:
    """An upload written to disk: the file and the text fields sent with it."""

    folder: Path
    path: Path | None
    fields: dict[str, str]

    def discard(self) -> None:
        """Delete what was written."""
        shutil.rmtree(self.folder, ignore_errors=True)


class _Receiver:
    """python-multipart callbacks writing the ``file`` part to ``target`` and keeping text fields."""

    def __init__(self, *, target: Path, max_bytes: int) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.file_written = False
        self._part = _Part()
        self._header_field = b""
        self._header_value = b""
        self._out: IO[bytes] | None = None
        self._field_value = bytearray()
        self._size = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add("_header_field", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_header_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _add(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _part_begin(self) -> None:
        self._part = _Part()
        self._field_value = bytearray()

    def _header_end(self) -> None:
        self._part.headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get(b"content-disposition", b""))
        self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw = options.get(b"filename")
        self._part.filename = raw.decode("utf-8", "replace") if raw is not None else None
        if self._part.name == "file" and not self.file_written:
            self._out = self.target.open("wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._out is not None:
            self._size += len(chunk)
            if self._size > self.max_bytes:
                raise UploadTooLargeError
            self._out.write(chunk)
        elif len(self._field_value) + len(chunk) <= MAX_FIELD_BYTES:
            self._field_value += chunk
        else:
            raise ApiProblem(
                422,
                f"form field {self._part.name!r} is longer than {MAX_FIELD_BYTES} bytes",
                errors=[ProblemError(detail="too long", pointer=f"#/{self._part.name}")],
            )

    def _part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
            self.file_written = True
        elif self._part.name:
            self.fields[self._part.name] = self._field_value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def receive_upload(
    *, content_type: str, content_length: str | None, body: AsyncIterator[bytes], folder: Path, max_bytes: int
) -> StoredUpload:
    """Stream a ``multipart/form-data`` body's ``file`` part into ``folder/<uuid>/result.json``.

    Args:
        content_type: The request's ``Content-Type``.
        content_length: Its ``Content-Length``, if sent (refused early when clearly over the limit).
        body: The body's chunks (``request.stream()``).
        folder: Where uploads go.
        max_bytes: Largest file accepted, in bytes.

    Returns:
        The stored upload (``path`` is ``None`` when no ``file`` part came).

    Raises:
        ApiProblem: 413 over ``max_bytes``; 415 not multipart; 400 malformed.
    """
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise ApiProblem(
            415,
            "send the export as multipart/form-data with a 'file' part",
            errors=[ProblemError(detail="not multipart/form-data", parameter="Content-Type")],
        )
    too_large = ApiProblem(
        413,
        f"the upload is larger than API_MAX_UPLOAD_MB ({max_bytes // (1024 * 1024)} MiB)",
        errors=[ProblemError(detail="too large", pointer="#/file")],
    )
    if (
        content_length
        and content_length.isdigit()
        and int(content_length) > max_bytes + MULTIPART_OVERHEAD_BYTES
    ):
        raise too_large
    target_dir = folder / uuid.uuid4().hex
    target_dir.mkdir(parents=True)
    receiver = _Receiver(target=target_dir / "result.json", max_bytes=max_bytes)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    stored = StoredUpload(folder=target_dir, path=None, fields=receiver.fields)
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except UploadTooLargeError:
        receiver.close()
        stored.discard()
        raise too_large from None
    except ApiProblem:
        receiver.close()
        stored.discard()
        raise
    except Exception as exc:
        receiver.close()
        stored.discard()
        raise ApiProblem(400, f"malformed multipart body: {exc}") from exc
    receiver.close()
    if receiver.file_written:
        stored.path = receiver.target
    return stored
