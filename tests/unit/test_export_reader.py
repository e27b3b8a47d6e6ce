"""The export read in a child process (``services.export_reader``) gives what the in-process read gives."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tg_parser.errors import InputError
from tg_parser.services.export_reader import encoded_export_batches
from tg_parser.services.sources import ExportSourceRef, SourceBatch, export_batches
from tg_parser.storage.messages import EncodedPosts, encode_posts

CHAT_ID = 42


def _message(message_id: Any, text: Any = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "date_unixtime": str(1714557600 + (message_id if isinstance(message_id, int) else 0)),
        "text": text,
        **extra,
    }


def _export(path: Path, messages: list[Any]) -> ExportSourceRef:
    data = {"name": "Chat", "type": "public_channel", "id": CHAT_ID, "messages": messages}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return ExportSourceRef(path=str(path), chat_id=CHAT_ID)


def rows_without_times(posts: EncodedPosts) -> list[list[bytes]]:
    """The ``COPY`` rows' fields without first_seen_at/updated_at (the time of encoding, the last two).

    A tab or newline inside a value is escaped in the text format, so splitting on them is exact.
    """
    return [line.split(b"\t")[:-2] for line in posts.rows.split(b"\n")[:-1]]


def _summary(batches: list[SourceBatch]) -> list[tuple[Any, ...]]:
    return [(b.posts, b.cursor, [str(e) for e in b.errors]) for b in batches]


def test_batches_equal_the_in_process_read(tmp_path: Path) -> None:
    """Every post, error and cursor arrives, encoded exactly as encode_posts encodes the same posts."""
    posts = [_message(i, f"post {i}\t\\ \x00 #{i}") for i in range(1, 26)]
    posts[7] = _message(8, text=12)  # malformed: an error in its batch
    posts[11] = "not an object"
    ref = _export(tmp_path / "result.json", posts)
    here = list(export_batches(ref, batch_size=10))
    there = list(encoded_export_batches(ref, channel_pk=7, batch_size=10))
    assert _summary(there) == _summary(here)
    assert [b.messages for b in there] == [[] for _ in here]
    expected = [rows_without_times(encode_posts(channel_pk=7, messages=b.messages)) for b in here]
    got = [rows_without_times(b.encoded) if b.encoded else None for b in there]
    assert got == expected
    assert sum(b.posts for b in there) == 23
    errors = [e for b in there for e in b.errors]
    assert [(e.path, e.message_id) for e in errors] == [(ref.path, 8), (ref.path, None)]


def test_truncated_file_raises_after_the_batches_before(tmp_path: Path) -> None:
    """A file that breaks off: its batches come first, then its InputError as the in-process read gives it."""
    full = json.dumps(
        {"name": "C", "type": "public_channel", "id": CHAT_ID, "messages": [_message(i) for i in range(1, 8)]}
    )
    path = tmp_path / "result.json"
    path.write_text(full[: full.index('"id": 6')], encoding="utf-8")
    ref = ExportSourceRef(path=str(path), chat_id=CHAT_ID)
    got = list(encoded_export_batches(ref, channel_pk=1, batch_size=2))
    here = list(export_batches(ref, batch_size=2))
    assert _summary(got) == _summary(here)
    assert "truncated" in str(got[-1].errors[-1])


def test_unreadable_file_raises_input_error(tmp_path: Path) -> None:
    """A missing file or a chat the file lacks raises the InputError naming the file, from the child."""
    missing = ExportSourceRef(path=str(tmp_path / "absent.json"), chat_id=CHAT_ID)
    with pytest.raises(InputError, match="no such file") as excinfo:
        list(encoded_export_batches(missing, channel_pk=1, batch_size=5))
    assert excinfo.value.path == missing.path
    ref = _export(tmp_path / "result.json", [_message(1)])
    other = ExportSourceRef(path=ref.path, chat_id=CHAT_ID + 1)
    with pytest.raises(InputError, match=f"no chat with id {CHAT_ID + 1}"):
        list(encoded_export_batches(other, channel_pk=1, batch_size=5))


def test_consumer_stopping_early_stops_the_child(tmp_path: Path) -> None:
    """Closing the stream after one batch leaves no reader process behind."""
    ref = _export(tmp_path / "result.json", [_message(i) for i in range(1, 200)])
    stream = encoded_export_batches(ref, channel_pk=1, batch_size=10, depth=1)
    first = next(stream)
    assert first.posts == 10
    stream.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "tg-parser-export-reader"]


def _parent_peak_bytes(tmp_path: Path, posts: int) -> int:
    text = ["Длинный пост о распределённых системах " * 20, {"type": "hashtag", "text": "#tag"}]
    ref = _export(tmp_path / f"result{posts}.json", [_message(i, text) for i in range(1, posts + 1)])
    tracemalloc.start()
    try:
        read = sum(b.posts for b in encoded_export_batches(ref, channel_pk=1, batch_size=500, depth=1))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == posts
    return peak_bytes


def test_parent_memory_stays_flat(tmp_path: Path) -> None:
    """The parent's Python peak does not grow with the export: 4x the posts, about the same peak."""
    small = _parent_peak_bytes(tmp_path, 3_000)
    large = _parent_peak_bytes(tmp_path, 12_000)
    assert large < small * 1.5, (small, large)


