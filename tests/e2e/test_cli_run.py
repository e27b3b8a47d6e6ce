"""End-to-end: the ``tg-parser`` CLI on real exports, embedded (SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export_checks import check_chat_export, read_ndjson, source_chats

pytestmark = pytest.mark.e2e

EXPORTS = (
    "trantor_library_public_channel.json",
    "ensia_full_account_forum.json",
    "cuda_supergroup_old_format.json",
)


def tg_parser(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI in ``cwd`` and return the completed process."""
    full_env = {**os.environ, "LOG_FORMAT": "json", **(env or {})}
    full_env.pop("CELERY_BROKER_URL", None)
    exe = Path(sys.executable).with_name("tg-parser")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=900, check=False
    )


def row_counts(db: Path) -> dict[str, int]:
    """Row counts of the content tables of a SQLite database file."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return {
            t: con.execute(f"select count(*) from {t}").fetchone()[0]  # noqa: S608 - fixed names
            for t in ("channels", "messages", "message_versions", "documents", "topics", "topic_members")
        }
    finally:
        con.close()


@pytest.mark.parametrize("name", EXPORTS)
def test_run_real_export_matches_source_and_is_stable(name: str, shared_data: Path, tmp_path: Path) -> None:
    """Every text post appears once with the source's text, date and entities; a re-run changes nothing."""
    src = shared_data / "exports" / name
    proc = tg_parser("run", "--export-file", str(src), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    chats = source_chats(src)
    first: dict[str, bytes] = {}
    for chat in chats:
        key = f"c{abs(chat['id'])}"
        path = tmp_path / "out" / key / "documents.ndjson"
        docs = read_ndjson(path)
        check_chat_export(chat, docs)
        for doc in docs:
            assert (
                doc["metadata"]["source"]
                == f"https://t.me/c/{abs(chat['id'])}/{doc['metadata']['message_id']}"
            )
            assert doc["metadata"]["processor"] == "offline"
        topics = json.loads((tmp_path / "out" / key / "topics.json").read_text(encoding="utf-8"))
        members = [m for t in topics["topics"] for m in t["member_ids"]]
        assert sorted(members) == sorted(d["id"] for d in docs)
        first[key] = path.read_bytes()
    counts = row_counts(tmp_path / "tg_parser.db")

    again = tg_parser("run", "--export-file", str(src), "--out", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    for key, data in first.items():
        assert (tmp_path / "out" / key / "documents.ndjson").read_bytes() == data
    assert row_counts(tmp_path / "tg_parser.db") == counts


def test_forum_topics_reactions_and_media_of_the_forum_export(shared_data: Path, tmp_path: Path) -> None:
    """The forum export's posts name their topics; reactions and photo metadata come through (issue 13)."""
    src = shared_data / "exports" / "ensia_full_account_forum.json"
    proc = tg_parser("run", "--export-file", str(src), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    chat = next(
        c for c in source_chats(src) if any(m.get("action") == "topic_created" for m in c["messages"])
    )
    docs = read_ndjson(tmp_path / "out" / f"c{abs(chat['id'])}" / "documents.ndjson")
    titles = {d["metadata"]["forum_topic"]["title"] for d in docs if d["metadata"]["forum_topic"]}
    assert {"Welcome board", "Q&A", "Research"} <= titles
    by_id = {d["metadata"]["message_id"]: d["metadata"] for d in docs}
    assert by_id[315]["forum_topic"] == {"id": 236, "title": "Q&A"}
    assert by_id[365]["forum_topic"] == {"id": 236, "title": "Q&A"}  # a reply to a reply in the topic
    assert sum(1 for d in docs if d["metadata"]["reactions"]) > 100
    assert any(
        (d["metadata"]["media"] or {}).get("path", "").startswith("chats/chat_1/photos/") for d in docs
    )


def test_username_gives_public_permalinks(sample_export: Path, tmp_path: Path) -> None:
    """With --username, metadata.source is https://t.me/<username>/<id> and the key is the username."""
    proc = tg_parser(
        "run", "--export-file", str(sample_export), "--username", "@TechDigestDemo", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    docs = read_ndjson(tmp_path / "exports" / "techdigestdemo" / "documents.ndjson")
    assert docs
    for doc in docs:
        assert doc["metadata"]["source"] == f"https://t.me/TechDigestDemo/{doc['metadata']['message_id']}"
        assert doc["id"].startswith("techdigestdemo:")
    check_chat_export(source_chats(sample_export)[0], docs)


def test_channels_list_shows_counts(sample_export: Path, tmp_path: Path) -> None:
    """`channels list --json` reports the channel with its post, document and topic counts."""
    assert tg_parser("run", "-f", str(sample_export), cwd=tmp_path).returncode == 0
    proc = tg_parser("channels", "list", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1
    assert rows[0]["posts"] >= 100
    assert 0 < rows[0]["documents"] <= rows[0]["posts"]
    assert rows[0]["topics"] >= 1


def test_single_steps_produce_the_same_export(sample_export: Path, tmp_path: Path) -> None:
    """Import → process → topicize → export by hand gives the same documents.ndjson as `run`."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert tg_parser("run", "-f", str(sample_export), cwd=a).returncode == 0
    assert tg_parser("import", "-f", str(sample_export), cwd=b).returncode == 0
    key = next((a / "exports").iterdir()).name
    for step in ("process", "topicize", "export"):
        proc = tg_parser(step, key, cwd=b)
        assert proc.returncode == 0, proc.stderr
    assert (a / "exports" / key / "documents.ndjson").read_bytes() == (
        b / "exports" / key / "documents.ndjson"
    ).read_bytes()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing export file exits non-zero and names the file."""
    proc = tg_parser("run", "-f", "nope/result.json", cwd=tmp_path)
    assert proc.returncode != 0
    assert "nope/result.json" in proc.stderr


def test_out_of_range_retry_setting_is_refused(tmp_path: Path) -> None:
    """RETRY_MAX_ATTEMPTS=11 is refused at start with a message naming the variable."""
    proc = tg_parser("channels", "list", cwd=tmp_path, env={"RETRY_MAX_ATTEMPTS": "11"})
    assert proc.returncode == 2
    assert "RETRY_MAX_ATTEMPTS" in proc.stderr


def test_run_channel_reruns_a_known_channel_from_its_source(sample_export: Path, tmp_path: Path) -> None:
    """`run --channel KEY` re-reads the recorded source: nothing new, same export; unknown keys fail."""
    assert tg_parser("run", "-f", str(sample_export), cwd=tmp_path).returncode == 0
    key = next((tmp_path / "exports").iterdir()).name
    before = (tmp_path / "exports" / key / "documents.ndjson").read_bytes()
    proc = tg_parser("run", "--channel", key, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0 new, 0 changed" in proc.stdout
    assert (tmp_path / "exports" / key / "documents.ndjson").read_bytes() == before
    bad = tg_parser("run", "--channel", "nosuchchannel", cwd=tmp_path)
    assert bad.returncode == 1
    assert "nosuchchannel" in bad.stderr
