"""The PostgreSQL export (lines rendered by COPY) writes the bytes of the Python path, and of SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.export_data import fill_channel
from tg_parser.config import load_settings
from tg_parser.domain import permalink_base
from tg_parser.export import document_line
from tg_parser.services import pipeline
from tg_parser.storage import channels, documents, export_lines, session_scope


@pytest.mark.parametrize("username", [None, "Durov_x"])
def test_copy_lines_equal_python_lines(pg_url: str, username: str | None) -> None:
    """Lines PostgreSQL renders equal document_line over the same rows, byte for byte, adversarial posts."""
    with session_scope(pg_url) as session:
        fill_channel(session, posts=600, seed=7, username=username)
    with session_scope(pg_url) as session:
        ch = channels.get_channel(session, key=username.lower() if username else "c1001")
        assert export_lines.renders_lines(session)
        # +05:45: the dates must still come out in UTC.
        session.execute(text("SET LOCAL TIME ZONE 'Asia/Kathmandu'"))
        expected = "".join(
            document_line(row, channel_key=ch.key, username=ch.username, telegram_id=ch.telegram_id)
            for row in documents.iter_export_rows(session, channel_pk=ch.pk)
        ).encode()
        chunks = list(
            export_lines.copy_document_lines(
                session,
                channel_pk=ch.pk,
                channel_key=ch.key,
                source_base=permalink_base(username=ch.username, channel_id=ch.telegram_id),
                telegram_id=ch.telegram_id,
            )
        )
    got = b"".join(chunks)
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    lines = got.decode().split("\n")[:-1]  # not splitlines: U+2028 stays raw inside a line
    assert 400 < len(lines) < 600  # deleted posts and posts without a document are left out
    assert any("\\\\" in line and "\\u0001" in line for line in lines)  # the nasty strings made it through
    assert [json.loads(line)["metadata"]["message_id"] for line in lines] == sorted(
        json.loads(line)["metadata"]["message_id"] for line in lines
    )
    assert got == expected


def test_postgres_and_sqlite_exports_are_byte_identical(pg_url: str, sqlite_url: str, tmp_path: Path) -> None:
    """export_channel writes the same documents.ndjson and topics.json from PostgreSQL as from SQLite."""
    for name, url in (("pg", pg_url), ("sqlite", sqlite_url)):
        with session_scope(url) as session:
            fill_channel(session, posts=300, seed=11, username="chan_x")
        pipeline.export_channel(
            settings=load_settings(database_url=url),
            channel="chan_x",
            run_id=None,
            export_dir=str(tmp_path / name),
        )
    for file in ("documents.ndjson", "topics.json"):
        sqlite_bytes = (tmp_path / "sqlite" / "chan_x" / file).read_bytes()
        assert sqlite_bytes.count(b"\n") > 100
        assert (tmp_path / "pg" / "chan_x" / file).read_bytes() == sqlite_bytes
    topics = json.loads((tmp_path / "pg" / "chan_x" / "topics.json").read_text(encoding="utf-8"))["topics"]
    assert [t["id"] for t in topics] == ["chan_x:topic-1", "chan_x:topic-2", "chan_x:topic-10"]
    assert all(t["size"] == len(t["member_ids"]) > 0 for t in topics)


def test_two_ranges_give_the_same_bytes(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rendered by two backends (the upper half on a second connection), the lines are the same."""
    with session_scope(pg_url) as session:
        fill_channel(session, posts=600, seed=5, username="two_ranges")

    def lines() -> bytes:
        with session_scope(pg_url) as session:
            ch = channels.get_channel(session, key="two_ranges")
            return b"".join(
                export_lines.copy_document_lines(
                    session,
                    channel_pk=ch.pk,
                    channel_key=ch.key,
                    source_base=permalink_base(username=ch.username, channel_id=ch.telegram_id),
                    telegram_id=ch.telegram_id,
                )
            )

    one = lines()
    monkeypatch.setattr(export_lines, "PARALLEL_MIN_POSTS", 2)
    two = lines()
    assert two == one
    assert one.count(b"\n") > 400
