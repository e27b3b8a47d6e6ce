"""Issue #15's held-out delta check through the real CLI: ``tg-parser run`` twice, then ``export --since``.

Run on a real Telegram Desktop export with five text posts held out; re-run
(ingest → process → topicize → export) on the newer export of the same chat,
with three posts edited as Desktop shows them (``edited``/``edited_unixtime``)
and the five added. The delta since the first run must hold exactly those 8
upserts, each byte-equal to its ``documents.ndjson`` line, and nothing else;
and these must be exactly the lines that differ between the two full exports
(topicize places the new posts incrementally and moves no other post).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_deltas import EXPORT, POSTS, _lines, _versions

pytestmark = pytest.mark.integration


def _cli(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json"}
    env.pop("CELERY_BROKER_URL", None)  # embedded
    exe = Path(sys.executable).with_name("tg-parser")
    proc = subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def _last_run(cwd: Path, url: str) -> dict[str, object]:
    runs = json.loads(_cli("runs", "list", "--json", cwd=cwd, url=url).stdout)
    return runs[0]  # newest first


def _fit(url: str, db_file: Path | None) -> dict[str, object]:
    """The stored drift figures of the channel's last topicize (``topic_fits``)."""
    query = "select fit_kind, drift from topic_fits"
    if db_file is not None:
        con = sqlite3.connect(db_file)
        try:
            kind, drift = con.execute(query).fetchone()
        finally:
            con.close()
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            kind, drift = conn.execute(text(query)).one()
        engine.dispose()
    drift = json.loads(drift) if isinstance(drift, str) else drift
    return {"kind": kind, **drift}


@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
def test_cli_rerun_delta_is_exactly_the_3_edited_and_5_added_posts(
    db: str, request: pytest.FixtureRequest, shared_data: Path, tmp_path: Path
) -> None:
    """Full ``tg-parser run`` twice (with topicize): the delta since run 1 is exactly the 8 upserts."""
    db_file = None if db == "postgresql" else tmp_path / "tg_parser.db"
    url = request.getfixturevalue("pg_url") if db == "postgresql" else f"sqlite:///{db_file}"
    first, second, edited, added = _versions(shared_data, tmp_path)

    _cli("run", "--export-file", str(first), "--out", "out", cwd=tmp_path, url=url)
    run1 = _last_run(tmp_path, url)
    assert run1["status"] == "succeeded", run1
    key = str(run1["channel"])
    folder = tmp_path / "out" / key
    before = _lines(folder / "documents.ndjson")
    assert _fit(url, db_file)["kind"] == "full"  # the first fit

    _cli("run", "--export-file", str(second), "--out", "out", cwd=tmp_path, url=url)
    run2 = _last_run(tmp_path, url)
    assert run2["run_id"] != run1["run_id"]
    assert run2["status"] == "succeeded", run2
    fit = _fit(url, db_file)
    # 8 of ~250 posts pending: under the drift thresholds, so the new posts join stored topics.
    assert (fit["kind"], fit["reason"], fit["pending"]) == ("incremental", None, 8), fit

    proc = _cli("export", key, "--since", str(run1["run_id"]), "--out", "out", cwd=tmp_path, url=url)
    assert "8 upserts, 0 deletes" in proc.stdout, proc.stdout
    full = _lines(folder / "documents.ndjson")
    want = {f"{key}:{mid}" for mid in edited | added}
    raw = (folder / "documents.delta.ndjson").read_text(encoding="utf-8").split("\n")
    assert raw[-1] == ""
    delta = raw[:-1]
    assert len(delta) == 8
    ids = []
    for line in delta:
        record = json.loads(line)
        assert record["op"] == "upsert"
        ids.append(record["id"])
        assert line == '{"op":"upsert",' + full[record["id"]][1:]  # byte for byte the full line
    assert sorted(ids) == sorted(want)  # each once, and nothing else
    # Exactly the lines that changed between the two runs' full files (no post moved topic).
    assert {i for i in full if full[i] != before.get(i)} == want
    assert set(before) == set(full) - {f"{key}:{mid}" for mid in added}
    for mid in edited:
        record = json.loads(full[f"{key}:{mid}"])
        assert record["text"] == f"Edited post {mid}: the library moves to a new shelf."
        assert record["metadata"]["topic_id"] is not None
    for mid in added:
        assert json.loads(full[f"{key}:{mid}"])["metadata"]["topic_id"] is not None

    # A topic renamed (what an LLM re-label of a topic that gained posts does): its members, and only
    # they, come in the next delta, and an export from that delta's cursor is empty.
    cursor = proc.stdout.split("delta cursor ", 1)[1].split()[0]
    renamed = _relabel_one_topic(url, key)
    assert renamed
    _cli("export", key, "--since", cursor, "--out", "out", cwd=tmp_path, url=url)
    after = _lines(folder / "documents.ndjson")
    lines = (folder / "documents.delta.ndjson").read_text(encoding="utf-8").split("\n")[:-1]
    assert sorted(json.loads(x)["id"] for x in lines) == sorted(renamed)
    assert {i for i in after if after[i] != full[i]} == renamed
    assert all(json.loads(after[i])["metadata"]["topic_label"].endswith(" (renamed)") for i in renamed)


