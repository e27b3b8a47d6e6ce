# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Tests of the Telegram Desktop export reader on real exports and on small crafted files."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tg_parser.domain import EntityType, ForumTopic, Message, Reaction
from tg_parser.errors import InputError
from tg_parser.sources.desktop_export import DesktopExportSource, ExportedChat, ExportStats, flatten_text

EXPORTS_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "exports"
EXPORT_FILES = (
    "trantor_library_public_channel.json",
    "ensia_full_account_forum.json",
    "cuda_supergroup_old_format.json",
)


def _require(path: Path) -> Path:
    need(path.exists(), f"real Telegram export {path} is missing (see shared/data/README.md)")
    return path


@pytest.fixture(params=EXPORT_FILES)
def export_path(request: pytest.FixtureRequest) -> Path:
    """Each real export file."""
    return _require(EXPORTS_DIR / request.param)


def _raw_chats(path: Path) -> list[dict[str, Any]]:
    """Load a whole export with json (independent of the reader) and list its chats."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "messages" in data:
        return [data]
    return [*data.get("chats", {}).get("list", []), *data.get("left_chats", {}).get("list", [])]


def _concat(text: str | list[Any]) -> str:
    if isinstance(text, str):
        return text
    return "".join(part if isinstance(part, str) else part["text"] for part in text)


def _posts_by_key(path: Path) -> dict[tuple[int, int], Message]:
    out: dict[tuple[int, int], Message] = {}
    for chat, item in DesktopExportSource(path).iter_all():
        assert isinstance(item, Message), item
        out[chat.info.telegram_id, item.message_id] = item
    return out


def _raw_posts(path: Path) -> list[tuple[int, dict[str, Any]]]:
    return [
        (chat["id"], message)
        for chat in _raw_chats(path)
        for message in chat["messages"]
        if message["type"] == "message"
    ]


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts = message.get("text_entities")
    if parts is None:
        parts = message["text"] if isinstance(message["text"], list) else []
    return [part for part in parts if isinstance(part, dict)]


# --- real exports ----------------------------------------------------------------------------


def test_posts_plus_service_equal_messages(export_path: Path) -> None:
    """Every message of every chat is either a yielded post or a counted service message."""
    source = DesktopExportSource(export_path)
    chats = source.chats()
    raw_chats = _raw_chats(export_path)
    yielded: dict[int, int] = {}
    for chat, item in source.iter_all():
        assert isinstance(item, Message)
        yielded[chat.index] = yielded.get(chat.index, 0) + 1
    assert len(chats) == len(raw_chats)
    for chat, raw in zip(chats, raw_chats, strict=True):
        stats = source.stats(chat)
        posts = sum(1 for message in raw["messages"] if message["type"] == "message")
        assert stats == ExportStats(posts=posts, service=len(raw["messages"]) - posts, errors=0)
        assert yielded.get(chat.index, 0) == posts


def test_text_is_concatenation_of_parts(export_path: Path) -> None:
    """A post's text is the exact concatenation of its ``text`` parts."""
    posts = _posts_by_key(export_path)
    checked = 0
    for chat_id, raw in _raw_posts(export_path):
        expected = _concat(raw["text"])
        if expected:
            assert posts[chat_id, raw["id"]].text == expected
            checked += 1
    assert checked > 0


def test_dates_are_utc(export_path: Path) -> None:
    """``date``/``edited`` come from the Unix times, or from the naive local times read as UTC."""
    posts = _posts_by_key(export_path)
    for chat_id, raw in _raw_posts(export_path):
        post = posts[chat_id, raw["id"]]
        if "date_unixtime" in raw:
            assert post.date == datetime.fromtimestamp(int(raw["date_unixtime"]), UTC)
        else:
            assert post.date == datetime.fromisoformat(raw["date"]).replace(tzinfo=UTC)
        if "edited_unixtime" in raw:
            assert post.edited == datetime.fromtimestamp(int(raw["edited_unixtime"]), UTC)
        elif "edited" in raw:
            assert post.edited == datetime.fromisoformat(raw["edited"]).replace(tzinfo=UTC)
        else:
            assert post.edited is None
        assert post.date.utcoffset() is not None


