"""``upsert_messages`` on PostgreSQL: the ``COPY`` paths keep the semantics the SQLite tests check."""

from __future__ import annotations

import pytest

from tests.unit.test_message_upsert import SCENARIOS, make_channel, post, table_state, upsert
from tg_parser.storage import _message_copy, messages

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("scenario_"))
def test_upsert_on_postgres(pg_url: str, scenario: object) -> None:
    """Each upsert scenario holds on PostgreSQL (COPY straight in, or staged and merged)."""
    scenario(pg_url)  # type: ignore[operator]


def test_concurrent_writer_falls_back_to_merge(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids stored between the check and the COPY: the savepoint rolls back, the merge stores the batch."""
    pk = make_channel(pg_url)
    upsert(pg_url, pk, [post(1, "old")])
    monkeypatch.setattr(_message_copy, "_stored_count", lambda *_a, **_k: 0)
    out = upsert(pg_url, pk, [post(1, "new"), post(2, "fresh")])
    assert out == messages.UpsertOutcome(new=1, changed=1, unchanged=0)
    rows, versions = table_state(pg_url)
    assert [(r[0], r[1]) for r in rows] == [(1, "new"), (2, "fresh")]
    assert [v[1] for v in versions] == ["old"]


def test_large_batch_copies_straight_in(pg_url: str) -> None:
    """A first import of many posts is stored whole, and a re-import of it writes nothing."""
    pk = make_channel(pg_url)
    batch = [post(i, f"post {i}\ttab\nline \\ backslash") for i in range(1, 1201)]
    assert upsert(pg_url, pk, batch).new == len(batch)
    before = table_state(pg_url)
    assert before[0][5][1] == "post 6\ttab\nline \\ backslash"
    assert upsert(pg_url, pk, batch).unchanged == len(batch)
    assert table_state(pg_url) == before