def test_input_error_pickles_with_file_and_message() -> None:
    """An InputError crossing the process boundary keeps its reason, file and message id."""
    sent = pickle.dumps(InputError("bad date", path="/x/result.json", message_id=7))
    error = pickle.loads(sent)  # noqa: S301 - our own bytes, as multiprocessing sends them
    assert (error.reason, error.path, error.message_id) == ("bad date", "/x/result.json", 7)
    assert str(error) == "file /x/result.json, message 7: bad date"


def test_daemonic_process_reads_on_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where children are not allowed (a Celery prefork worker), the same batches come from a thread."""
    ref = _export(tmp_path / "result.json", [_message(i) for i in range(1, 26)])
    expected = _summary(list(encoded_export_batches(ref, channel_pk=1, batch_size=10)))
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    before = multiprocessing.active_children()
    got = list(encoded_export_batches(ref, channel_pk=1, batch_size=10))
    assert _summary(got) == expected
    assert all(b.encoded is not None for b in got)
    assert multiprocessing.active_children() == before


def test_prestarted_child_reads_the_same_batches(tmp_path: Path) -> None:
    """A reader started ahead (the CLI's prestart) is the one that reads, with the same batches."""
    from tg_parser.services import pipeline, reader_process

    assert reader_process.DEFAULT_DEPTH == pipeline.INGEST_PREFETCH
    ref = _export(tmp_path / "result.json", [_message(i) for i in range(1, 26)])
    expected = _summary(list(export_batches(ref, batch_size=10)))
    reader_process.prestart()
    (warm,) = [p for p in multiprocessing.active_children() if p.name == "tg-parser-export-reader"]
    stream = encoded_export_batches(ref, channel_pk=1, batch_size=10, depth=reader_process.DEFAULT_DEPTH)
    first = next(stream)
    (reading,) = [p for p in multiprocessing.active_children() if p.name == "tg-parser-export-reader"]
    assert reading.pid == warm.pid
    assert _summary([first, *stream]) == expected
    assert reader_process.take(reader_process.DEFAULT_DEPTH) is None  # used once


def test_child_that_dies_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader process killed mid-way (out of memory, say) fails the read instead of hanging it."""
    ref = _export(tmp_path / "result.json", [_message(i) for i in range(1, 200)])
    monkeypatch.setattr("tg_parser.services.export_reader.POLL_S", 0.1)
    stream = encoded_export_batches(ref, channel_pk=1, batch_size=10, depth=1)
    next(stream)
    (child,) = [p for p in multiprocessing.active_children() if p.name == "tg-parser-export-reader"]
    child.kill()
    with pytest.raises(RuntimeError, match="export reader process died"):
        list(stream)
