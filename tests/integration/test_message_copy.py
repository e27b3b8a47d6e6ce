"""``upsert_messages`` on PostgreSQL: the ``COPY`` paths keep the semantics the SQLite tests check."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.unit.test_message_upsert import SCENARIOS, T0, make_channel, post, table_state, upsert
from tg_parser.domain import Message
from tg_parser.sources.desktop_export import DesktopExportSource
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


ADVERSARIAL = [
    "tab\there, newline\nthere, return\r, backslash \\ and \\N, \\. alone:\n\\.\n",
    "vertical\x0btab, form\x0cfeed, back\x08space, bell\x07, U+2028\u2028, U+2029\u2029",
    "кириллица, emoji 🚀🇷🇺, combining é, right-to-left עברית, quote \" and '",
    "",
    "\\\\\\t\\n\\r (backslashes before letters that are escapes)",
]


def test_copy_text_stores_what_write_row_stores(pg_url: str) -> None:
    """Rows from ``copy_text`` and from psycopg's ``write_row`` of the same records store the same values.

    The records are the real sample export's posts plus posts whose text,
    author, forward source and raw JSON hold every character the text format
    escapes (and some it does not), times with microseconds and edits.
    """
    path = Path(__file__).parents[2] / "samples" / "sample_channel" / "result.json"
    real = [m for _, m in DesktopExportSource(path).iter_all() if isinstance(m, Message)]
    odd = [
        post(
            90_000 + i,
            text,
            author=text or None,
            forwarded_from=text[::-1] or None,
            edited=T0.replace(microsecond=123_456 + i),
            views=i,
        ).model_copy(update={"raw": {"id": 90_000 + i, "text": text, "nested": [text, {"k\\ey": text}]}})
        for i, text in enumerate(ADVERSARIAL)
    ]
    records = messages.encode_records(
        channel_pk=1, messages=[*real, *odd], now=T0.replace(microsecond=999_999)
    )
    assert len(records) > 100
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in messages._COLUMNS)  # noqa: SLF001
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for table in ("by_rows", "by_text"):
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM messages WITH NO DATA").format(
                    sql.Identifier(table), columns
                )
            )
        with conn.cursor().copy(sql.SQL("COPY by_rows ({}) FROM STDIN").format(columns)) as cp:
            for record in records:  # JSON text as str: psycopg would send bytes as bytea
                cp.write_row([v.decode() if isinstance(v, bytes) else v for v in record])
        with conn.cursor().copy(sql.SQL("COPY by_text ({}) FROM STDIN").format(columns)) as cp:
            cp.write(_message_copy.copy_text(records))
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM by_rows), (SELECT count(*) FROM by_text)"
        ).fetchone()
        differ = conn.execute(
            "SELECT count(*) FROM ((SELECT * FROM by_rows EXCEPT ALL SELECT * FROM by_text)"
            " UNION ALL (SELECT * FROM by_text EXCEPT ALL SELECT * FROM by_rows)) d"
        ).fetchone()
        texts = conn.execute(
            "SELECT text FROM by_text WHERE message_id >= 90000 ORDER BY message_id"
        ).fetchall()
    assert counts == (len(records), len(records))
    assert differ == (0,)
    assert [t[0] for t in texts] == ADVERSARIAL


def test_copy_text_refuses_an_unknown_type() -> None:
    """A value the text format has no rule for fails loudly, naming its type."""
    with pytest.raises(TypeError, match="float"):
        _message_copy.copy_text([(1, 2.5)])
