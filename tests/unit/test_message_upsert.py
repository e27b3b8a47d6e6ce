"""``storage.messages.upsert_messages`` keeps its semantics on every path (SQLite here).

The scenarios take a database URL, so ``tests/integration/test_message_copy.py``
runs the same ones on PostgreSQL, where the rows travel by ``COPY``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tg_parser.domain import Entity, EntityType, Message
from tg_parser.errors import InputError
from tg_parser.services.sources import prefetched
from tg_parser.sources.desktop_export import DesktopExportSource
from tg_parser.storage import channels, messages
from tg_parser.storage.session import session_scope
from tg_parser.storage.tables import MessageRow, MessageVersionRow

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def make_channel(url: str) -> int:
    """Create the channel the scenarios write to; return its primary key."""
    with session_scope(url) as s:
        return channels.upsert_channel(
            s,
            key="c1",
            telegram_id=1,
            username=None,
            title="c",
            chat_type=None,
            source_kind="export",
            source="{}",
        )


def post(mid: int, text: str = "hello", **extra: object) -> Message:
    """A post with one hashtag entity and a raw form."""
    ent = Entity(type=EntityType.HASHTAG, offset=0, length=2, text="#h")
    return Message(
        channel_id=1, message_id=mid, date=T0, text=text, entities=(ent,), raw={"id": mid, "t": text}, **extra
    )


def upsert(url: str, pk: int, batch: list[Message]) -> messages.UpsertOutcome:
    """Upsert ``batch`` in one transaction."""
    with session_scope(url) as s:
        return messages.upsert_messages(s, channel_pk=pk, messages=batch)


def table_state(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every message row (with its update time) and every version row."""
    with session_scope(url) as s:
        rows = s.execute(
            select(
                MessageRow.message_id,
                MessageRow.text,
                MessageRow.content_hash,
                MessageRow.updated_at,
                MessageRow.views,
            ).order_by(MessageRow.message_id)
        ).all()
        versions = s.execute(
            select(MessageVersionRow.message_pk, MessageVersionRow.text, MessageVersionRow.content_hash)
        ).all()
    return [tuple(r) for r in rows], [tuple(v) for v in versions]


def scenario_reimport_writes_nothing(url: str) -> None:
    """Importing the same posts again reports them unchanged and changes no row."""
    pk = make_channel(url)
    batch = [post(i, f"post {i}") for i in range(1, 51)]
    assert upsert(url, pk, batch) == messages.UpsertOutcome(new=50, changed=0, unchanged=0)
    before = table_state(url)
    assert upsert(url, pk, batch) == messages.UpsertOutcome(new=0, changed=0, unchanged=50)
    assert table_state(url) == before


def scenario_edit_keeps_one_version(url: str) -> None:
    """An edited post is updated and its previous text is kept exactly once."""
    pk = make_channel(url)
    upsert(url, pk, [post(1, "old"), post(2, "same")])
    out = upsert(url, pk, [post(1, "new"), post(2, "same"), post(3, "fresh")])
    assert out == messages.UpsertOutcome(new=1, changed=1, unchanged=1)
    rows, versions = table_state(url)
    assert [(r[0], r[1]) for r in rows] == [(1, "new"), (2, "same"), (3, "fresh")]
    assert [(v[1], v[2]) for v in versions] == [("old", messages.strip_nul_hash(post(1, "old")))]
    assert upsert(url, pk, [post(1, "new")]).unchanged == 1
    assert len(table_state(url)[1]) == 1


def scenario_metadata_change_is_not_an_edit(url: str) -> None:
    """A new view count updates the row but is no content change (no version)."""
    pk = make_channel(url)
    upsert(url, pk, [post(1, views=5)])
    assert upsert(url, pk, [post(1, views=9)]) == messages.UpsertOutcome(new=0, changed=0, unchanged=1)
    rows, versions = table_state(url)
    assert rows[0][4] == 9
    assert versions == []


def scenario_nul_is_stripped(url: str) -> None:
    """NUL characters in text and raw JSON are stripped; the hash is that of the stored text."""
    pk = make_channel(url)
    bad = Message(
        channel_id=1, message_id=7, date=T0, text="a\x00b", author="x\x00", raw={"k\x00": ["v\x00"]}
    )
    assert upsert(url, pk, [bad]).new == 1
    with session_scope(url) as s:
        row = s.execute(select(MessageRow).where(MessageRow.message_id == 7)).scalar_one()
        assert (row.text, row.author, row.raw) == ("ab", "x", {"k": ["v"]})
        assert row.content_hash == messages.strip_nul_hash(bad)
    assert upsert(url, pk, [bad]).unchanged == 1


