"""Incremental deltas: the documents added, changed or deleted after a cursor.

A delta cursor is a value of the channel's change counter (``storage.changes``).
Each run records the counter as of its export (``runs.delta_cursor``); a delta
"since" that run holds every post whose line changed or that was deleted
after that export, each once, and nothing else.

Delta lines (``documents.delta.ndjson``, and ``GET /documents?since=``):

* ``{"op":"upsert",`` followed by the post's ``documents.ndjson`` object
  without its ``{`` (the same keys and bytes: ``id``, ``id_``, ``text``, ``metadata``);
* ``{"op":"delete","id":"<channel>:<message id>"}`` for a post deleted at the source.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tg_parser.domain.periods import parse_since
from tg_parser.errors import InputError
from tg_parser.export import document_line
from tg_parser.export.writer import atomic_binary_writer
from tg_parser.storage import Session, changes
from tg_parser.storage.channels import ChannelRecord

DELTA_FILE = "documents.delta.ndjson"

_CURSOR_PREFIX = "v2:"
_UPSERT_HEAD = '{"op":"upsert",'


def encode_cursor(seq: int) -> str:
    """Return the opaque cursor of a change value (URL-safe base64 of ``v2:<value>``)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{int(seq)}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """Return the change value of a cursor from :func:`encode_cursor`, or ``None`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if raw.startswith(_CURSOR_PREFIX) and raw[len(_CURSOR_PREFIX) :].isdigit():
        return int(raw[len(_CURSOR_PREFIX) :])
    return None


def resolve_since(session: Session, *, channel: ChannelRecord, since: str) -> int:
    """Turn ``--since`` into the change value a delta starts after.

    Args:
        session: An open session.
        channel: The channel exported.
        since: A run id of this channel (its recorded delta cursor), a cursor
            (``Documents-Cursor`` of the API, or the one ``export`` prints), or an
            ISO 8601 time / period like ``7d`` (the cursor of the channel's last
            run that finished by then; 0, i.e. every post, when none did).

    Returns:
        The change value.

    Raises:
        InputError: None of these forms, a run of another channel, or a run that
            recorded no cursor (it never finished its export).
    """
    value = since.strip()
    seq = decode_cursor(value)
    if seq is not None:
        return seq
    run = changes.run_delta_cursor(session, run_id=value)
    if run is not None:
        channel_pk, cursor = run
        if channel_pk != channel.pk:
            msg = f"--since: run {value} is a run of another channel, not of {channel.key}"
            raise InputError(msg)
        if cursor is None:
            msg = f"--since: run {value} recorded no delta cursor (it did not finish its export)"
            raise InputError(msg)
        return cursor
    try:
        moment = parse_since(value)
    except InputError as exc:
        msg = f"--since: {value!r} is no run id of {channel.key}, no cursor and no ISO time or period"
        raise InputError(msg) from exc
    return changes.cursor_at(session, channel_pk=channel.pk, moment=moment)


def delta_lines(
    session: Session,
    *,
    channel: ChannelRecord,
    after_seq: int,
    upto_seq: int,
    after_message_id: int | None = None,
    limit: int | None = None,
) -> Iterator[tuple[int, str, bool]]:
    """Yield ``(message_id, delta line, is_delete)`` of the posts changed in ``(after_seq, upto_seq]``.

    Upserts carry the same bytes as the post's ``documents.ndjson`` line (built
    by ``export.document_line``), behind ``"op":"upsert"``.
    """
    key, username, telegram_id = channel.key, channel.username, channel.telegram_id
    id_head = json.dumps(f"{key}:", ensure_ascii=False)[:-1]
    rows = changes.iter_changed_rows(
        session,
        channel_pk=channel.pk,
        after_seq=after_seq,
        upto_seq=upto_seq,
        after_message_id=after_message_id,
        limit=limit,
    )
    for row in rows:
        if row.deleted:
            yield row.message_id, f'{{"op":"delete","id":{id_head}{row.message_id}"}}\n', True
        else:
            line = document_line(row, channel_key=key, username=username, telegram_id=telegram_id)
            yield row.message_id, _UPSERT_HEAD + line[1:], False


@dataclass(frozen=True)
class DeltaResult:
    """What a delta export wrote.

    Attributes:
        path: ``documents.delta.ndjson``.
        after_seq: The cursor it starts after.
        cursor: The cursor it ends at (pass it as ``--since`` next time).
        upserts: Posts added or changed.
        deletes: Posts deleted.
    """

    path: Path
    after_seq: int
    cursor: int
    upserts: int
    deletes: int


def write_delta(
    session: Session, *, channel: ChannelRecord, out_dir: Path, after_seq: int, upto_seq: int
) -> DeltaResult:
    """Write ``<out_dir>/documents.delta.ndjson`` atomically, streamed (bounded memory).

    Args:
        session: An open session.
        channel: The channel.
        out_dir: The channel's export folder.
        after_seq: Start after this change value (from :func:`resolve_since`).
        upto_seq: End at this one (the counter read before the full export).

    Returns:
        The counts and the cursor.
    """
    path = out_dir / DELTA_FILE
    upserts = deletes = 0
    with atomic_binary_writer(path) as fh:
        batch: list[str] = []
        for _, line, is_delete in delta_lines(
            session, channel=channel, after_seq=after_seq, upto_seq=upto_seq
        ):
            batch.append(line)
            deletes += is_delete
            upserts += not is_delete
            if len(batch) >= 1000:  # noqa: PLR2004 - lines per write
                fh.write("".join(batch).encode())
                batch.clear()
        fh.write("".join(batch).encode())
    return DeltaResult(path=path, after_seq=after_seq, cursor=upto_seq, upserts=upserts, deletes=deletes)
