"""Posts of one channel looked up by message id: one index probe per id, whatever the statistics say.

A batch of an import asks which of its 1,000 message ids the channel already
stores (and which of those are marked deleted). Written as ``channel_id = X
AND message_id IN (...)``, PostgreSQL plans that from its statistics of
``messages``, and those lag behind a bulk load: autovacuum analyses a table
at most once a minute (``autovacuum_naptime``) and not at all where it is
off, and a channel imported for the first time is in no statistics at all.
With the default estimate for ``channel_id = X`` (0.5 % of the rows) the
planner read every stored post of the channel through a ``channel_id`` index
and filtered them against the list, so each batch cost more than the one
before: at 100,000 posts 77 ms a query, 4.5 s of the whole import
(``log_min_duration_statement`` on a first import, 2026-12-07), growing with
the square of the channel.

Two changes remove that plan. Migration 0010 drops ``ix_messages_channel_id``,
which only repeated the leading column of the unique ``(channel_id,
message_id)`` index; with statistics that put the channel at one row, the
planner chose it even inside a per-id subquery and read the whole channel
for each id. And on PostgreSQL the ids are unnested and joined ``LATERAL`` to
a subquery keyed on the whole unique key; its ``OFFSET`` keeps the planner
from flattening it (a subquery with ``LIMIT``/``OFFSET`` is not pulled up
into the outer query; PostgreSQL ``prepjointree.c``, ``is_simple_subquery``),
so the plan is a nested loop with one unique-index probe per id: 1.8 ms for
1,000 ids on a 100,000-post channel with no statistics, against 88 to 470 ms.
``tests/integration/test_keyed_lookup.py`` checks the plan under statistics
that do not know the channel. SQLite keeps ``IN`` lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, Select, func, literal, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tg_parser.storage.tables import MessageRow

IN_IDS_PER_QUERY = 900
"""Ids per ``IN (...)`` on SQLite (under its old 999-variable limit)."""
ARRAY_IDS_PER_QUERY = 50_000
"""Ids per array parameter on PostgreSQL."""


def posts_by_message_id(
    session: Session,
    *,
    channel_pk: int,
    message_ids: Iterable[int],
    columns: Sequence[Any],
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Row[Any]]:
    """Return ``columns`` of the channel's stored posts whose message id is in ``message_ids``.

    Args:
        session: Open session (PostgreSQL or SQLite).
        channel_pk: Primary key of the channel.
        message_ids: Telegram message ids; duplicates are looked up once.
        columns: ``MessageRow`` columns to return, e.g. ``[MessageRow.id]``.
        where: Further conditions on ``MessageRow`` (e.g. ``MessageRow.deleted.is_(True)``).

    Returns:
        One row per stored post found (each id at most once, by the unique
        key), in no particular order.
    """
    ids = sorted(set(message_ids))
    found: list[Row[Any]] = []
    if session.get_bind().dialect.name != "postgresql":
        for start in range(0, len(ids), IN_IDS_PER_QUERY):
            found.extend(
                session.execute(
                    select(*columns).where(
                        MessageRow.channel_id == channel_pk,
                        MessageRow.message_id.in_(ids[start : start + IN_IDS_PER_QUERY]),
                        *where,
                    )
                ).all()
            )
        return found
    for start in range(0, len(ids), ARRAY_IDS_PER_QUERY):
        chunk = ids[start : start + ARRAY_IDS_PER_QUERY]
        found.extend(session.execute(lateral_lookup(channel_pk, chunk, columns=columns, where=where)).all())
    return found


def lateral_lookup(
    channel_pk: int,
    message_ids: list[int],
    *,
    columns: Sequence[Any],
    where: Sequence[ColumnElement[bool]] = (),
) -> Select[Any]:
    """Return the PostgreSQL statement of :func:`posts_by_message_id` for one array of ids.

    ``SELECT stored.* FROM unnest(:ids::BIGINT[]) AS wanted(message_id) JOIN
    LATERAL (SELECT columns FROM messages WHERE channel_id = :pk AND
    message_id = wanted.message_id AND where... OFFSET 0) AS stored ON true``.
    """
    wanted = (
        func.unnest(literal(message_ids, ARRAY(BigInteger)))
        .table_valued("message_id")
        .render_derived(name="wanted")
    )
    # The OFFSET is the fence described in the module docstring: keep it.
    stored = (
        select(*columns)
        .where(MessageRow.channel_id == channel_pk, MessageRow.message_id == wanted.c.message_id, *where)
        .offset(0)
        .lateral("stored")
    )
    return select(*stored.c).select_from(wanted).join(stored, true())
