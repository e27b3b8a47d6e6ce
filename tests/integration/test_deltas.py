"""Incremental deltas on a real export: exactly the posts added, edited or deleted since a run.

The first pass imports a real Telegram Desktop export with its last five text
posts held out; the second imports the whole export with three posts edited.
On PostgreSQL (lines rendered by COPY) and SQLite alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tg_parser.config import load_settings
from tg_parser.services import channels as channels_service
from tg_parser.services import pipeline
from tg_parser.services.embedded import process_channel_embedded, run_channel_embedded
from tg_parser.storage import channels, messages, session_scope

pytestmark = pytest.mark.integration

EXPORT = "trantor_library_public_channel.json"
POSTS = 260  # messages of the real export used (a prefix): enough for topics, fast to process


def _flat(text: Any) -> str:
    if isinstance(text, str):
        return text
    return "".join(p if isinstance(p, str) else p.get("text", "") for p in text)


def _versions(shared_data: Path, tmp_path: Path) -> tuple[Path, Path, set[int], set[int]]:
    """Write the two exports; return their paths, the edited ids and the added ids."""
    data = json.loads((shared_data / "exports" / EXPORT).read_text(encoding="utf-8"))
    data["messages"] = data["messages"][:POSTS]
    texts = [m for m in data["messages"] if m.get("type") == "message" and _flat(m.get("text", "")).strip()]
    added = {m["id"] for m in texts[-5:]}
    first_path, second_path = tmp_path / "first.json", tmp_path / "second.json"
    first = dict(data, messages=[m for m in data["messages"] if m["id"] not in added])
    first_path.write_text(json.dumps(first, ensure_ascii=False), encoding="utf-8")
    edited = texts[10:13]
    for m in edited:
        m["text"] = f"Edited post {m['id']}: the library moves to a new shelf."
        m["text_entities"] = [{"type": "plain", "text": m["text"]}]
        m["edited"] = "2030-01-01T00:00:00"
        m["edited_unixtime"] = "1893456000"
    second_path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return first_path, second_path, {m["id"] for m in edited}, added


def _lines(path: Path) -> dict[str, str]:
    """``{id: line}`` of an NDJSON file (split on newlines only: U+2028 may sit inside a line)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
        out[json.loads(line)["id"]] = line
    return out


@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
def test_delta_holds_exactly_the_added_edited_and_deleted_posts(  # noqa: PLR0915 - one story
    db: str, request: pytest.FixtureRequest, shared_data: Path, tmp_path: Path
) -> None:
    """Run; re-import with 3 edited and 5 added: the delta since the run is those 8 upserts, nothing else."""
    url = request.getfixturevalue("pg_url" if db == "postgresql" else "sqlite_url")
    out = tmp_path / "out"
    settings = load_settings(database_url=url, export_dir=str(out))
    first, second, edited, added = _versions(shared_data, tmp_path)
    key = channels_service.register_export(database_url=url, path=first)[0].key
    run1 = run_channel_embedded(settings=settings, channel=key).run_id
    folder = out / key
    before = _lines(folder / "documents.ndjson")
    assert not (folder / "documents.delta.ndjson").exists()

    # The newer export of the same chat: imported and processed, topics left as they were.
    assert channels_service.register_export(database_url=url, path=second)[0].key == key
    pipeline.ingest_channel(
        settings=settings, channel=key, run_id=None, processor=_offline(), dispatcher=None
    )
    process_channel_embedded(settings=settings, channel=key)
    result = pipeline.export_channel(settings=settings, channel=key, run_id=None, since=run1)
    assert result is not None
    assert result.delta is not None
    full = _lines(folder / "documents.ndjson")
    delta = [json.loads(line) for line in (folder / "documents.delta.ndjson").read_text("utf-8").splitlines()]
    want = {f"{key}:{mid}" for mid in edited | added}
    assert [d["op"] for d in delta] == ["upsert"] * 8
    assert {d["id"] for d in delta} == want
    assert (result.delta.upserts, result.delta.deletes) == (8, 0)
    for d in delta:
        # The full record, byte for byte the documents.ndjson line behind "op".
        assert (
            json.dumps(d, ensure_ascii=False, separators=(",", ":")) == '{"op":"upsert",' + full[d["id"]][1:]
        )
        assert d["id_"] == d["id"]
    assert {i for i in full if full[i] != before.get(i)} == want  # and these are all that changed
    assert {json.loads(full[f"{key}:{mid}"])["text"] for mid in edited} == {
        f"Edited post {mid}: the library moves to a new shelf." for mid in edited
    }

    # A delta from this export's cursor is empty; deletion marks (as the live source's
    # edit window reports them) come as tombstones, and nothing else does.
    cursor = result.delta_cursor
    assert cursor is not None
    gone = sorted(edited)[:2]
    with session_scope(url) as session:
        pk = channels.get_channel(session, key=key).pk
        assert messages.mark_deleted(session, channel_pk=pk, message_ids=gone) == 2
    from tg_parser.services.deltas import encode_cursor

    again = pipeline.export_channel(settings=settings, channel=key, run_id=None, since=encode_cursor(cursor))
    assert again is not None
    tombstones = (folder / "documents.delta.ndjson").read_text("utf-8").splitlines()
    assert tombstones == [f'{{"op":"delete","id":"{key}:{mid}"}}' for mid in gone]
    assert not {f"{key}:{mid}" for mid in gone} & set(_lines(folder / "documents.ndjson"))

    # A full run of the export (which shows the deleted posts again, so they come back)
    # re-topicizes: its delta since run 1 is every post whose line changed, each once.
    run3 = run_channel_embedded(settings=settings, channel=key).run_id
    now = _lines(folder / "documents.ndjson")
    since1 = pipeline.export_channel(settings=settings, channel=key, run_id=None, since=run1)
    assert since1 is not None
    lines = [json.loads(x) for x in (folder / "documents.delta.ndjson").read_text("utf-8").splitlines()]
    upserts = {d["id"] for d in lines if d["op"] == "upsert"}
    deletes = {d["id"] for d in lines if d["op"] == "delete"}
    assert len(upserts) + len(deletes) == len(lines)
    assert upserts == {i for i in now if now[i] != before.get(i)}
    assert {f"{key}:{mid}" for mid in gone} <= upserts
    assert deletes == set()
    revived = pipeline.export_channel(
        settings=settings, channel=key, run_id=None, since=encode_cursor(cursor)
    )
    assert revived is not None
    assert revived.delta is not None
    assert revived.delta.deletes == 0  # the tombstones were followed by the posts' return
    empty = pipeline.export_channel(settings=settings, channel=key, run_id=None, since=run3)
    assert empty is not None
    assert (folder / "documents.delta.ndjson").read_bytes() == b""


def _offline():
    from tg_parser.processing.offline import OfflineProcessor

    return OfflineProcessor()
