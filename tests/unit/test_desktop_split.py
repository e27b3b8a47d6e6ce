"""Messages cut out and parsed by orjson (``sources._desktop_split``) are ijson's values and errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import ijson
import pytest

from tests.conftest import need
from tests.unit.test_export_reader import rows_without_times
from tg_parser.domain import Message
from tg_parser.domain.models import content_hash
from tg_parser.domain.post_fields import PostFields
from tg_parser.errors import InputError
from tg_parser.sources._desktop_message import is_post, to_message, to_post_fields
from tg_parser.sources._desktop_split import NotSplittableError, elements
from tg_parser.sources._desktop_stream import _ijson_messages, head_meta, top_level_messages
from tg_parser.storage.messages import _content_hash, encode_posts

EXPORTS_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "exports"
SINGLE_CHAT = ("trantor_library_public_channel.json", "cuda_supergroup_old_format.json")
BACKEND = ijson.get_backend("yajl2_c")


@pytest.fixture(params=SINGLE_CHAT)
def export_path(request: pytest.FixtureRequest) -> Path:
    """Each real single-chat export."""
    path = EXPORTS_DIR / request.param
    need(path.exists(), f"real Telegram export {path} is missing (see shared/data/README.md)")
    return path


def _read(reader: Any) -> tuple[list[tuple[int, str]], str | None]:
    """Positions and values (as repr, so 1 and 1.0 differ) read before an error, and the error's text."""
    out: list[tuple[int, str]] = []
    try:
        for item in reader:
            if isinstance(item, InputError):  # a damaged stretch, reported and read past
                return out, str(item)
            out.append((item.position, repr(item.value)))
    except InputError as exc:
        return out, str(exc)
    return out, None


def _same_as_ijson(path: Path) -> tuple[list[tuple[int, str]], str | None]:
    fast = _read(top_level_messages(path))
    slow = _read(_ijson_messages(path, skip=0))
    assert fast == slow
    return fast


def _whole(path: Path) -> list[Any]:
    """The elements, read by orjson's cut alone (no fallback)."""
    with path.open("rb") as handle:
        return list(elements(handle, ijson_backend=BACKEND))


def test_real_exports_are_cut_exactly(export_path: Path) -> None:
    """Every message of the real exports, cut and parsed by orjson, equals ijson's, with no fallback."""
    values, error = _same_as_ijson(export_path)
    assert error is None
    assert len(_whole(export_path)) == len(values) > 100


def _write(path: Path, messages: list[Any], *, indent: int | None = 1, tail: str = "") -> Path:
    head = {"name": "Chat", "type": "public_channel", "id": 42}
    data = {**head, "messages": messages}
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    if tail:
        text = text.rstrip()[:-1] + tail
    path.write_text(text, encoding="utf-8")
    assert head_meta(path) is not None
    return path


def _post(i: int, text: Any = "hi", **extra: Any) -> dict[str, Any]:
    return {"id": i, "type": "message", "date_unixtime": str(1714557600 + i), "text": text, **extra}


NASTY = [
    _post(1, '}, {\n  },\n  { "id": 3 }'),
    _post(
        2, [{"type": "bold", "text": "}]"}, "x", {"type": "text_link", "text": "a", "href": "http://x/{}"}]
    ),
    _post(3, '\\"\u2028\x00\x1f', reactions=[{"type": "emoji", "count": 2, "emoji": "👍"}]),
    _post(4, "", location_information={"latitude": 55.755826, "longitude": 37.6173, "x": 1e-7}),
    _post(5, "n", document_id=5368324170671202286, user_id=-9223372036854775807),
]


@pytest.mark.parametrize("indent", [None, 0, 1, 4])
def test_layouts_give_ijsons_values(tmp_path: Path, indent: int | None) -> None:
    """Minified, one-per-line and indented files: the same values as ijson (cut or fallen back)."""
    values, error = _same_as_ijson(_write(tmp_path / "r.json", NASTY * 3, indent=indent))
    assert error is None
    assert len(values) == 15


def test_desktop_layout_needs_no_fallback(tmp_path: Path) -> None:
    """Desktop's indented layout is read by the cut alone, nasty strings and all."""
    path = _write(tmp_path / "r.json", NASTY * 3, indent=1)
    assert len(_whole(path)) == 15


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [_post(1)],
        [_post(1), "not an object", _post(3)],
        [_post(1), _post(2, views=9223372036854775808), _post(3)],  # beyond ijson's 64 bits: its error
        [_post(1), _post(2, views=123456789012345678901234567890), _post(3)],
        [_post(1), _post(2, views=-9223372036854775808), _post(3)],
        [_post(1), [1, 2], 7, None, _post(5)],
    ],
)
def test_odd_lists_give_ijsons_values_and_errors(tmp_path: Path, messages: list[Any]) -> None:
    """Empty and one-element lists, non-objects, out-of-range integers: what ijson reads or reports."""
    _same_as_ijson(_write(tmp_path / "r.json", messages))


