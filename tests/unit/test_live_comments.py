"""COMMENTS=separate|fold|off on a live channel, embedded on SQLite (issue 13).

Telegram is never called: real Telethon TL objects behind a fake client in the
process's Telethon runtime.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.live_comments import comment, read_lines, replies, run_live, telegram_with_thread
from tests.unit.test_telethon_source import CHAN_ID, post
from tg_parser.services.comments import FOLD_SEPARATOR


@pytest.fixture(autouse=True)
def _telegram_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")


def _stored_comments(sqlite_url: str) -> list[tuple[int, int]]:
    con = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        return con.execute(
            "SELECT message_id, thread_of FROM messages WHERE thread_of IS NOT NULL ORDER BY message_id"
        ).fetchall()
    finally:
        con.close()


def test_separate_comments_are_documents_linked_to_their_post_and_arrive_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Each comment is its own line, thread_of = its post's document id; a re-sync adds only the new one."""
    out = tmp_path / "out"
    with telegram_with_thread() as client:
        first = run_live(sqlite_url, out, comments="separate")
        assert first.ingest.to_process == 5  # three posts and two comments
        lines = read_lines(out)
        assert [d["id"] for d in lines] == [
            "trantor:1", "trantor:2", "trantor:3", "c1999000111:71", "c1999000111:72",
        ]  # fmt: skip
        assert [d["metadata"].get("thread_of") for d in lines] == [None, None, None, "trantor:1", "trantor:1"]
        assert lines[3]["text"] == "Отличный пост"
        assert lines[3]["metadata"]["author"] == "Ann Lee"
        assert lines[3]["metadata"]["summary"]  # processed like a post

        client.threads[(CHAN_ID, 1)].append(comment(73, "Ещё комментарий"))
        client.history[CHAN_ID][1] = post(1, "Пост о науке #наука", replies=replies(3, 73))
        client.calls.clear()
        second = run_live(sqlite_url, out, comments="separate")
        assert [arg for what, arg in client.calls if what == "replies"] == [72]  # read above the last stored
        assert second.ingest.to_process == 1  # only the new comment
    assert _stored_comments(sqlite_url) == [(71, 1), (72, 1), (73, 1)]  # each comment once
    assert [d["id"] for d in read_lines(out)][-3:] == ["c1999000111:71", "c1999000111:72", "c1999000111:73"]


def test_fold_appends_the_thread_to_the_post_and_counts_it(sqlite_url: str, tmp_path: Path) -> None:
    """COMMENTS=fold: no comment lines; the post's text carries its thread under the separator."""
    out = tmp_path / "out"
    with telegram_with_thread():
        report = run_live(sqlite_url, out, comments="fold")
    assert report.ingest.to_process == 3  # comments are not processed on their own
    lines = read_lines(out)
    assert [d["id"] for d in lines] == ["trantor:1", "trantor:2", "trantor:3"]
    assert lines[0]["text"] == (
        "Пост о науке #наука" + FOLD_SEPARATOR + 'Ann Lee: Отличный пост\nAnn Lee: Согласен "полностью"\\'
    )
    assert [d["metadata"]["comments"] for d in lines] == [2, 0, 0]


def test_off_reads_no_comments(sqlite_url: str, tmp_path: Path) -> None:
    """COMMENTS=off: no thread is requested, nothing is stored, lines have no comment fields."""
    out = tmp_path / "out"
    with telegram_with_thread() as client:
        run_live(sqlite_url, out, comments="off")
        assert not [what for what, _ in client.calls if what == "replies"]
    assert _stored_comments(sqlite_url) == []
    assert all("thread_of" not in d["metadata"] and "comments" not in d["metadata"] for d in read_lines(out))
