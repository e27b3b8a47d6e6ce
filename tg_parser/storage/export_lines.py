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
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

# One line per post: the same keys, in the same order, as ``export.document_line``.
# ``%(...)s`` are the channel's constants, JSON-encoded by Python and bound client-side.
_LINE_SQL = """
COPY (
  SELECT concat(
    %(id_head)s, m.message_id, '","text":', to_json(m.text),
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
    '}}')
  FROM messages m
  JOIN documents d ON d.message_pk = m.id
  LEFT JOIN topic_members tm ON tm.message_pk = m.id
  LEFT JOIN topics t ON t.id = tm.topic_id
  WHERE m.channel_id = %(channel_pk)s AND NOT m.deleted
  ORDER BY m.message_id
) TO STDOUT
"""

CHUNK_BYTES = 1 << 20
"""Bytes of whole lines handed to the writer at a time (bounded memory whatever the channel size)."""

_COPY_BACKSLASH = b"\\\\"


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
    params = {
        "id_head": '{"id":' + _json(f"{channel_key}:")[:-1],
        "source_head": _json(source_base)[:-1],
        "channel": _json(channel_key),
        "channel_id": str(int(telegram_id)),
        "channel_pk": int(channel_pk),
    }
    # The order comes from the (channel_id, message_id) unique index with index
    # lookups per post, instead of sorting the rendered lines (about 1.3 KB each,
    # so an on-disk sort past work_mem; PostgreSQL then even renders in parallel
    # workers). JIT compiling pays off for long analytic queries, not for this one.
    session.execute(text("SET LOCAL enable_sort = off"))
    session.execute(text("SET LOCAL jit = off"))
    conn = session.connection().connection.driver_connection
    with conn.cursor() as cursor, cursor.copy(_LINE_SQL, params) as copy:  # type: ignore[union-attr]
        batch: list[bytes] = []
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
    # The transaction's next queries (topics.json) plan as usual; SET LOCAL ends with it anyway.
    session.execute(text("RESET enable_sort"))
    session.execute(text("RESET jit"))


def _json(value: str) -> str:
    """Encode a string as ``export.document_line`` does (``ensure_ascii=False``)."""
    return json.dumps(value, ensure_ascii=False)