def test_links_and_hashtags_are_found(export_path: Path) -> None:
    """Every text_link href, link text and hashtag of the export shows in links()/hashtags()."""
    posts = _posts_by_key(export_path)
    seen = 0
    for chat_id, raw in _raw_posts(export_path):
        post = posts[chat_id, raw["id"]]
        for part in _parts(raw):
            if part["type"] == "text_link":
                assert part["href"] in post.links()
            elif part["type"] == "link":
                assert part["text"] in post.links()
            elif part["type"] == "hashtag":
                assert part["text"] in post.hashtags()
            else:
                continue
            seen += 1
    assert seen > 0


def test_entity_offsets_slice_the_text(export_path: Path) -> None:
    """Each entity's offset and length cut its own text out of the post text."""
    entities = 0
    raw_entities = 0
    posts = _posts_by_key(export_path)
    for chat_id, raw in _raw_posts(export_path):
        post = posts[chat_id, raw["id"]]
        for entity in post.entities:
            assert post.text[entity.offset : entity.offset + entity.length] == entity.text
            assert entity.type is not EntityType.PLAIN
        entities += len(post.entities)
        raw_entities += sum(1 for part in _parts(raw) if part["type"] != "plain")
    assert entities == raw_entities > 0


def test_post_fields_match_the_export(export_path: Path) -> None:
    """Author, reply, forward, media type, reactions and raw follow the export's fields."""
    posts = _posts_by_key(export_path)
    for chat_id, raw in _raw_posts(export_path):
        post = posts[chat_id, raw["id"]]
        assert post.channel_id == chat_id
        assert post.author == (raw.get("author") or raw.get("from"))
        assert post.reply_to == raw.get("reply_to_message_id")
        assert post.forwarded_from == raw.get("forwarded_from")
        if "media_type" in raw:
            assert post.media_type == raw["media_type"]
        elif "photo" in raw:
            assert post.media_type == "photo"
        elif "file" in raw:
            assert post.media_type == "document"
        elif "poll" in raw:
            assert post.media_type == "poll"
        assert post.reactions == tuple(
            Reaction(emoji=r["emoji"], count=r["count"]) for r in raw.get("reactions", [])
        )
        assert post.raw == raw
        assert json.loads(json.dumps(post.raw)) == raw


def test_posts_are_what_validation_would_build(export_path: Path) -> None:
    """Posts are built without pydantic validation; validating them again changes nothing."""
    for _chat, item in DesktopExportSource(export_path).iter_all():
        assert isinstance(item, Message)
        again = Message.model_validate(item.model_dump())
        assert again == item
        assert again.model_dump() == item.model_dump()


