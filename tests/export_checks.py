"""Independent checks of an export against its Telegram Desktop source file.

Written from the export format itself (json.load of the source), not from
the reader under test, so a reader bug cannot hide here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def flatten(text: Any) -> str:
    """Concatenate the ``text`` parts of a Desktop export message."""
    if isinstance(text, str):
        return text
    return "".join(p if isinstance(p, str) else p.get("text", "") for p in text)


def norm_ws(text: str) -> str:
    """Collapse whitespace runs to one space and strip."""
    return re.sub(r"\s+", " ", text).strip()


def source_chats(path: Path) -> list[dict[str, Any]]:
    """Return the chat objects of an export file (single-chat or full-account)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if "messages" in data:
        return [data]
    chats = list(data.get("chats", {}).get("list", []))
    chats += list(data.get("left_chats", {}).get("list", []))
    return chats


def entity_parts(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the entity objects of a message (text_entities, or the list form of text)."""
    if isinstance(msg.get("text_entities"), list):
        return msg["text_entities"]
    text = msg.get("text")
    return [p for p in text if isinstance(p, dict)] if isinstance(text, list) else []


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    """Read an NDJSON file into a list of objects."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_chat_export(chat: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    """Assert the export rules of the walking-skeleton issue for one chat.

    Every post with non-empty text appears exactly once; its text equals the
    flattened source text (whitespace-normalised); its date is the
    ``date_unixtime`` instant; links and hashtags contain the source entities;
    channel_id and message_id are the source's.
    """
    posts = {
        m["id"]: m
        for m in chat["messages"]
        if m.get("type") == "message" and flatten(m.get("text", "")).strip()
    }
    ids = [d["metadata"]["message_id"] for d in docs]
    assert len(ids) == len(set(ids)), "a post appears more than once"
    assert set(ids) == set(posts), (
        f"missing {sorted(set(posts) - set(ids))[:10]}, extra {sorted(set(ids) - set(posts))[:10]}"
    )
    for doc in docs:
        meta = doc["metadata"]
        src = posts[meta["message_id"]]
        assert meta["channel_id"] == chat["id"]
        assert norm_ws(doc["text"]) == norm_ws(flatten(src["text"])), f"text of {meta['message_id']}"
        if "date_unixtime" in src:
            want = datetime.fromtimestamp(int(src["date_unixtime"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert meta["date"] == want, f"date of {meta['message_id']}"
        for ent in entity_parts(src):
            if ent.get("type") == "text_link":
                assert ent["href"] in meta["links"], f"text_link of {meta['message_id']}"
            elif ent.get("type") == "link":
                assert ent["text"] in meta["links"], f"link of {meta['message_id']}"
            elif ent.get("type") == "hashtag":
                assert ent["text"] in meta["hashtags"], f"hashtag of {meta['message_id']}"
        assert doc["id"] == f"{meta['channel']}:{meta['message_id']}"
    check_depth(chat, docs)


def expected_reactions(src: dict[str, Any]) -> dict[str, int]:
    """The ``metadata.reactions`` mapping issue 13 asks for, from a Desktop message's ``reactions`` list."""
    out: dict[str, int] = {}
    for r in src.get("reactions") or []:
        kind = r.get("type", "emoji")
        if kind == "empty":
            continue
        key = {"custom_emoji": f"custom:{r.get('document_id')}", "paid": "paid"}.get(kind, r.get("emoji"))
        out[key] = out.get(key, 0) + r["count"]
    return out


def expected_forum_topics(chat: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Message id → ``{"id", "title"}`` of its forum topic: ``topic_created`` roots, reply chains followed."""
    titles: dict[int, str] = {}
    topic_of: dict[int, int] = {}
    for m in chat["messages"]:
        if m.get("action") == "topic_created":
            titles[m["id"]] = m.get("title", "")
            topic_of[m["id"]] = m["id"]
            continue
        topic = topic_of.get(m.get("reply_to_message_id"))
        if topic is not None and "reply_to_peer_id" not in m:
            topic_of[m["id"]] = topic
            if m.get("action") == "topic_edit" and m.get("new_title"):
                titles[topic] = m["new_title"]
    return {mid: {"id": tid, "title": titles[tid]} for mid, tid in topic_of.items() if mid != tid}


def check_depth(chat: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    """Assert issue 13's fields against the source: reactions, views, forwards, media, forum topic.

    Forum topic titles are compared with the final title of each topic (the
    source's renames that name their topic applied).
    """
    posts = {m["id"]: m for m in chat["messages"] if m.get("type") == "message"}
    topics = expected_forum_topics(chat)
    for doc in docs:
        meta = doc["metadata"]
        mid = meta["message_id"]
        src = posts[mid]
        assert meta["reactions"] == expected_reactions(src), f"reactions of {mid}"
        assert meta["views"] == src.get("views"), f"views of {mid}"
        assert meta["forwards"] == src.get("forwards"), f"forwards of {mid}"
        assert meta["forum_topic"] == topics.get(mid), f"forum topic of {mid}"
        if "photo" in src or "file" in src:
            key = "photo" if "photo" in src else "file"
            path = src[key]
            media = meta["media"]
            assert media is not None, f"media of {mid}"
            assert media["path"] == (None if path.startswith("(File") else path), f"media path of {mid}"
            assert media["size_bytes"] == src.get("photo_file_size" if key == "photo" else "file_size")
            assert (media["width"], media["height"]) == (src.get("width"), src.get("height")), (
                f"size of {mid}"
            )
            assert media["mime_type"] == src.get("mime_type"), f"mime type of {mid}"
            assert media["file_name"] == src.get("file_name"), f"file name of {mid}"
            assert media["duration_s"] == src.get("duration_seconds"), f"duration of {mid}"
        elif meta["media_type"] is None:
            assert meta["media"] is None, f"media of {mid}"
