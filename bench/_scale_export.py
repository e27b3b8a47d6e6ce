"""Build an N-post Telegram Desktop export from real channel posts, streamed to disk.

The source posts (``../shared/data/nktkln/*.json``: JSON lists of
``{message_id, sender_id, text, date, channel, category}``, ``text`` in
Telethon markdown) are parsed once into Desktop text parts; the N posts cycle
through them. Copy ``k`` of a post gets its own message id, a date one minute
after the previous post, and a hashtag part ``#copyK`` appended (so its content
hash differs from every other copy), plus reactions, edits and photos on a
fixed share of posts. Each post is written with its own ``json.dumps``: the N
posts are never in memory together (only the ~10k source posts are).

Layout follows ``samples/sample_channel/result.json`` (single-chat
``public_channel``): ``text`` is a string when there is no entity, else a list
of strings and ``{"type", "text", "href"?}`` parts; ``text_entities`` is the
same list with plain runs as ``{"type": "plain"}`` objects; ``date`` is the
local wall clock and ``date_unixtime`` the UTC epoch seconds as a string.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nktkln"
CHAT_ID = 1_777_000_001
CHAT_NAME = "Scale bench / Масштаб"
T0 = datetime(2020, 1, 1, tzinfo=UTC)

# Telethon markdown (telethon.extensions.markdown: **bold**, __italic__,
# ~~strike~~, `code`, [text](url)) and the auto-detected entities of plain text.
_TOKEN = re.compile(
    r"\[(?P<lt>[^\]\n]+)\]\((?P<href>[^)\s]+)\)"
    r"|\*\*(?P<bold>.+?)\*\*"
    r"|__(?P<italic>.+?)__"
    r"|~~(?P<strike>.+?)~~"
    r"|`(?P<code>[^`\n]+)`"
    r"|(?P<link>https?://[^\s)\]]+)"
    r"|(?<!\w)(?P<hashtag>#\w{2,})"
    r"|(?<![\w/])(?P<mention>@\w{4,})",
    re.DOTALL,
)
_INNER_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\s]+\)")
_STYLES = {"bold": "bold", "italic": "italic", "strike": "strikethrough", "code": "code"}


def markdown_parts(text: str) -> list[str | dict[str, str]]:
    """Turn Telethon markdown into Desktop ``text`` parts (strings and entity objects)."""
    parts: list[str | dict[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        kind = m.lastgroup or ""
        if kind in ("lt", "href"):
            parts.append({"type": "text_link", "text": m.group("lt"), "href": m.group("href")})
        elif kind in _STYLES:
            inner = _INNER_LINK.sub(r"\1", m.group(kind))
            parts.append({"type": _STYLES[kind], "text": inner})
        else:
            parts.append({"type": kind, "text": m.group(kind)})
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return [p for p in parts if p != "" and (isinstance(p, str) or p["text"])]


def load_sources(data: Path = DATA) -> list[list[str | dict[str, str]]]:
    """Return the text parts of every source post that has text, in file order."""
    out = []
    for f in sorted(data.glob("*.json")):
        for row in json.loads(f.read_text(encoding="utf-8")):
            text = (row.get("text") or "").strip()
            if text:
                out.append(markdown_parts(text))
    if not out:
        msg = f"no posts under {data}"
        raise FileNotFoundError(msg)
    return out


def _entities(parts: list[str | dict[str, str]]) -> list[dict[str, str]]:
    return [{"type": "plain", "text": p} if isinstance(p, str) else p for p in parts]


def _message(i: int, parts: list[str | dict[str, str]], copy: int) -> dict[str, Any]:
    when = T0 + timedelta(minutes=i)
    if copy:
        parts = [*parts, "\n\n", {"type": "hashtag", "text": f"#copy{copy}"}]
    text: str | list[str | dict[str, str]] = parts
    if all(isinstance(p, str) for p in parts):
        text = "".join(p for p in parts if isinstance(p, str))
    msg: dict[str, Any] = {
        "id": i + 1,
        "type": "message",
        "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
        "date_unixtime": str(int(when.timestamp())),
        "from": CHAT_NAME,
        "from_id": f"channel{CHAT_ID}",
    }
    if i % 7 == 0:
        msg |= {
            "photo": "(File not included. Change data exporting settings to download.)",
            "photo_file_size": 100_000 + i % 1000,
            "width": 1280,
            "height": 720,
        }
    if i % 11 == 0:
        edited = when + timedelta(seconds=90)
        msg |= {
            "edited": edited.strftime("%Y-%m-%dT%H:%M:%S"),
            "edited_unixtime": str(int(edited.timestamp())),
        }
    msg["text"] = text
    msg["text_entities"] = _entities(parts) if isinstance(text, list) else [{"type": "plain", "text": text}]
    if i % 3 == 0:
        msg["reactions"] = [{"type": "emoji", "count": 1 + i % 50, "emoji": "👍"}]
    return msg


@dataclass(frozen=True)
class ExportFile:
    """A written export: where, how many posts, its size and chat id."""

    path: Path
    posts: int
    size_bytes: int
    chat_id: int


def write_export(path: Path, *, posts: int, data: Path = DATA) -> ExportFile:
    """Stream an export of ``posts`` posts to ``path`` (a ``result.json``), one post at a time."""
    sources = load_sources(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        head = json.dumps({"name": CHAT_NAME, "type": "public_channel", "id": CHAT_ID}, ensure_ascii=False)
        f.write(head[:-1] + ',\n "messages": [\n')
        for i in range(posts):
            copy, index = divmod(i, len(sources))
            f.write(
                ("  " if i == 0 else ",\n  ")
                + json.dumps(_message(i, sources[index], copy), ensure_ascii=False)
            )
        f.write("\n ]\n}\n")
    return ExportFile(path=path, posts=posts, size_bytes=path.stat().st_size, chat_id=CHAT_ID)
