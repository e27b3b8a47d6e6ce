"""Posts looked up by message id on PostgreSQL: right rows, one index probe per id, stale statistics."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.unit.test_message_upsert import post, upsert
from tg_parser.storage import changes, channels, messages
from tg_parser.storage._keyed import lateral_lookup, posts_by_message_id
from tg_parser.storage.session import session_scope
from tg_parser.storage.tables import MessageRow

pytestmark = pytest.mark.integration

POSTS = 3000


def _channel(url: str, key: str, telegram_id: int) -> int:
    with session_scope(url) as s:
        return channels.upsert_channel(
            s,
            key=key,
            telegram_id=telegram_id,
            username=None,
            title=key,
            chat_type=None,
            source_kind="export",
            source="{}",
        )


def _plan(url: str, statement: object) -> str:
    """Return PostgreSQL's ``EXPLAIN`` of a Core statement, with its parameters bound."""
    with session_scope(url) as s:
        conn = s.connection()
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
        )
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
    return "\n".join(str(r[0]) for r in rows)


@pytest.fixture
def stale_url(pg_url: str) -> tuple[str, int]:
    """A database whose statistics know one channel, and a second channel imported after them."""
    known = _channel(pg_url, "known", 1)
    upsert(pg_url, known, [post(i) for i in range(1, POSTS + 1)])
    with session_scope(pg_url) as s:
        s.connection().exec_driver_sql("ANALYZE messages")
    fresh = _channel(pg_url, "fresh", 2)
    for start in range(1, POSTS + 1, 1000):
        upsert(pg_url, fresh, [post(i) for i in range(start, start + 1000)])
    return pg_url, fresh


def test_lookup_probes_the_unique_index_per_id(stale_url: tuple[str, int]) -> None:
    """With statistics that do not know the channel, each id is one probe of the unique index on both columns.

    The control shows the condition is real: the plain ``IN`` list, under the
    same statistics, reads the whole channel from the index and filters it
    against the list (the plan that made every import batch slower than the last).
    """
    url, fresh = stale_url
    ids = list(range(1000, 2000))
    control = _plan(
        url, select(MessageRow.id).where(MessageRow.channel_id == fresh, MessageRow.message_id.in_(ids))
    )
    assert "Filter: (message_id = ANY" in control, control
    plan = _plan(url, lateral_lookup(fresh, ids, columns=[MessageRow.id]))
    assert "Nested Loop" in plan, plan
    assert "Function Scan on unnest wanted" in plan, plan
    assert f"Index Cond: ((channel_id = {fresh}) AND (message_id = wanted.message_id))" in plan, plan
    assert "Filter" not in plan, plan
    assert "Seq Scan on messages" not in plan, plan


def test_lookup_returns_the_stored_rows(stale_url: tuple[str, int]) -> None:
    """Only the channel's stored ids come back, once each, with the extra conditions applied."""
    url, fresh = stale_url
    with session_scope(url) as s:
        messages.mark_deleted(s, channel_pk=fresh, message_ids=[5, 7, POSTS + 50])
    wanted = [5, 5, 6, 7, POSTS + 1, -3]
    with session_scope(url) as s:
        rows = posts_by_message_id(
            s, channel_pk=fresh, message_ids=wanted, columns=[MessageRow.message_id, MessageRow.deleted]
        )
        deleted = changes.deleted_message_pks(s, channel_pk=fresh, message_ids=wanted)
        live = changes.live_message_pks(s, channel_pk=fresh, message_ids=wanted)
        stored = s.execute(select(MessageRow.message_id, MessageRow.id).where(MessageRow.channel_id == fresh))
        by_id = {int(row.message_id): int(row.id) for row in stored}
    assert sorted(tuple(r) for r in rows) == [(5, True), (6, False), (7, True)]
    assert deleted == sorted([by_id[5], by_id[7]])
    assert live == [by_id[6]]
