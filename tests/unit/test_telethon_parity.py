"""One Message model: the same posts read from a Desktop export and from Telethon are equal (``raw`` aside).

The Telethon side is built here from each export post by an independent
encoder (text parts → ``message`` + ``MessageEntity*`` with UTF-16 offsets,
media, reactions, reply, forward), so the test checks both readers against
Telegram's own rules rather than one against the other's code.
"""

# Test helpers and fakes need no docstrings; every test has one.
# ruff: noqa: D103

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telethon.tl import types

from tg_parser.sources.desktop_export import DesktopExportSource
from tg_parser.sources.telethon_source import build_posts

SHARED_EXPORT = Path("/work/shared/data/exports/trantor_library_public_channel.json")

_TL_ENTITY: dict[str, Any] = {
    "bold": types.MessageEntityBold,
    "italic": types.MessageEntityItalic,
    "underline": types.MessageEntityUnderline,
    "strikethrough": types.MessageEntityStrike,
    "spoiler": types.MessageEntitySpoiler,
    "code": types.MessageEntityCode,
    "blockquote": types.MessageEntityBlockquote,
    "link": types.MessageEntityUrl,
    "mention": types.MessageEntityMention,
    "hashtag": types.MessageEntityHashtag,
    "cashtag": types.MessageEntityCashtag,
    "bot_command": types.MessageEntityBotCommand,
    "email": types.MessageEntityEmail,
    "phone": types.MessageEntityPhone,
    "bank_card": types.MessageEntityBankCard,
}


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def tl_entity(part: dict[str, Any], offset: int, length: int) -> Any:
    kind = part["type"]
    if kind == "text_link":
        return types.MessageEntityTextUrl(offset, length, url=part["href"])
    if kind == "mention_name":
        return types.MessageEntityMentionName(offset, length, user_id=int(part["user_id"]))
    if kind == "pre":
        return types.MessageEntityPre(offset, length, language=part.get("language", ""))
    if kind == "custom_emoji":
        return types.MessageEntityCustomEmoji(offset, length, document_id=int(part.get("document_id", 1)))
    return _TL_ENTITY[kind](offset, length)