def test_content_hash_is_the_pydantic_form(export_path: Path) -> None:
    """The hand-built entity JSON and content hash equal pydantic's serialisation of the same post."""
    for _chat, item in DesktopExportSource(export_path).iter_all():
        assert isinstance(item, Message)
        dumped = [e.model_dump(mode="json", exclude_none=True) for e in item.entities]
        assert [e.json_dict() for e in item.entities] == dumped
        assert [list(e.json_dict()) for e in item.entities] == [list(d) for d in dumped]
        blob = json.dumps(
            {"text": item.text, "entities": dumped}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        assert item.content_hash() == hashlib.sha256(blob.encode("utf-8")).hexdigest()


def test_full_account_export_lists_chats_and_left_chats() -> None:
    """A full-account export yields the chats of chats.list and left_chats.list, in order."""
    path = _require(EXPORTS_DIR / "ensia_full_account_forum.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    expected = [
        (chat["id"], chat["name"], chat["type"])
        for chat in data["chats"]["list"] + data["left_chats"]["list"]
    ]
    chats = DesktopExportSource(path).chats()
    assert [(c.info.telegram_id, c.info.title, c.info.chat_type) for c in chats] == expected
    assert [c.index for c in chats] == list(range(len(expected)))
    assert data["left_chats"]["list"][0]["id"] in {c.info.telegram_id for c in chats}


def test_iter_messages_reads_one_chat(export_path: Path) -> None:
    """iter_messages yields exactly the posts of the chat asked for."""
    source = DesktopExportSource(export_path)
    for chat, raw in zip(source.chats(), _raw_chats(export_path), strict=True):
        ids = [item.message_id for item in source.iter_messages(chat) if isinstance(item, Message)]
        assert ids == [m["id"] for m in raw["messages"] if m["type"] == "message"]


def test_old_format_entities_come_from_text_list() -> None:
    """Without text_entities, entities (with pre languages) come from the list form of text."""
    path = _require(EXPORTS_DIR / "cuda_supergroup_old_format.json")
    posts = list(DesktopExportSource(path).iter_all())
    kinds = {entity.type for _, post in posts if isinstance(post, Message) for entity in post.entities}
    assert {EntityType.HASHTAG, EntityType.LINK, EntityType.BOLD, EntityType.PRE} <= kinds


# --- flatten_text ----------------------------------------------------------------------------


def test_flatten_text_maps_desktop_entity_fields() -> None:
    """flatten_text keeps href, link text, user_id and language, and skips plain parts."""
    text, entities = flatten_text(
        [
            {"type": "plain", "text": "👍 "},
            {"type": "text_link", "text": "site", "href": "https://example.org"},
            " ",
            {"type": "link", "text": "https://t.me/x"},
            {"type": "mention_name", "text": "Sami", "user_id": 7743393957},
            {"type": "pre", "text": "x = 1", "language": "python"},
            {"type": "pre", "text": "y", "language": ""},
            {"type": "blockquote", "text": "q", "collapsed": True},
            {"type": "custom_emoji", "text": "🙂", "document_id": "5368324170671202286"},
            {"type": "brand_new_kind", "text": "?"},
        ]
    )
    assert text == "👍 site https://t.me/xSamix = 1yq🙂?"
    by_type = {entity.type: entity for entity in entities}
    assert EntityType.PLAIN not in by_type
    assert by_type[EntityType.TEXT_LINK].offset == 2  # code points: the emoji counts as one
    assert by_type[EntityType.TEXT_LINK].url == "https://example.org"
    assert by_type[EntityType.LINK].url == "https://t.me/x"
    assert by_type[EntityType.MENTION_NAME].user_id == 7743393957
    assert [e.language for e in entities if e.type is EntityType.PRE] == ["python", None]
    assert by_type[EntityType.BLOCKQUOTE].text == "q"
    assert by_type[EntityType.CUSTOM_EMOJI].text == "🙂"
    assert by_type[EntityType.UNKNOWN].raw_type == "brand_new_kind"
    for entity in entities:
        assert text[entity.offset : entity.offset + entity.length] == entity.text


def test_flatten_text_maps_every_desktop_type_name() -> None:
    """Every entity type name Telegram Desktop writes maps to the EntityType of that name."""
    names = [
        "bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "blockquote",
        "text_link", "link", "mention", "mention_name", "hashtag", "cashtag", "bot_command",
        "email", "phone", "bank_card", "custom_emoji",
    ]  # fmt: skip
    _, entities = flatten_text([{"type": name, "text": name} for name in names])
    assert [entity.type.value for entity in entities] == names
    assert all(entity.raw_type is None for entity in entities)


def test_flatten_text_plain_string() -> None:
    """A plain string is its own text and has no entities."""
    assert flatten_text("hello") == ("hello", ())


@pytest.mark.parametrize("bad", [42, None, [1], [{"type": "bold"}], [{"text": "x"}]])
def test_flatten_text_rejects_wrong_shapes(bad: Any) -> None:
    """A text that is not a string or a list of strings and typed parts is an InputError."""
    with pytest.raises(InputError):
        flatten_text(bad)


# --- crafted files ---------------------------------------------------------------------------


def _message(message_id: Any, text: Any = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "date": "2024-05-01T10:00:00",
        "date_unixtime": "1714557600",
        "from": "Alice",
        "from_id": "user1",
        "text": text,
        **extra,
    }


def _write(tmp_path: Path, data: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _chat(messages: list[Any], chat_id: int = 42, name: str = "Chat") -> dict[str, Any]:
    return {"name": name, "type": "public_channel", "id": chat_id, "messages": messages}


@pytest.mark.parametrize(
    ("bad", "message_id"),
    [
        ({"id": "x7", "type": "message", "date_unixtime": "1714557600", "text": "t"}, "x7"),
        (_message(2, date_unixtime="yesterday"), 2),
        ({**_message(2), "date_unixtime": None, "date": "not a date"}, 2),
        (_message(2, text=12), 2),
        (_message(2, text=[{"type": "bold"}]), 2),
        (_message(2, reply_to_message_id="one"), 2),
        (_message(2, reactions=[{"type": "emoji", "emoji": "👍", "count": -1}]), 2),
        ({"id": 2, "date": "2024-05-01T10:00:00"}, 2),
    ],
)
def test_malformed_message_yields_error_and_others_import(
    tmp_path: Path, bad: dict[str, Any], message_id: Any
) -> None:
    """A malformed message becomes an InputError naming file and message id; the rest import."""
    path = _write(tmp_path, _chat([_message(1), bad, _message(3)]))
    source = DesktopExportSource(path)
    items = [item for _, item in source.iter_all()]
    assert [type(item) for item in items] == [Message, InputError, Message]
    error = items[1]
    assert isinstance(error, InputError)
    assert error.path == str(path)
    assert error.message_id == message_id
    assert str(path) in str(error)
    assert f"message {message_id}" in str(error)
    assert [item.message_id for item in items if isinstance(item, Message)] == [1, 3]
    assert source.stats(source.chats()[0]) == ExportStats(posts=2, service=0, errors=1)


def test_message_that_is_not_an_object_is_an_error(tmp_path: Path) -> None:
    """A non-object in the messages list is reported with its position, and reading goes on."""
    path = _write(tmp_path, _chat([_message(1), "oops", _message(3)]))
    items = [item for _, item in DesktopExportSource(path).iter_all()]
    assert isinstance(items[1], InputError)
    assert "message #1" in str(items[1])
    assert [type(item) for item in items] == [Message, InputError, Message]


def test_truncated_file_yields_messages_then_the_unread_tail(tmp_path: Path) -> None:
    """A file cut mid-way yields the messages before the cut, then an InputError with the unread tail."""
    full = json.dumps(_chat([_message(i, text=f"post {i}") for i in range(1, 6)]), indent=1)
    cut = full.index('"post 4"')
    path = tmp_path / "result.json"
    path.write_text(full[:cut], encoding="utf-8")
    seen = [item for _, item in DesktopExportSource(path).iter_all()]
    assert [item.message_id for item in seen if isinstance(item, Message)] == [1, 2, 3]
    assert len(seen) == 4
    error = seen[-1]
    assert isinstance(error, InputError)
    assert error.path == str(path)
    assert error.message_id == 4
    assert "truncated" in str(error)
    assert error.unread is not None
    assert error.unread[1] == len(full[:cut].encode())
    assert full.encode()[error.unread[0] :].lstrip(b" \n,").startswith(b'{\n   "id": 4')


@pytest.mark.parametrize(
    "content",
    [
        b"this is not JSON",
        b"",
        b"\x00\x01binary",
        b'{"name": "x", "type": "public_channel", "id": 1, "messages": []} trailing',
    ],
)
def test_not_json_raises_input_error(tmp_path: Path, content: bytes) -> None:
    """A file that is not (only) JSON raises an InputError naming the file."""
    path = tmp_path / "result.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as excinfo:
        list(DesktopExportSource(path).iter_all())
    assert excinfo.value.path == str(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize(
    "data",
    [
        [{"message_id": 1, "text": "a list, like other tools' dumps"}],
        {"about": "an account export without chats"},
        {"chats": {"about": "", "list": []}, "left_chats": {"about": "", "list": []}},
        {"name": "no messages key", "type": "public_channel", "id": 1},
        {"name": "x", "type": "public_channel", "id": 1, "messages": {"1": {}}},
        "a string",
    ],
)
def test_wrong_shape_raises_input_error(tmp_path: Path, data: Any) -> None:
    """A JSON file that is not a Desktop export (no messages list anywhere) raises InputError."""
    path = _write(tmp_path, data)
    source = DesktopExportSource(path)
    with pytest.raises(InputError) as excinfo:
        source.chats()
    assert excinfo.value.path == str(path)
    with pytest.raises(InputError):
        list(source.iter_all())


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    """A path that does not exist raises an InputError naming it."""
    path = tmp_path / "absent.json"
    with pytest.raises(InputError) as excinfo:
        DesktopExportSource(path).chats()
    assert excinfo.value.path == str(path)


def test_chat_metadata_after_messages(tmp_path: Path) -> None:
    """A chat whose name/type/id follow its messages still gets the right chat on every post."""
    data = {
        "messages": [_message(1), _message(2)],
        "name": "Late",
        "type": "private_channel",
        "id": 777,
    }
    source = DesktopExportSource(_write(tmp_path, data))
    (chat,) = source.chats()
    assert (chat.info.telegram_id, chat.info.title, chat.info.chat_type) == (777, "Late", "private_channel")
    pairs = list(source.iter_all())
    assert [(c, m.channel_id) for c, m in pairs if isinstance(m, Message)] == [(chat, 777), (chat, 777)]
    assert [m.channel_id for m in source.iter_messages(chat) if isinstance(m, Message)] == [777, 777]


def test_full_account_chats_are_kept_apart(tmp_path: Path) -> None:
    """Each chat of a full-account export gets its own posts and channel id."""
    data = {
        "about": "x",
        "personal_information": {"user_id": 1, "first_name": "A"},
        "chats": {"about": "", "list": [_chat([_message(1)], 10, "A"), _chat([_message(1)], 20, "B")]},
        "left_chats": {"about": "", "list": [_chat([_message(5), _message(6)], 30, "C")]},
        "other_data": {"messages": ["not chats"]},
    }
    source = DesktopExportSource(_write(tmp_path, data))
    chats = source.chats()
    assert [c.info.telegram_id for c in chats] == [10, 20, 30]
    got = [
        (c.info.telegram_id, m.channel_id, m.message_id)
        for c, m in source.iter_all()
        if isinstance(m, Message)
    ]
    assert got == [(10, 10, 1), (20, 20, 1), (30, 30, 5), (30, 30, 6)]
    assert [m.message_id for m in source.iter_messages(chats[2]) if isinstance(m, Message)] == [5, 6]


def test_saved_messages_without_name(tmp_path: Path) -> None:
    """A chat Desktop writes without a name (saved messages) is titled by its type."""
    data = {"chats": {"list": [{"type": "saved_messages", "id": 9, "messages": [_message(1)]}]}}
    source = DesktopExportSource(_write(tmp_path, data))
    (chat,) = source.chats()
    assert chat.info.title == "saved_messages"
    assert [m.channel_id for _, m in source.iter_all() if isinstance(m, Message)] == [9]


def test_chat_without_integer_id_raises(tmp_path: Path) -> None:
    """A chat whose id is not an integer makes the file unusable."""
    path = _write(tmp_path, {"name": "x", "type": "public_channel", "id": "abc", "messages": [_message(1)]})
    with pytest.raises(InputError, match="id"):
        DesktopExportSource(path).chats()


def test_old_format_message(tmp_path: Path) -> None:
    """An old-format post (numeric from_id, no unixtime, no text_entities) imports with UTC dates."""
    old = {
        "id": 3,
        "type": "message",
        "date": "2019-05-12T15:00:04",
        "edited": "2019-05-12T21:30:34",
        "from": "Aidin",
        "from_id": 57661101,
        "text": [{"type": "hashtag", "text": "#news"}, " body"],
    }
    items = [item for _, item in DesktopExportSource(_write(tmp_path, _chat([old]))).iter_all()]
    (post,) = items
    assert isinstance(post, Message)
    assert post.date == datetime(2019, 5, 12, 15, 0, 4, tzinfo=UTC)
    assert post.edited == datetime(2019, 5, 12, 21, 30, 34, tzinfo=UTC)
    assert post.author == "Aidin"
    assert post.hashtags() == ["#news"]


def test_service_and_unsupported_are_not_posts(tmp_path: Path) -> None:
    """Service messages and unsupported placeholders are counted, never yielded."""
    service = {"id": 2, "type": "service", "date": "2024-05-01T10:00:00", "action": "pin_message", "text": ""}
    unsupported = {"id": 3, "type": "unsupported"}
    source = DesktopExportSource(_write(tmp_path, _chat([_message(1), service, unsupported, _message(4)])))
    ids = [m.message_id for _, m in source.iter_all() if isinstance(m, Message)]
    assert ids == [1, 4]
    assert source.stats(source.chats()[0]) == ExportStats(posts=2, service=2, errors=0)


def test_text_entities_preferred_and_checked(tmp_path: Path) -> None:
    """Entities come from text_entities; a text_entities that spells another text is an error."""
    good = _message(
        1,
        text="hi #tag",
        text_entities=[{"type": "plain", "text": "hi "}, {"type": "hashtag", "text": "#tag"}],
    )
    bad = _message(2, text="hi", text_entities=[{"type": "plain", "text": "bye"}])
    items = [item for _, item in DesktopExportSource(_write(tmp_path, _chat([good, bad]))).iter_all()]
    assert isinstance(items[0], Message)
    assert items[0].hashtags() == ["#tag"]
    assert isinstance(items[1], InputError)
    assert items[1].message_id == 2


def test_reactions_of_every_kind(tmp_path: Path) -> None:
    """Emoji, custom emoji and paid reactions keep their key and count; empty ones are dropped."""
    reactions = [
        {"type": "emoji", "count": 3, "emoji": "👍", "recent": [{"from": "A", "from_id": "user1"}]},
        {"type": "custom_emoji", "count": 2, "document_id": "5368324170671202286"},
        {"type": "paid", "count": 7},
        {"type": "empty", "count": 1},
        {"emoji": "❤", "count": 1},
    ]
    path = _write(tmp_path, _chat([_message(1, reactions=reactions, views=120)]))
    ((_, post),) = list(DesktopExportSource(path).iter_all())
    assert isinstance(post, Message)
    assert post.reactions == (
        Reaction(emoji="👍", count=3),
        Reaction(emoji="custom:5368324170671202286", count=2),
        Reaction(emoji="paid", count=7),
        Reaction(emoji="❤", count=1),
    )
    assert post.views == 120


@pytest.mark.parametrize(
    ("extra", "media_type"),
    [
        ({"photo": "photos/p.jpg"}, "photo"),
        ({"file": "files/a.pdf", "mime_type": "application/pdf"}, "document"),
        ({"file": "v.mp4", "media_type": "video_file"}, "video_file"),
        ({"poll": {"question": "?", "answers": []}}, "poll"),
        ({"location_information": {"latitude": 1.5, "longitude": 2.25}}, "location"),
        ({"contact_information": {"first_name": "A"}}, "contact"),
        ({}, None),
    ],
)
def test_media_type(tmp_path: Path, extra: dict[str, Any], media_type: str | None) -> None:
    """media_type is the export's own, else named after the media key present."""
    path = _write(tmp_path, _chat([_message(1, **extra)]))
    ((_, post),) = list(DesktopExportSource(path).iter_all())
    assert isinstance(post, Message)
    assert post.media_type == media_type
    assert post.raw is not None
    assert json.loads(json.dumps(post.raw)) == post.raw
    if "location_information" in extra:
        assert isinstance(post.raw["location_information"]["latitude"], float)  # not Decimal


# --- memory ----------------------------------------------------------------------------------


def _write_big_export(path: Path, *, target_size_bytes: int) -> int:
    """Write a single-chat export of about ``target_size_bytes``; return its message count."""
    text = [
        "一篇关于分布式系统的长帖子 包含许多字 " * 8,
        {"type": "text_link", "text": "链接", "href": "https://example.org/a"},
        " 和 ",
        {"type": "hashtag", "text": "#tag"},
    ]
    template = _message(0, text=text, text_entities=[
        {"type": "plain", "text": text[0]}, text[1], {"type": "plain", "text": " 和 "}, text[3],
    ])  # fmt: skip
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{\n "name": "Big", "type": "public_channel", "id": 1,\n "messages": [\n')
        size = 0
        while size < target_size_bytes:
            block = json.dumps({**template, "id": count + 1}, ensure_ascii=False, indent=1)
            out.write(("," if count else "") + block + "\n")
            size += len(block.encode("utf-8"))
            count += 1
        out.write(" ]\n}\n")
    return count


def test_large_export_is_streamed(tmp_path: Path) -> None:
    """Reading a ~50 MB export peaks far below the file size in Python memory."""
    path = tmp_path / "result.json"
    expected = _write_big_export(path, target_size_bytes=50_000_000)
    size_bytes = path.stat().st_size
    source = DesktopExportSource(path)
    tracemalloc.start()
    try:
        posts = 0
        for _, item in source.iter_all():
            assert isinstance(item, Message)
            posts += 1
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert posts == expected
    assert peak_bytes < size_bytes * 0.05, (peak_bytes, size_bytes)


def test_exported_chat_is_a_value() -> None:
    """ExportedChat compares by value, so chats from two passes are equal."""
    path = _require(EXPORTS_DIR / "trantor_library_public_channel.json")
    first = DesktopExportSource(path).chats()
    assert first == DesktopExportSource(path).chats()
    assert isinstance(first[0], ExportedChat)


def test_head_chat_is_the_chat_of_a_single_chat_export(export_path: Path) -> None:
    """A single-chat export's chat is known from its head, equal to the full metadata pass."""
    source = DesktopExportSource(export_path)
    head = source.head_chat()
    if "messages" in json.loads(export_path.read_text(encoding="utf-8")):
        assert head is not None
        assert [head] == source.chats()
    else:
        assert head is None


def test_head_chat_reads_only_the_head(tmp_path: Path) -> None:
    """The chat is known even when the file breaks off after the head (nothing after it is parsed)."""
    path = tmp_path / "result.json"
    path.write_text(
        '{"name": "Head", "type": "public_channel", "id": 5, "messages": [{"id": 1, "type": "mess',
        encoding="utf-8",
    )
    chat = DesktopExportSource(path).head_chat()
    assert chat is not None
    assert (chat.index, chat.info.telegram_id, chat.info.title) == (0, 5, "Head")


@pytest.mark.parametrize(
    "data",
    [
        {"messages": [], "name": "Late", "type": "public_channel", "id": 1},
        {"name": "No id", "type": "public_channel", "messages": []},
        {"chats": {"list": [{"name": "A", "type": "public_channel", "id": 1, "messages": []}]}},
        ["not", "an", "object"],
    ],
)
def test_head_chat_declines_other_layouts(tmp_path: Path, data: Any) -> None:
    """Metadata after messages, a full-account export or another shape: no head chat (read it whole)."""
    assert DesktopExportSource(_write(tmp_path, data)).head_chat() is None


def _outcome(items: Any) -> tuple[list[str], str | None]:
    """Every item (post or error) of a read as text, and the error that ended it, if any."""
    seen: list[str] = []
    try:
        seen.extend(repr(item) if isinstance(item, Message) else f"error: {item}" for item in items)
    except InputError as exc:
        return seen, str(exc)
    return seen, None


def _cut_export(tmp_path: Path) -> Path:
    full = json.dumps(_chat([_message(i, text=f"post {i}") for i in range(1, 6)]), indent=1)
    path = tmp_path / "cut.json"
    path.write_text(full[: full.index('"post 4"')], encoding="utf-8")
    return path


def test_iter_chat_fast_path_equals_the_event_walk(export_path: Path, tmp_path: Path) -> None:
    """A single-chat export read by iter_chat (C-built messages) gives what the event walk gives."""
    cases = [
        export_path,
        _write(tmp_path, _chat([_message(1), "oops", _message(2, text=12), _message(3)])),
        _write(tmp_path, _chat([_message(1), {"id": 2, "type": "service"}, _message(3)]), "s.json"),
        _cut_export(tmp_path),
    ]
    for path in cases:
        source = DesktopExportSource(path)
        head = source.head_chat()
        if head is None:
            continue
        fast = _outcome(source.iter_chat(head.info.telegram_id))
        fast_stats = source.stats(head)
        assert fast == _outcome(source.iter_messages(head)), path
        assert fast_stats == source.stats(head)
        assert fast[0], path


def test_discussion_group_export_links_comments_to_the_channel_post_copy(tmp_path: Path) -> None:
    """A discussion group's export (hand-written, Desktop format): comments reply to the post's copy."""
    group = {
        "name": "Trantor Chat",
        "type": "public_supergroup",
        "id": 1999000111,
        "messages": [
            _message(70, "Пост канала", **{"from": "Trantor", "from_id": "channel1878264527"}),
            _message(71, "Отличный пост", reply_to_message_id=70),
            _message(72, "Согласен", reply_to_message_id=71),
        ],
    }
    posts = [p for _, p in DesktopExportSource(_write(tmp_path, group)).iter_all()]
    assert all(isinstance(p, Message) for p in posts)
    assert [(p.message_id, p.reply_to, p.author) for p in posts] == [  # type: ignore[union-attr]
        (70, None, "Trantor"),
        (71, 70, "Alice"),
        (72, 71, "Alice"),
    ]
    assert all(p.forum_topic is None for p in posts)  # type: ignore[union-attr]


def test_topic_rename_that_names_its_topic_is_followed(tmp_path: Path) -> None:
    """A topic_edit whose reply chain names a topic renames it for later posts; one without is ignored."""

    def service(mid: int, action: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": mid,
            "type": "service",
            "date_unixtime": "1714557600",
            "action": action,
            "text": "",
            **extra,
        }

    chat = _chat(
        [
            service(3, "topic_created", title="Research"),
            _message(4, "first", reply_to_message_id=3),
            service(5, "topic_edit", new_title="Scientific Research", reply_to_message_id=3),
            _message(6, "second", reply_to_message_id=4),
            service(7, "topic_edit", new_title="Lost rename"),  # no topic named: not applied
            _message(8, "third", reply_to_message_id=3),
            _message(9, "general"),
        ]
    )
    read = DesktopExportSource(_write(tmp_path, chat)).iter_all()
    posts = {p.message_id: p.forum_topic for _, p in read}  # type: ignore[union-attr]
    assert posts == {
        4: ForumTopic(id=3, title="Research"),
        6: ForumTopic(id=3, title="Scientific Research"),
        8: ForumTopic(id=3, title="Scientific Research"),
        9: None,
    }
