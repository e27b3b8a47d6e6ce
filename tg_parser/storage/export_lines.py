r"""``documents.ndjson`` lines rendered by PostgreSQL and streamed with ``COPY ... TO STDOUT``.

The Python path (``export.document_line`` over :func:`documents.iter_export_rows`)
decodes every JSON column into Python objects and encodes the line again: at
100k posts that is most of an export's time. Here PostgreSQL writes each line
itself, byte for byte the line ``export.document_line`` gives for the same row
(``tests/integration/test_export_lines.py`` compares them on adversarial
rows), and the exporter copies the bytes to the file. SQLite keeps the Python
path (:func:`renders_lines` says which one applies).

Why the bytes are the same:

* Strings go through ``to_json(text)`` and JSON array items through
  ``jsonb::text`` of a string, both PostgreSQL's ``escape_json``: it escapes
  ``"``, ``\``, ``\b \f \n \r \t`` and every other character below
  U+0020 as ``\u00xx`` (lower-case hex), and nothing else; Python's encoder
  with ``ensure_ascii=False`` escapes exactly the same set the same way
  (``json.encoder.py_encode_basestring``;
  https://github.com/postgres/postgres/blob/REL_15_STABLE/src/backend/utils/adt/json.c,
  ``escape_json``).
* Arrays are joined with ``,`` and objects laid out with ``,``/``:`` and no
  spaces, keys in the order of ``document_line``.
* ``keywords`` is a JSON array of strings (``PostAnalysis.keywords``): its
  ``jsonb`` text is ``["a", "b"]``, and turning every ``", "`` into ``","``
  is exact, because inside a string every ``"`` follows a backslash, so
  ``", "`` can only be the separator between two items.
* Times are ``to_char(... AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')``,
  whole seconds like ``strftime('%Y-%m-%dT%H:%M:%SZ')``.
* ``links``, ``hashtags`` and ``mentions`` follow the rules of
  ``export.writer.entity_lists``: in entity order, empty values dropped, each
  value once (the first occurrence's place).
* ``COPY``'s text format escapes a backslash as ``\\`` and control
  characters as ``\n``-style sequences
  (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format"). A
  JSON text holds no raw control character (they are all escaped above), so
  the only sequence in the stream is the doubled backslash, undone with one
  ``bytes.replace`` per chunk; ``COPY`` hands out whole rows
  (``PQgetCopyData``), so a chunk never splits one.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg.sql
from sqlalchemy.orm import Session

from tg_parser.domain.export_keys import EXCLUDED_EMBED_METADATA_KEYS, EXCLUDED_LLM_METADATA_KEYS

# One line per post: the same keys, in the same order, as ``export.document_line``.
# ``%(...)s`` are the channel's constants, JSON-encoded by Python and bound client-side.
_LINE_SQL = """
COPY (
  SELECT concat(
    %(id_head)s, m.message_id, %(id2_head)s, m.message_id, '","text":', to_json(m.text),
    ',"metadata":{"source":', %(source_head)s, m.message_id,
    '","channel":', %(channel)s, ',"channel_id":', %(channel_id)s, ',"message_id":', m.message_id,
    ',"date":"', to_char(m.date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    '","edited":', coalesce(
      '"' || to_char(m.edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"', 'null'),
    ',"author":', coalesce(to_json(m.author)::text, 'null'),
    ',"reply_to":', coalesce(m.reply_to::text, 'null'),
    ',"forwarded_from":', coalesce(to_json(m.forwarded_from)::text, 'null'),
    ',"media_type":', coalesce(to_json(m.media_type)::text, 'null'),
    -- tg-depth (issue 13): media, views, forwards, reactions, forum_topic (export.depth.depth_fields).
    ',"media":', CASE WHEN jsonb_typeof(m.media) = 'object' THEN concat(
        '{"type":', coalesce(to_json(m.media->>'type')::text, 'null'),
        ',"file_name":', coalesce(to_json(m.media->>'file_name')::text, 'null'),
        ',"mime_type":', coalesce(to_json(m.media->>'mime_type')::text, 'null'),
        ',"size_bytes":', coalesce((m.media->'size_bytes')::text, 'null'),
        ',"duration_s":', coalesce((m.media->'duration_s')::text, 'null'),
        ',"width":', coalesce((m.media->'width')::text, 'null'),
        ',"height":', coalesce((m.media->'height')::text, 'null'),
        ',"path":', coalesce(to_json(coalesce(m.media_path, m.media->>'path'))::text, 'null'), '}')
      ELSE 'null' END,
    ',"views":', coalesce(m.views::text, 'null'),
    ',"forwards":', coalesce(m.forwards::text, 'null'),
    ',"reactions":', CASE WHEN jsonb_typeof(m.reactions) = 'array' AND jsonb_array_length(m.reactions) > 0
      THEN (
        SELECT concat('{', string_agg(to_json(r.x->>'emoji')::text || ':' || (r.x->'count')::text, ','
                                      ORDER BY r.pos), '}')
        FROM jsonb_array_elements(m.reactions) WITH ORDINALITY AS r(x, pos))
      ELSE '{}' END,
    ',"forum_topic":', CASE WHEN m.forum_topic_id IS NULL THEN 'null' ELSE concat(
        '{"id":', m.forum_topic_id, ',"title":', coalesce((
          SELECT to_json(ft.title)::text FROM forum_topics ft
          WHERE ft.channel_id = m.channel_id AND ft.topic_id = m.forum_topic_id), 'null'), '}') END,
    ',', CASE WHEN m.entities @? '$[*] ? (@.type == "link" || @.type == "text_link" || @.type == "hashtag"
                                       || @.type == "mention" || @.type == "mention_name")'
      THEN (
        SELECT concat(
          '"links":[', string_agg(g.item, ',' ORDER BY g.pos) FILTER (WHERE g.kind = 'l'),
          '],"hashtags":[', string_agg(g.item, ',' ORDER BY g.pos) FILTER (WHERE g.kind = 'h'),
          '],"mentions":[', string_agg(g.item, ',' ORDER BY g.pos) FILTER (WHERE g.kind = 'm'),
          ']')
        FROM (
          SELECT e.kind, to_json(e.value)::text AS item, min(e.pos) AS pos
          FROM (
            SELECT x.pos,
                   CASE x.ent->>'type' WHEN 'text_link' THEN 'l' WHEN 'link' THEN 'l' WHEN 'hashtag' THEN 'h'
                     WHEN 'mention' THEN 'm' WHEN 'mention_name' THEN 'm' END AS kind,
                   CASE x.ent->>'type' WHEN 'text_link' THEN nullif(x.ent->>'url', '')
                     WHEN 'link' THEN coalesce(nullif(x.ent->>'url', ''), nullif(x.ent->>'text', ''))
                     ELSE nullif(x.ent->>'text', '') END AS value
            FROM jsonb_array_elements(m.entities) WITH ORDINALITY AS x(ent, pos)
          ) AS e
          WHERE e.kind IS NOT NULL AND e.value IS NOT NULL
          GROUP BY e.kind, e.value
        ) AS g)
      ELSE '"links":[],"hashtags":[],"mentions":[]' END,
    ',"language":', coalesce(to_json(d.language)::text, 'null'),
    ',"summary":', to_json(d.summary),
    ',"keywords":', CASE jsonb_typeof(d.keywords)
      WHEN 'array' THEN replace(d.keywords::text, '", "', '","') ELSE '[]' END,
    ',"topic_id":', coalesce(to_json(t.topic_key)::text, 'null'),
    ',"topic_label":', coalesce(to_json(t.label)::text, 'null'),
    ',"processor":', to_json(d.processor::text),
    ',"model":', to_json(d.model::text),
    %(tail)s)
  FROM messages m
  JOIN documents d ON d.message_pk = m.id
  LEFT JOIN topic_members tm ON tm.message_pk = m.id
  LEFT JOIN topics t ON t.id = tm.topic_id
  WHERE m.channel_id = %(channel_pk)s AND NOT m.deleted
    AND m.message_id >= %(lo)s AND m.message_id < %(hi)s
  ORDER BY m.message_id
) TO STDOUT
"""

CHUNK_BYTES = 1 << 20
"""Bytes of whole lines handed to the writer at a time (bounded memory whatever the channel size)."""

PARALLEL_MIN_POSTS = 20_000
"""From this many posts on, the lines are rendered by two PostgreSQL backends at once (two id ranges)."""

_NO_ID = 1 << 62  # beyond any Telegram message id (a 32-bit counter per chat)

_COPY_BACKSLASH = b"\\\\"

_LINE_TAIL = {
    "excluded_embed_metadata_keys": EXCLUDED_EMBED_METADATA_KEYS,
    "excluded_llm_metadata_keys": EXCLUDED_LLM_METADATA_KEYS,
}


def renders_lines(session: Session) -> bool:
    """Return whether the database renders export lines itself (PostgreSQL: :func:`copy_document_lines`)."""
    return session.get_bind().dialect.name == "postgresql"


def copy_document_lines(
    session: Session, *, channel_pk: int, channel_key: str, source_base: str, telegram_id: int
) -> Iterator[bytes]:
    r"""Stream the channel's ``documents.ndjson`` as UTF-8 bytes rendered by PostgreSQL.

    The same posts, order and bytes as ``export.document_line`` over
    :func:`~tg_parser.storage.documents.iter_export_rows`: non-deleted posts
    that have a document, by message id.

    Args:
        session: An open session on PostgreSQL (:func:`renders_lines`); the
            stream must be consumed before it commits.
        channel_pk: The channel's primary key.
        channel_key: The channel's key (first half of every document id).
        source_base: The channel's permalink without the message id
            (``domain.permalink_base``), e.g. ``https://t.me/durov/``.
        telegram_id: The export's chat id (``metadata.channel_id``).

    Yields:
        Chunks of about :data:`CHUNK_BYTES` holding whole lines, each ending in ``\n``.
    """
    params: dict[str, object] = {
        "id_head": '{"id":' + _json(f"{channel_key}:")[:-1],
        # ``id_`` repeats ``id`` for LlamaIndex (docs/export-format.md): the same bytes after ``","id_":``.
        "id2_head": '","id_":' + _json(f"{channel_key}:")[:-1],
        "source_head": _json(source_base)[:-1],
        "channel": _json(channel_key),
        "channel_id": str(int(telegram_id)),
        "channel_pk": int(channel_pk),
        # The constant end of every line: LlamaIndex's metadata exclusions (export.writer).
        "tail": "}," + json.dumps(_LINE_TAIL, ensure_ascii=False, separators=(",", ":"))[1:],
    }
    conn: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    # The order comes from the (channel_id, message_id) unique index with index
    # lookups per post, instead of sorting the rendered lines (about 1.3 KB each,
    # so an on-disk sort past work_mem; PostgreSQL then even renders in parallel
    # workers). JIT compiling pays off for long analytic queries, not for this one.
    _settle(conn)
    split = _split_point(conn, channel_pk=int(channel_pk))
    if split is None:
        yield from _chunks(conn, {**params, "lo": -_NO_ID, "hi": _NO_ID})
    else:
        # Rendering is PostgreSQL's CPU work, one backend per query: the upper
        # half of the ids goes to a second connection (the same snapshot,
        # exported from this transaction) and into a temporary file while this
        # one streams the lower half; then the file follows, in id order.
        upper = _UpperHalf(conn, {**params, "lo": split, "hi": _NO_ID})
        upper.start()
        try:
            yield from _chunks(conn, {**params, "lo": -_NO_ID, "hi": split})
            yield from upper.chunks()
        finally:
            upper.close()
    # The transaction's next queries (topics.json) plan as usual; SET LOCAL ends with it anyway.
    conn.execute("RESET enable_sort")
    conn.execute("RESET jit")


def _settle(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET LOCAL enable_sort = off")
    conn.execute("SET LOCAL jit = off")


def _split_point(conn: psycopg.Connection[Any], *, channel_pk: int) -> int | None:
    """Return the message id halfway between the channel's first and last post (``None``: too few posts)."""
    row = conn.execute(
        "SELECT count(*), min(message_id), max(message_id) FROM messages"
        " WHERE channel_id = %s AND NOT deleted",
        (channel_pk,),
    ).fetchone()
    if row is None or row[0] < max(PARALLEL_MIN_POSTS, 2):
        return None
    _, low, high = row
    return int(low) + (int(high) - int(low)) // 2 + 1


def _chunks(conn: psycopg.Connection[Any], params: dict[str, object]) -> Iterator[bytes]:
    """Run the line query over ``params``' id range; yield whole lines, about :data:`CHUNK_BYTES` a time."""
    with conn.cursor() as cursor, cursor.copy(_LINE_SQL, params) as copy:
        batch: list[Any] = []  # memoryviews of the rows
        size = 0
        for row in copy:
            batch.append(row)
            size += len(row)
            if size >= CHUNK_BYTES:
                yield b"".join(batch).replace(_COPY_BACKSLASH, b"\\")
                batch.clear()
                size = 0
        if batch:
            yield b"".join(batch).replace(_COPY_BACKSLASH, b"\\")


class _UpperHalf(threading.Thread):
    """Render one id range on a second connection, in this transaction's snapshot, into a temporary file."""

    def __init__(self, conn: psycopg.Connection[Any], params: dict[str, object]) -> None:
        super().__init__(name="export-lines-upper", daemon=True)
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        self.snapshot = str(row[0]) if row else ""
        self.conninfo = conn.info.dsn
        self.password = conn.info.password
        self.params = params
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, password=self.password, autocommit=True) as other:
                other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                snapshot = psycopg.sql.Literal(self.snapshot)
                other.execute(psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
                _settle(other)
                for chunk in _chunks(other, self.params):
                    self.file.write(chunk)
                other.execute("ROLLBACK")
        except BaseException as exc:  # noqa: BLE001 - re-raised by chunks() in the caller's thread
            self.error = exc

    def chunks(self) -> Iterator[bytes]:
        """Wait for the range, then yield its bytes from the file (re-raising the thread's error)."""
        self.join()
        if self.error is not None:
            raise self.error
        self.file.seek(0)
        while chunk := self.file.read(CHUNK_BYTES):
            yield chunk

    def close(self) -> None:
        self.join()
        self.file.close()


def _json(value: str) -> str:
    """Encode a string as ``export.document_line`` does (``ensure_ascii=False``)."""
    return json.dumps(value, ensure_ascii=False)
