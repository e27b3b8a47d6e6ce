# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: E501 - the SQL of this data builder reads better on one line
"""Scale data for the topicize/export benchmarks (stand-in until ``bench/scale.py`` lands).

Two steps:

* ``export N OUT.json`` writes a single-chat Telegram Desktop export of ``N``
  posts from the real posts of ``../shared/data/nktkln`` (Telethon markdown
  turned into text + ``text_entities`` parts with Telethon's parser, so links,
  bold and text links survive), cycled with a ``(повтор k)`` suffix when more
  are asked than exist. ``tg-parser run -f OUT.json`` then ingests and
  processes them for real.
* ``replicate DATABASE_URL CHANNEL TIMES`` copies the channel's messages and
  documents ``TIMES - 1`` more times in SQL (message ids shifted by
  ``k * 10**7``, ``(повтор k)`` appended to text and clean text; each copy
  joins its original's topic), so 100k or 1M posts exist without processing
  or topicizing each one (PostgreSQL only).

Usage:
    .venv/bin/python bench/_scale_export_data.py export 11000 /tmp/x.json
    .venv/bin/python bench/_scale_export_data.py replicate postgresql+psycopg://... nktkln 10
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nktkln"
SHIFT = 10**7


def _parts(markdown_text: str) -> tuple[str, list[dict[str, str]]]:
    from telethon import types
    from telethon.extensions import markdown

    text, entities = markdown.parse(markdown_text)
    utf16 = text.encode("utf-16-le")

    def cut(a: int, b: int) -> str:
        return utf16[2 * a : 2 * b].decode("utf-16-le", errors="ignore")

    kinds = {
        types.MessageEntityBold: "bold",
        types.MessageEntityItalic: "italic",
        types.MessageEntityCode: "code",
        types.MessageEntityPre: "pre",
        types.MessageEntityStrike: "strikethrough",
        types.MessageEntityUrl: "link",
    }
    parts: list[dict[str, str]] = []
    pos = 0
    for ent in sorted(entities, key=lambda e: e.offset):
        if ent.offset < pos:
            continue
        if ent.offset > pos:
            parts.append({"type": "plain", "text": cut(pos, ent.offset)})
        piece = cut(ent.offset, ent.offset + ent.length)
        if isinstance(ent, types.MessageEntityTextUrl):
            parts.append({"type": "text_link", "text": piece, "href": ent.url})
        else:
            parts.append({"type": kinds.get(type(ent), "plain"), "text": piece})
        pos = ent.offset + ent.length
    total = len(utf16) // 2
    if pos < total:
        parts.append({"type": "plain", "text": cut(pos, total)})
    return "".join(p["text"] for p in parts), parts


def build_export(n: int, out: Path) -> None:
    """Write a Desktop export of ``n`` posts cycled from the real ones."""
    posts = []
    for path in sorted(DATA.glob("*.json")):
        posts += [p for p in json.loads(path.read_text(encoding="utf-8")) if (p.get("text") or "").strip()]
    messages = []
    for i in range(n):
        post = posts[i % len(posts)]
        text, parts = _parts(post["text"])
        if i >= len(posts):
            tail = f" (повтор {i // len(posts)})"
            parts = [*parts, {"type": "plain", "text": tail}]
            text += tail
        when = datetime.fromisoformat(post["date"]).astimezone(UTC)
        messages.append(
            {
                "id": i + 1,
                "type": "message",
                "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
                "date_unixtime": str(int(when.timestamp())),
                "from": post.get("channel") or "nktkln",
                "text": parts if len(parts) > 1 else text,
                "text_entities": parts,
            }
        )
    payload = {"name": "nktkln scale", "type": "public_channel", "id": 1778000111, "messages": messages}
    out.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")


def replicate(database_url: str, channel: str, times: int) -> None:
    """Copy the channel's messages and documents ``times - 1`` more times (PostgreSQL)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        pk = conn.execute(text("select id from channels where key = :k"), {"k": channel}).scalar_one()
        cols = (
            conn.execute(
                text(
                    "select column_name from information_schema.columns where table_name='messages' and column_name<>'id'"
                )
            )
            .scalars()
            .all()
        )
        dcols = (
            conn.execute(
                text(
                    "select column_name from information_schema.columns where table_name='documents' and column_name not in ('id','message_pk')"
                )
            )
            .scalars()
            .all()
        )
        for k in range(1, times):
            msg_sel = [
                f"message_id + {k * SHIFT}"
                if c == "message_id"
                else f"text || ' (повтор {k})'"
                if c == "text"
                else c
                for c in cols
            ]
            conn.execute(
                text(
                    f"insert into messages ({', '.join(cols)}) select {', '.join(msg_sel)} from messages "  # noqa: S608 - bench
                    f"where channel_id = :pk and message_id < {SHIFT}"
                ),
                {"pk": pk},
            )
            doc_sel = [f"d.clean_text || ' (повтор {k})'" if c == "clean_text" else f"d.{c}" for c in dcols]
            conn.execute(
                text(
                    f"insert into documents (message_pk, {', '.join(dcols)}) select m2.id, {', '.join(doc_sel)} "  # noqa: S608
                    "from documents d join messages m on m.id = d.message_pk "
                    f"join messages m2 on m2.channel_id = m.channel_id and m2.message_id = m.message_id + {k * SHIFT} "
                    f"where m.channel_id = :pk and m.message_id < {SHIFT}"
                ),
                {"pk": pk},
            )
            # Each copy joins its original's topic, so topics.json lists every post (as after topicize).
            conn.execute(
                text(
                    "insert into topic_members (message_pk, topic_id) select m2.id, tm.topic_id "  # noqa: S608 - bench
                    "from topic_members tm join messages m on m.id = tm.message_pk "
                    f"join messages m2 on m2.channel_id = m.channel_id and m2.message_id = m.message_id + {k * SHIFT} "
                    f"where m.channel_id = :pk and m.message_id < {SHIFT}"
                ),
                {"pk": pk},
            )
        conn.execute(
            text(
                "update topics t set size = (select count(*) from topic_members tm where tm.topic_id = t.id) "
                "where t.channel_id = :pk"
            ),
            {"pk": pk},
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("vacuum analyze"))


def main() -> None:
    """Dispatch the two sub-commands."""
    if sys.argv[1] == "export":
        build_export(int(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1] == "replicate":
        replicate(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