def tl_media(m: dict[str, Any]) -> Any:
    """The MessageMedia Telegram would send for an export post: the export's size, dimensions, MIME type."""
    if "photo" in m:
        sizes: list[Any] = [types.PhotoStrippedSize(type="i", bytes=b"x")]
        if "width" in m:
            full = m.get("photo_file_size", 0)
            sizes += [
                types.PhotoSize(
                    type="s", w=max(1, m["width"] // 10), h=max(1, m["height"] // 10) - 1, size=9
                ),
                types.PhotoSizeProgressive(type="y", w=m["width"], h=m["height"], sizes=[1, full // 2, full]),
            ]
        return types.MessageMediaPhoto(
            photo=types.Photo(id=1, access_hash=2, file_reference=b"", date=None, sizes=sizes, dc_id=2)
        )
    if "poll" in m:
        question = types.TextWithEntities(m["poll"].get("question", ""), [])
        return types.MessageMediaPoll(
            poll=types.Poll(id=1, question=question, answers=[], hash=0), results=types.PollResults()
        )
    if "file" not in m:
        return None
    seconds = float(m.get("duration_seconds", 0))
    w, h = m.get("width", 0), m.get("height", 0)
    attributes = {
        "video_file": [types.DocumentAttributeVideo(seconds, w, h)],
        "video_message": [types.DocumentAttributeVideo(seconds, w, h, round_message=True)],
        "animation": [types.DocumentAttributeAnimated(), types.DocumentAttributeVideo(seconds, w, h)],
        "sticker": [types.DocumentAttributeSticker(alt="", stickerset=types.InputStickerSetEmpty())],
        "voice_message": [types.DocumentAttributeAudio(int(seconds), voice=True)],
        "audio_file": [types.DocumentAttributeAudio(int(seconds), title="t")],
    }.get(m.get("media_type"), [])
    if "width" in m and not any(isinstance(a, types.DocumentAttributeVideo) for a in attributes):
        attributes.append(types.DocumentAttributeImageSize(w, h))  # images and stickers sent as files
    if "file_name" in m:
        attributes.append(types.DocumentAttributeFilename(m["file_name"]))
    doc = types.Document(
        id=1,
        access_hash=2,
        file_reference=b"",
        date=None,
        mime_type=m.get("mime_type", ""),
        size=m.get("file_size"),
        dc_id=2,
        attributes=attributes,
    )
    return types.MessageMediaDocument(document=doc)


def tl_reactions(m: dict[str, Any]) -> Any:
    if "reactions" not in m:
        return None
    results = []
    for r in m["reactions"]:
        if r["type"] == "custom_emoji":
            reaction: Any = types.ReactionCustomEmoji(document_id=int(r["document_id"]))
        elif r["type"] == "paid":
            reaction = types.ReactionPaid()
        else:
            reaction = types.ReactionEmoji(emoticon=r["emoji"])
        results.append(types.ReactionCount(reaction=reaction, count=r["count"]))
    return types.MessageReactions(results=results)


def telethon_from_export(m: dict[str, Any], chat_id: int) -> types.Message:
    """Encode one export post as the Telethon Message Telegram would have sent."""
    parts = m["text_entities"] if isinstance(m["text"], list) else [{"type": "plain", "text": m["text"]}]
    text, entities = "", []
    for part in parts:
        if part["type"] != "plain":
            entities.append(tl_entity(part, u16(text), u16(part["text"])))
        text += part["text"]
    edited = m.get("edited_unixtime")
    return types.Message(
        id=m["id"],
        peer_id=types.PeerChannel(chat_id),
        date=datetime.fromtimestamp(int(m["date_unixtime"]), UTC),
        message=text,
        entities=entities or None,
        post=True,
        post_author=m.get("author"),
        edit_date=datetime.fromtimestamp(int(edited), UTC) if edited else None,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=m["reply_to_message_id"])
        if "reply_to_message_id" in m
        else None,
        fwd_from=types.MessageFwdHeader(date=None, from_name=m["forwarded_from"])
        if "forwarded_from" in m
        else None,
        media=tl_media(m),
        reactions=tl_reactions(m),
    )


HAND_WRITTEN = {
    "name": "Parity Lab",
    "type": "public_channel",
    "id": 1500000001,
    "messages": [
        {
            "id": 10, "type": "message", "date": "2024-05-01T13:00:00", "date_unixtime": "1714557600",
            "edited": "2024-05-02T13:00:00", "edited_unixtime": "1714644000",
            "from": "Parity Lab", "from_id": "channel1500000001", "author": "Ann Editor",
            "forwarded_from": "Origin News", "reply_to_message_id": 9,
            "photo": "photos/p.jpg", "photo_file_size": 48213, "width": 1280, "height": 720,
            "reactions": [
                {"type": "emoji", "count": 5, "emoji": "👍"},
                {"type": "custom_emoji", "count": 2, "document_id": "5368324170671202286"},
                {"type": "paid", "count": 1},
            ],
            "text": [
                "😀👨‍👩‍👧 start ", {"type": "mention_name", "text": "Bob", "user_id": 4242},
                " ", {"type": "spoiler", "text": "secret🤫"}, " ",
                {"type": "custom_emoji", "text": "🔥", "document_id": "777"},
                "\n", {"type": "pre", "text": "print(1)", "language": "python"},
                " $TON ", {"type": "cashtag", "text": "$TON"}, " ",
                {"type": "link", "text": "https://t.me/parity"},
            ],
            "text_entities": [
                {"type": "plain", "text": "😀👨‍👩‍👧 start "},
                {"type": "mention_name", "text": "Bob", "user_id": 4242},
                {"type": "plain", "text": " "}, {"type": "spoiler", "text": "secret🤫"},
                {"type": "plain", "text": " "},
                {"type": "custom_emoji", "text": "🔥", "document_id": "777"},
                {"type": "plain", "text": "\n"}, {"type": "pre", "text": "print(1)", "language": "python"},
                {"type": "plain", "text": " $TON "}, {"type": "cashtag", "text": "$TON"},
                {"type": "plain", "text": " "}, {"type": "link", "text": "https://t.me/parity"},
            ],
        },
        {
            "id": 11, "type": "message", "date": "2024-05-01T14:00:00", "date_unixtime": "1714561200",
            "from": "Parity Lab", "from_id": "channel1500000001",
            "file": "files/a.ogg", "media_type": "voice_message", "mime_type": "audio/ogg", "file_size": 5120,
            "duration_seconds": 4, "text": "just words", "text_entities": [
                {"type": "plain", "text": "just words"}],
        },
    ],
}  # fmt: skip


def compare(path: Path) -> int:
    data = json.loads(path.read_text(encoding="utf-8"))
    chat_id, title = data["id"], data["name"]
    posts = [m for m in data["messages"] if m["type"] == "message"]
    telethon_side = {
        m.message_id: m
        for m in build_posts(
            [telethon_from_export(m, chat_id) for m in posts], chat_id=chat_id, chat_title=title
        )
    }
    compared = 0
    for _chat, desktop in DesktopExportSource(path).iter_all():
        assert not isinstance(desktop, Exception), desktop
        mine = telethon_side[desktop.message_id]
        # The path of a file is where the Desktop export put it; live, it is set only once downloaded.
        assert mine.model_dump(exclude={"raw": True, "media": {"path"}}) == desktop.model_dump(
            exclude={"raw": True, "media": {"path"}}
        ), desktop.message_id
        compared += 1
    assert compared == len(posts)
    return compared


def test_hand_written_posts_read_the_same_from_export_and_telethon(tmp_path) -> None:
    """Signature, forward, reply, edit, 3 reaction kinds, ZWJ emoji before entities: equal both ways."""
    path = tmp_path / "result.json"
    path.write_text(json.dumps(HAND_WRITTEN, ensure_ascii=False), encoding="utf-8")
    assert compare(path) == 2


@pytest.mark.skipif(not SHARED_EXPORT.exists(), reason="shared sample export not on this machine")
def test_every_post_of_a_real_channel_export_reads_the_same_from_telethon() -> None:
    """All 900+ posts of a real channel export (emoji, links, album parts) equal their Telethon form."""
    assert compare(SHARED_EXPORT) > 900
