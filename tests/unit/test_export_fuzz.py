"""Seeded fuzzing of real Telegram Desktop exports: damage never costs an intact post, never a traceback.

Each example takes a real export from ``../shared/data/exports``, damages it
once (a byte flipped, a stretch deleted, the file truncated, a value's type
changed, deep nesting or a long string inserted) and reads it with the
Desktop export source. Asserted: nothing raises but
:class:`~tg_parser.errors.InputError`; every post whose bytes the damage did
not touch is read with the same text; a damaged stretch is reported. A few
examples import the damaged file into SQLite, then the original: every post
of the original ends exactly as a clean import stores it (a post whose id
the damage changed stays as an extra row: an export is a snapshot, so posts
missing from it are never deleted). The whole pipeline (documents) is run
on one damaged file in ``tests/unit/test_bad_input_runs.py``.

Bounded for CI: derandomized (the same examples every run), a fixed number of
examples, no deadline per example.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_DATA, in_ci
from tg_parser.config import Settings
from tg_parser.domain import Message
from tg_parser.errors import InputError
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.services import channels, pipeline
from tg_parser.sources.desktop_export import DesktopExportSource
from tg_parser.storage import migrate

EXPORTS = SHARED_DATA / "exports"
FILES = (
    "cuda_supergroup_old_format.json",
    "ensia_full_account_forum.json",
    "trantor_library_public_channel.json",
)
SOURCE_EXAMPLES = 60
PIPELINE_EXAMPLES = 4
_START = re.compile(rb'[\[,]\s*(\{\s*"id"\s*:\s*(-?\d+)\s*,\s*"type"\s*:\s*")')

pytestmark = pytest.mark.skipif(
    not EXPORTS.is_dir() and not in_ci(), reason=f"{EXPORTS} is missing (real Telegram exports)"
)


@dataclass(frozen=True)
class Post:
    """A post of the clean file: its chat, id, text and byte span ``[start, end)``."""

    chat: int
    message_id: int
    text: str
    start: int
    end: int


def _spans(data: bytes) -> dict[tuple[int, int], tuple[int, int]]:
    """Map ``(position in file order, message id)`` of every message object to its byte span."""
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    spans = {}
    for n, m in enumerate(_START.finditer(data)):
        start = m.start(1)
        char = len(data[:start].decode("utf-8"))
        _, end_char = decoder.raw_decode(text, char)
        spans[(n, int(m.group(2)))] = (start, start + len(text[char:end_char].encode("utf-8")))
    return spans


def _read(path: Path) -> tuple[list[tuple[int, Message]], list[InputError]]:
    """Read every chat of an export as the import does (chat list, then each chat by id)."""
    source = DesktopExportSource(path)
    head = source.head_chat()
    chats = [head] if head is not None else source.chats()
    posts: list[tuple[int, Message]] = []
    errors: list[InputError] = []
    for chat in chats:
        for item in source.iter_chat(chat.info.telegram_id):
            if isinstance(item, InputError):
                errors.append(item)
            else:
                posts.append((chat.info.telegram_id, item))
    return posts, errors


_CLEAN: dict[str, tuple[bytes, list[Post]]] = {}


def _clean(name: str) -> tuple[bytes, list[Post]]:
    """The clean bytes of an export and its posts with their spans (cached)."""
    if name not in _CLEAN:
        path = EXPORTS / name
        data = path.read_bytes()
        spans = sorted(_spans(data).values())
        posts, errors = _read(path)
        assert not errors, errors
        by_id: dict[int, list[tuple[int, int]]] = {}
        for n, (start, end) in enumerate(spans):
            del n
            mid = int(re.search(rb'"id"\s*:\s*(-?\d+)', data[start : start + 100]).group(1))  # type: ignore[union-attr]
            by_id.setdefault(mid, []).append((start, end))
        seen: dict[int, int] = {}
        located = []
        for chat, message in posts:
            k = seen.get(message.message_id, 0)
            seen[message.message_id] = k + 1
            start, end = by_id[message.message_id][k]
            located.append(Post(chat, message.message_id, message.text, start, end))
        _CLEAN[name] = (data, located)
    return _CLEAN[name]


@dataclass(frozen=True)
class Damage:
    """One mutation: bytes ``[start, end)`` replaced by ``insert`` (``truncate``: the file cut there)."""

    kind: str
    start: int
    end: int
    insert: bytes = b""

    def apply(self, data: bytes) -> bytes:
        """Return the damaged bytes."""
        if self.kind == "truncate":
            return data[: self.start]
        return data[: self.start] + self.insert + data[self.end :]

    def touches(self, post: Post) -> bool:
        """Whether the damage changed a byte of ``post`` (or cut it off)."""
        if self.kind == "truncate":
            return post.end > self.start
        return self.start < post.end and post.start < max(self.end, self.start + 1)


@st.composite
def damages(draw: st.DrawFn, size: int, spans: list[tuple[int, int]]) -> Damage:
    """A damage inside (or across) the message objects of a file of ``size`` bytes."""
    kind = draw(st.sampled_from(["flip", "delete", "truncate", "type", "nest", "string"]))
    start, end = draw(st.sampled_from(spans))
    at = draw(st.integers(min_value=start, max_value=end - 1))
    if kind == "flip":
        byte = draw(st.integers(min_value=0, max_value=255))
        return Damage(kind, at, at + 1, bytes([byte]))
    if kind == "delete":
        length = draw(st.integers(min_value=1, max_value=400))
        return Damage(kind, at, min(at + length, size))
    if kind == "truncate":
        return Damage(kind, at, size)
    if kind == "type":
        value = draw(
            st.sampled_from([b"1e999", b"123456789012345678901234567890", b"[]", b"{}", b"null", b"true"])
        )
        return Damage(kind, at, at, b'"x": ' + value + b", ")
    if kind == "nest":
        depth = draw(st.sampled_from([10, 600, 5000, 100_000]))
        return Damage(kind, at, at, b"[" * depth)
    length = draw(st.sampled_from([1_000, 100_000, 2_000_000]))
    return Damage(kind, at, at, b'"' + b"x" * length + b'"')


def _check_damaged_read(name: str, damage: Damage, tmp: Path) -> None:
    data, posts = _clean(name)
    path = tmp / "result.json"
    path.write_bytes(damage.apply(data))
    try:
        read, errors = _read(path)
    except InputError:
        # The whole file refused: only when the damage hit the head of the file.
        assert damage.start < min(p.start for p in posts), damage
        return
    got = {(chat, m.message_id): m.text for chat, m in read}
    lost = [p for p in posts if not damage.touches(p) and got.get((p.chat, p.message_id)) != p.text]
    assert not lost, (
        damage.kind,
        damage.start,
        damage.end,
        [(p.message_id, p.start) for p in lost[:5]],
        errors[:3],
    )
    for error in errors:
        assert error.path == str(path)


@pytest.mark.parametrize("name", FILES)
def test_damaged_export_loses_only_the_damaged_posts(name: str, tmp_path: Path) -> None:
    """Seeded: each damage costs at most the posts it touched, and raises nothing but InputError."""
    data, posts = _clean(name)
    spans = sorted({(p.start, p.end) for p in posts})

    @settings(
        max_examples=SOURCE_EXAMPLES // len(FILES),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(damage=damages(len(data), spans))
    def check(damage: Damage) -> None:
        _check_damaged_read(name, damage, tmp_path)

    check()


def _stored(url: str) -> dict[int, tuple[str, str]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT message_id, text, content_hash FROM messages").fetchall()
    return {mid: (text, digest) for mid, text, digest in rows}


def _import(url: str, path: Path) -> None:
    settings = Settings(_env_file=None, database_url=url)
    (chat,) = channels.register_export(database_url=url, path=path, username=None, export_dir=None)
    pipeline.ingest_channel(
        settings=settings, channel=chat.key, run_id=None, processor=OfflineProcessor(), dispatcher=None
    )


def test_damaged_import_then_the_original_converges(tmp_path: Path) -> None:
    """Seeded: import a damaged copy, then the original: the original's posts are stored as a clean import."""
    name = FILES[0]
    data, posts = _clean(name)
    spans = sorted({(p.start, p.end) for p in posts})
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    migrate.upgrade(clean_url)
    _import(clean_url, EXPORTS / name)
    reference = _stored(clean_url)
    runs = iter(range(PIPELINE_EXAMPLES * 10))

    @settings(
        max_examples=PIPELINE_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(damage=damages(len(data), spans))
    def check(damage: Damage) -> None:
        folder = tmp_path / f"run{next(runs)}"
        folder.mkdir()
        url = f"sqlite:///{folder / 'tg.db'}"
        migrate.upgrade(url)
        path = folder / "result.json"
        path.write_bytes(damage.apply(data))
        try:
            _import(url, path)
        except InputError:
            assert damage.start < min(p.start for p in posts), damage
        path.write_bytes(data)
        _import(url, path)
        stored = _stored(url)
        assert {mid: stored.get(mid) for mid in reference} == reference, damage
        read_ids = {m.message_id for _, m in _read_quietly(folder, damage.apply(data))}
        assert set(stored) - set(reference) <= read_ids, damage

    check()


def _read_quietly(folder: Path, data: bytes) -> list[tuple[int, Message]]:
    path = folder / "damaged.json"
    path.write_bytes(data)
    try:
        return _read(path)[0]
    except InputError:
        return []
