"""The PostgreSQL path of :func:`tg_parser.storage.messages.upsert_messages`: ``COPY``, set-wise.

Private to :mod:`tg_parser.storage.messages`, which builds the records (NUL
characters stripped, JSON columns serialised) and keeps the semantics in one
place; this module writes them in ``COPY``'s text format (:func:`copy_text`,
run where the posts are encoded: in an import, the export reader's process,
so the process that writes to the database sends each batch as one block of
bytes instead of formatting 1,000 rows) and moves them:

* When no post of the batch is stored yet (a first import), the rows are
  ``COPY``-ed straight into ``messages`` inside a savepoint; that is what the
  database's own floor is (``COPY`` into a table with the same indexes).
* Otherwise, or when another writer stored one of the ids meanwhile (the
  savepoint's unique violation), the rows are ``COPY``-ed into a temporary
  table and merged by three statements: the previous version of every post
  whose content hash changed goes to ``message_versions``; posts whose
  compared columns differ are updated (``IS DISTINCT FROM``, so an identical
  re-import writes no row); the rest are inserted with ``ON CONFLICT DO
  NOTHING``.

Everything runs on the session's own connection and transaction; the caller
commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from tg_parser.storage.messages import EncodedPosts

_STAGE = "tgp_ingest_stage"


def copy_upsert(
    session: Session,
    *,
    posts: EncodedPosts,
    columns: Sequence[str],
    compared: Sequence[str],
) -> tuple[int, int]:
    """Upsert encoded posts into ``messages``; return ``(new, changed)`` counts.

    Args:
        session: A session bound to PostgreSQL (the caller commits).
        posts: The posts, as ``COPY`` text rows in ``columns`` order, unique by message id.
        columns: The ``messages`` columns of a row (``channel_id`` and ``message_id`` among them).
        compared: The columns whose difference makes a stored post changed.

    Returns:
        ``(new, changed)``: posts inserted, and stored posts whose content hash
        differed (each kept its previous version). The rest were unchanged.
    """
    conn: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    if _stored_count(conn, channel_pk=posts.channel_pk, message_ids=posts.message_ids) == 0:
        try:
            with conn.transaction():  # a savepoint inside the caller's transaction
                _copy(conn, table=sql.Identifier("messages"), columns=columns, rows=posts.rows)
        except psycopg.errors.UniqueViolation:
            pass  # Another writer stored some of these ids since the count: merge them like the rest.
        else:
            return len(posts.message_ids), 0
    return _merge(conn, columns=columns, compared=compared, posts=posts)


def copy_text(records: Iterable[tuple[Any, ...]]) -> bytes:
    r"""Return ``records`` as the lines of ``COPY ... FROM STDIN`` in text format, UTF-8.

    The format is PostgreSQL's (documentation of ``COPY``, "Text Format"):
    columns separated by a tab, a line per row, ``\N`` for NULL, and a
    backslash before every backslash, newline, carriage return and tab inside
    a value; everything else is taken literally. Values: ``None``, ``str``,
    ``bytes`` (UTF-8 text, e.g. JSON from orjson, written as it is), ``int``,
    ``bool`` (``t``/``f``) and aware ``datetime`` (ISO 8601 with its offset,
    which ``timestamptz`` reads exactly, microseconds included).
    ``tests/integration/test_message_copy.py`` checks that PostgreSQL stores
    from these lines exactly what psycopg's own ``write_row`` stores from the
    same records.

    Raises:
        TypeError: A value of another type (the message says which).
        UnicodeEncodeError: A string holds a lone surrogate (not UTF-8).
    """
    out = [b"\t".join([_TEXT[v.__class__](v) for v in record]) for record in records]
    if not out:
        return b""
    out.append(b"")
    return b"\n".join(out)


def _escape(value: bytes) -> bytes:
    return value.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\t", b"\\t")


def _refuse(value: object) -> bytes:
    msg = f"COPY text format: no rule for a value of type {type(value).__name__} ({value!r:.60})"
    raise TypeError(msg)


_TEXT: defaultdict[type, Callable[[Any], bytes]] = defaultdict(
    lambda: _refuse,
    {
        type(None): lambda _v: b"\\N",
        str: lambda v: _escape(v.encode()),
        bytes: _escape,
        int: lambda v: b"%d" % v,
        bool: lambda v: b"t" if v else b"f",
        datetime: lambda v: v.isoformat().encode(),
    },
)
"""Each value's text by its exact type; a ``datetime`` is taken aware (the records' times are UTC)."""


def _stored_count(conn: psycopg.Connection[Any], *, channel_pk: int, message_ids: list[int]) -> int:
    """Return how many of ``message_ids`` the channel already stores (an index-only count)."""
    row = conn.execute(  # one index probe per id, whatever the statistics say: storage/_keyed.py
        "SELECT count(*) FROM unnest(%s::bigint[]) AS wanted(message_id) CROSS JOIN LATERAL (SELECT 1"
        " FROM messages WHERE channel_id = %s AND message_id = wanted.message_id OFFSET 0) AS stored",
        (message_ids, channel_pk),
    ).fetchone()
    return int(row[0]) if row else 0


def _copy(
    conn: psycopg.Connection[Any], *, table: sql.Identifier, columns: Sequence[str], rows: bytes
) -> None:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as copy:
        copy.write(rows)


def _merge(
    conn: psycopg.Connection[Any],
    *,
    columns: Sequence[str],
    compared: Sequence[str],
    posts: EncodedPosts,
) -> tuple[int, int]:
    stage = sql.Identifier(_STAGE)
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DROP AS SELECT {} FROM messages WITH NO DATA"
        ).format(stage, names)
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(stage))
    _copy(conn, table=stage, columns=columns, rows=posts.rows)
    key = sql.SQL("m.channel_id = s.channel_id AND m.message_id = s.message_id")
    recorded_at = posts.recorded_at
    changed_row = conn.execute(
        sql.SQL(
            "WITH old AS ("
            " SELECT m.id, m.content_hash, m.text, m.entities, m.edited_at FROM {stage} s"
            " CROSS JOIN LATERAL (SELECT m.id, m.content_hash, m.text, m.entities, m.edited_at"
            " FROM messages m WHERE {key} OFFSET 0) m"  # one index probe per row: storage/_keyed.py
            " WHERE m.content_hash <> s.content_hash"
            "), kept AS ("
            " INSERT INTO message_versions (message_pk, content_hash, text, entities, edited_at, recorded_at)"
            " SELECT id, content_hash, text, entities, edited_at, %s FROM old"
            " ON CONFLICT (message_pk, content_hash) DO NOTHING"
            ") SELECT count(*) FROM old"
        ).format(stage=stage, key=key),
        (recorded_at,),
    ).fetchone()
    updated = [c for c in columns if c not in ("channel_id", "message_id", "first_seen_at")]
    conn.execute(
        sql.SQL(
            "UPDATE messages m SET ({targets}) = ({sources}) FROM {stage} s"
            " WHERE {key} AND ({old}) IS DISTINCT FROM ({new})"
        ).format(
            targets=sql.SQL(", ").join(sql.Identifier(c) for c in updated),
            sources=sql.SQL(", ").join(sql.Identifier("s", c) for c in updated),
            stage=stage,
            key=key,
            old=sql.SQL(", ").join(sql.Identifier("m", c) for c in compared),
            new=sql.SQL(", ").join(sql.Identifier("s", c) for c in compared),
        )
    )
    inserted = conn.execute(
        sql.SQL(
            "INSERT INTO messages ({names}) SELECT {names} FROM {stage}"
            " ON CONFLICT (channel_id, message_id) DO NOTHING"
        ).format(names=names, stage=stage)
    ).rowcount
    conn.execute(sql.SQL("TRUNCATE {}").format(stage))
    return max(inserted, 0), int(changed_row[0]) if changed_row else 0