def scenario_duplicates_later_wins(url: str) -> None:
    """Within one batch the later copy of a message id is the one stored."""
    pk = make_channel(url)
    assert upsert(url, pk, [post(1, "first"), post(1, "second")]).new == 1
    with session_scope(url) as s:
        assert s.execute(select(func.count()).select_from(MessageRow)).scalar_one() == 1
    assert table_state(url)[0][0][1] == "second"


def scenario_raw_json_is_kept_whole(url: str) -> None:
    """Raw JSON with non-ASCII text, floats and an integer beyond 64 bits is stored as it was."""
    pk = make_channel(url)
    raw = {"id": 3, "text": "Привет 😀", "big": 2**70, "lat": 55.75, "parts": [{"type": "bold"}]}
    assert upsert(url, pk, [post(3).model_copy(update={"raw": raw})]).new == 1
    with session_scope(url) as s:
        assert s.execute(select(MessageRow.raw).where(MessageRow.message_id == 3)).scalar_one() == raw


SCENARIOS = [
    scenario_raw_json_is_kept_whole,
    scenario_reimport_writes_nothing,
    scenario_edit_keeps_one_version,
    scenario_metadata_change_is_not_an_edit,
    scenario_nul_is_stripped,
    scenario_duplicates_later_wins,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("scenario_"))
def test_upsert_on_sqlite(sqlite_url: str, scenario: object) -> None:
    """Each upsert scenario holds on SQLite (the ``executemany`` path)."""
    scenario(sqlite_url)  # type: ignore[operator]


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _chat(chat_id: int, texts: list[str], *, meta_last: bool = False) -> dict[str, object]:
    msgs = [
        {"id": i + 1, "type": "message", "date_unixtime": "1700000000", "text": t}
        for i, t in enumerate(texts)
    ]
    meta = {"name": f"chat {chat_id}", "type": "public_channel", "id": chat_id}
    return {"messages": msgs, **meta} if meta_last else {**meta, "messages": msgs}


def test_iter_chat_reads_one_chat_of_many(tmp_path: Path) -> None:
    """``iter_chat`` yields exactly the posts of the chat with that id, in one pass."""
    path = _write(tmp_path / "r.json", {"chats": {"list": [_chat(10, ["a", "b"]), _chat(20, ["c"])]}})
    source = DesktopExportSource(path)
    assert [m.text for m in source.iter_chat(20) if isinstance(m, Message)] == ["c"]
    assert [m.text for m in source.iter_chat(10) if isinstance(m, Message)] == ["a", "b"]
    with pytest.raises(InputError, match="no chat with id 30"):
        list(source.iter_chat(30))


def test_iter_chat_metadata_after_messages(tmp_path: Path) -> None:
    """A chat whose id comes after its messages is still found (by the extra metadata pass)."""
    path = _write(tmp_path / "r.json", _chat(10, ["x", "y"], meta_last=True))
    assert [m.text for m in DesktopExportSource(path).iter_chat(10) if isinstance(m, Message)] == ["x", "y"]


def test_prefetched_keeps_order_and_errors() -> None:
    """Prefetching yields every item in order, then re-raises the producer's error."""

    def items() -> Iterator[int]:
        yield from range(5)
        msg = "broken"
        raise InputError(msg)

    seen: list[int] = []
    with pytest.raises(InputError, match="broken"):
        seen.extend(prefetched(items(), depth=2))
    assert seen == [0, 1, 2, 3, 4]


def test_prefetched_stops_its_thread_when_the_consumer_stops() -> None:
    """Closing the stream early leaves no prefetch thread running."""

    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    stream = prefetched(endless(), depth=1)
    assert isinstance(stream, Generator)
    assert next(stream) == 0
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "export-prefetch"]


def test_encoded_json_columns_hold_the_same_values() -> None:
    """The JSON text COPY sends for entities, reactions and raw parses back to the post's own values."""
    path = Path(__file__).parents[2] / "samples" / "sample_channel" / "result.json"
    posts = [m for m in DesktopExportSource(path).iter_all() if isinstance(m[1], Message)]
    huge = post(10_000).model_copy(update={"raw": {"id": 10_000, "big": 2**70, "nul\x00": "a\x00b"}})
    batch = [m for _, m in posts] + [huge]
    columns = list(messages._COLUMNS)  # noqa: SLF001 - the record layout under test
    at = {name: columns.index(name) for name in ("entities", "reactions", "raw", "message_id")}
    records = messages.encode_records(channel_pk=1, messages=batch, now=T0)
    assert len(records) == len(batch) > 100
    for message, record in zip(batch, records, strict=True):
        assert record[at["message_id"]] == message.message_id
        expected_raw = {"id": 10_000, "big": 2**70, "nul": "ab"} if message is huge else message.raw
        assert json.loads(record[at["raw"]]) == expected_raw
        assert json.loads(record[at["entities"]]) == [e.json_dict() for e in message.entities]
        assert json.loads(record[at["reactions"]]) == [r.model_dump() for r in message.reactions]