@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
def test_cli_rerun_after_a_full_recluster_delta_is_every_changed_line(
    db: str, request: pytest.FixtureRequest, shared_data: Path, tmp_path: Path
) -> None:
    """A re-run with > 20 % new posts re-clusters fully: posts it moves (or relabels) are in the delta too."""
    db_file = None if db == "postgresql" else tmp_path / "tg_parser.db"
    url = request.getfixturevalue("pg_url") if db == "postgresql" else f"sqlite:///{db_file}"
    data = json.loads((shared_data / "exports" / EXPORT).read_text(encoding="utf-8"))
    small, large = tmp_path / "small.json", tmp_path / "large.json"
    small.write_text(json.dumps(dict(data, messages=data["messages"][:160]), ensure_ascii=False), "utf-8")
    large.write_text(json.dumps(dict(data, messages=data["messages"][:POSTS]), ensure_ascii=False), "utf-8")

    _cli("run", "--export-file", str(small), "--out", "out", cwd=tmp_path, url=url)
    run1 = _last_run(tmp_path, url)
    key = str(run1["channel"])
    folder = tmp_path / "out" / key
    before = _lines(folder / "documents.ndjson")
    _cli("run", "--export-file", str(large), "--out", "out", cwd=tmp_path, url=url)
    fit = _fit(url, db_file)
    assert (fit["kind"], fit["reason"]) == ("full", "new_share"), fit
    full = _lines(folder / "documents.ndjson")
    moved = {
        i
        for i in before
        if json.loads(before[i])["metadata"]["topic_id"] != json.loads(full[i])["metadata"]["topic_id"]
    }
    assert moved, "the re-cluster moved no old post: this test would not see a missed topic change"

    proc = _cli("export", key, "--since", str(run1["run_id"]), "--out", "out", cwd=tmp_path, url=url)
    lines = (folder / "documents.delta.ndjson").read_text(encoding="utf-8").split("\n")[:-1]
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids))
    assert set(ids) == {i for i in full if full[i] != before.get(i)}  # every changed line, nothing else
    assert moved <= set(ids)
    for line, i in zip(lines, ids, strict=True):
        assert line == '{"op":"upsert",' + full[i][1:]
    assert f"{len(ids)} upserts, 0 deletes" in proc.stdout


def _relabel_one_topic(url: str, key: str) -> set[str]:
    """Store the topics again with one label changed (as an LLM re-label does); return its members."""
    from collections import defaultdict

    from tg_parser.domain import Topic
    from tg_parser.storage import channels, session_scope, topic_fits

    with session_scope(url) as session:
        pk = channels.get_channel(session, key=key).pk
        placed = topic_fits.placements(session, channel_pk=pk)
        rows = topic_fits.stored_topic_rows(session, channel_pk=pk)
        members: dict[str, list[int]] = defaultdict(list)
        for mid, topic in zip(placed.ids.tolist(), placed.topic_keys, strict=True):
            assert topic is not None
            members[topic].append(mid)
        target = min(members, key=lambda t: (len(members[t]), t))
        topics = [
            Topic(
                topic_id=t,
                label=rows[t][0] + (" (renamed)" if t == target else ""),
                keywords=rows[t][1],
                summary=rows[t][2],
                member_ids=ids,
            )
            for t, ids in members.items()
        ]
        topic_fits.store_topics(
            session, channel_pk=pk, topics=topics, moves=[], fit_kind="incremental", at=topic_fits.now()
        )
    return {f"{key}:{mid}" for mid in members[target]}
