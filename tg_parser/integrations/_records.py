"""The records both loaders read: ``documents.ndjson`` objects, streamed from a file or the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tg_parser.errors import InputError

DOCUMENTS_FILE = "documents.ndjson"


def resolve_documents_file(path: str | Path, channel: str | None = None) -> Path:
    """Return the ``documents.ndjson`` a loader reads.

    Args:
        path: The file itself, a channel's export folder (``<out>/<channel key>``),
            or the export root ``<out>`` together with ``channel``.
        channel: The channel key, when ``path`` is the export root.

    Raises:
        InputError: No ``documents.ndjson`` there.
    """
    base = Path(path)
    candidates = [base] if base.is_file() else []
    if channel is not None:
        candidates.append(base / channel / DOCUMENTS_FILE)
    candidates.append(base / DOCUMENTS_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    msg = f"no {DOCUMENTS_FILE} here" + (f" nor in {base / channel}" if channel else "")
    raise InputError(msg, path=str(base))


def file_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the objects of a ``documents.ndjson`` file one line at a time (memory: one line).

    Raises:
        InputError: A line is no JSON object with ``id``, ``text`` and ``metadata``
            (names the file and the line number).
    """
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield parse_record(line, where=f"{path}:{number}")


def database_records(*, database_url: str, channel: str) -> Iterator[dict[str, Any]]:
    """Yield a channel's documents from the database, page by page (``services.documents.document_pages``).

    Raises:
        NotFoundError: Unknown channel (before the first record).
    """
    from tg_parser.services.documents import channel_lines

    for number, line in enumerate(channel_lines(database_url=database_url, channel=channel), 1):
        yield parse_record(line, where=f"channel {channel} document {number}")


def parse_record(line: str, *, where: str) -> dict[str, Any]:
    """Parse one ``documents.ndjson`` line and check its shape.

    Raises:
        InputError: Not JSON, or no ``id`` (string), ``text`` (string) and ``metadata`` (object).
    """
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        msg = f"{where}: not JSON ({exc.msg} at column {exc.colno})"
        raise InputError(msg) from exc
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("id"), str)
        or not isinstance(record.get("text"), str)
        or not isinstance(record.get("metadata"), dict)
    ):
        msg = f"{where}: not a document (an object with string id and text and a metadata object)"
        raise InputError(msg)
    return record


def records(
    path: str | Path | None, *, channel: str | None, database_url: str | None
) -> Iterator[dict[str, Any]]:
    """Yield the records of the source a loader was given: a path, or a database and channel.

    Raises:
        InputError: Neither or both sources given, or the file is not found or malformed.
        NotFoundError: Unknown channel in the database.
    """
    if (path is None) == (database_url is None):
        msg = "give either an export path or a database_url (with a channel)"
        raise InputError(msg)
    if path is not None:
        yield from file_records(resolve_documents_file(path, channel))
        return
    if channel is None:
        msg = "reading from the database needs the channel key"
        raise InputError(msg)
    assert database_url is not None  # noqa: S101 - checked above
    yield from database_records(database_url=database_url, channel=channel)
