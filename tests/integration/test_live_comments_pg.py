"""COMMENTS=separate and fold write the same bytes from PostgreSQL as from SQLite (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live_comments import read_lines, run_live, telegram_with_thread

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _telegram_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize("mode", ["separate", "fold"])
def test_comment_exports_are_byte_identical_on_both_databases(
    mode: str, pg_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """The same live channel and thread give the same documents.ndjson on PostgreSQL and SQLite."""
    for name, url in (("pg", pg_url), ("sqlite", sqlite_url)):
        with telegram_with_thread():
            run_live(url, tmp_path / name, comments=mode)
    pg_bytes = (tmp_path / "pg" / "trantor" / "documents.ndjson").read_bytes()
    assert pg_bytes == (tmp_path / "sqlite" / "trantor" / "documents.ndjson").read_bytes()
    lines = read_lines(tmp_path / "pg")
    if mode == "separate":
        assert [d["metadata"].get("thread_of") for d in lines][-2:] == ["trantor:1", "trantor:1"]
    else:
        assert lines[0]["metadata"]["comments"] == 2