def test_lone_surrogate_is_read_as_ijson_reads_it(tmp_path: Path) -> None:
    """A lone surrogate escape, which orjson refuses, is read as ijson reads it."""
    path = tmp_path / "r.json"
    _write(path, [_post(1), _post(2, "SURROGATE"), _post(3)])
    path.write_bytes(path.read_bytes().replace(b"SURROGATE", b"a\\ud800b"))
    _same_as_ijson(path)


@pytest.mark.parametrize(
    "tail",
    [
        ', "more": [1, 2]}',  # a key after the list
        ', "messages": [{"id": 99, "type": "message", "text": ""}]}',  # a second list (ijson reads both)
        "}}",  # not JSON after all
        "",
    ],
)
def test_what_follows_the_list_is_ijsons_business(tmp_path: Path, tail: str) -> None:
    """Anything but the closing brace after the list is read by ijson, so its values and errors stand."""
    _same_as_ijson(_write(tmp_path / "r.json", [_post(1), _post(2)], tail=tail))


@pytest.mark.parametrize("cut", [10, 200, 333, -40, -3, -1])
def test_truncated_files_keep_ijsons_error(tmp_path: Path, cut: int) -> None:
    """A file cut short yields what ijson yields before the fault, then ijson's error (file, byte).

    Cut after the list (only the final ``}`` missing), every message has been
    read and nothing is reported lost.
    """
    path = _write(tmp_path / "r.json", NASTY * 2)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut > 0 else data[: len(data) + cut])
    _, error = _same_as_ijson(path)
    assert (error is None) == (cut == -1), error


def test_with_blocks_smaller_than_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages that span several reads of the file are cut the same way."""
    monkeypatch.setattr("tg_parser.sources._desktop_split.BLOCK_BYTES", 7)
    path = _write(tmp_path / "r.json", NASTY * 4)
    _same_as_ijson(path)
    assert len(_whole(path)) == 20


def test_an_unknown_layout_stops_the_cut(tmp_path: Path) -> None:
    """A list whose separator changes half-way is not guessed at: the cut stops, ijson reads on."""
    path = tmp_path / "r.json"
    first = json.dumps(_post(1))
    second = json.dumps(_post(2))
    third = json.dumps(_post(3))
    path.write_text(
        '{"name": "C", "type": "public_channel", "id": 1, "messages": [\n  '
        + first
        + ",\n  "
        + second
        + " ,\t"
        + third
        + "\n ]\n}\n",
        encoding="utf-8",
    )
    with path.open("rb") as handle, pytest.raises(NotSplittableError):
        list(elements(handle, ijson_backend=BACKEND))
    values, error = _same_as_ijson(path)
    assert error is None
    assert len(values) == 3


def test_post_fields_are_the_message(export_path: Path) -> None:
    """to_post_fields gives the values of to_message's post; both encode to the same COPY records."""
    raws = [v for _, v in _ijson_pairs(export_path) if isinstance(v, dict) and is_post(v)]
    assert raws
    messages = [to_message(raw, channel_id=42) for raw in raws]
    fields = [to_post_fields(raw, channel_id=42) for raw in raws]
    for message, post in zip(messages, fields, strict=True):
        assert isinstance(post, PostFields)
        rebuilt = Message.model_validate(
            {name: getattr(post, name) for name in PostFields.__slots__}  # type: ignore[attr-defined]
        )
        assert rebuilt == message
        assert [e.json_dict() for e in message.entities] == post.entities
    by_model = encode_posts(channel_pk=3, messages=messages)
    by_fields = encode_posts(channel_pk=3, messages=fields)
    assert by_model.message_ids == by_fields.message_ids
    assert rows_without_times(by_model) == rows_without_times(by_fields)


def _ijson_pairs(path: Path) -> list[tuple[int, Any]]:
    return [(m.position, m.value) for m in _ijson_messages(path, skip=0)]


def test_orjson_content_hash_is_the_domain_hash(export_path: Path) -> None:
    """The content hash serialised by orjson equals the json.dumps one: real posts and every code point."""
    for _, raw in _ijson_pairs(export_path):
        if isinstance(raw, dict) and is_post(raw):
            post = to_post_fields(raw, channel_id=1)
            assert _content_hash(post.text, post.entities) == content_hash(post.text, post.entities)
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    entities = [{"type": "bold", "offset": 0, "length": 3, "text": every[:99], "user_id": 2**63 - 1}]
    assert _content_hash(every, entities) == content_hash(every, entities)
    big = [{"type": "mention_name", "offset": 0, "length": 1, "text": "x", "user_id": 2**70}]
    assert _content_hash("x", big) == content_hash("x", big)  # orjson refuses; json.dumps hashes
    blob = json.dumps(
        {"entities": big, "text": "x"}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    assert _content_hash("x", big) == hashlib.sha256(blob.encode()).hexdigest()
