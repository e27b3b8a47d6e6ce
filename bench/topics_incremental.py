# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: incremental topicize of 1,000 new posts on a 100k-post channel, against its full fit.

Builds a channel of ``--posts`` posts (default 100,000) in a fresh database
(SQLite in a temporary folder, or ``--database-url`` for a PostgreSQL
database, which is migrated), from the real posts of ``../shared/data/nktkln``
(plain text through Telethon's markdown parser) repeated with a suffix. Then,
in one run:

1. the first topicize: a full fit of every post (no stored fit yet) — the baseline;
2. ``--rounds`` times: ``--new`` more posts are added and topicized
   incrementally (joined to the stored topics).

It prints each time, the median incremental time and its ratio to the full
fit, and the read of every post's placement (the floor every topicize pays).
Threads are capped at 2 (BLAS and OpenMP) to match the 2-core target machines.

Usage:
    .venv/bin/python bench/topics_incremental.py [--posts 100000] [--new 1000] [--rounds 3]
        [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nktkln"
KEY = "bench_incremental"
INSERT_BATCH = 5_000


def _texts() -> list[str]:
    from telethon.extensions import markdown

    from tg_parser.processing.text import clean_text

    out = []
    for path in sorted(DATA.glob("*.json")):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text:
                out.append(text)
    if not out:
        msg = f"no posts under {DATA} (see shared/data/README.md)"
        raise SystemExit(msg)
    return out


def _add(url: str, texts: list[str], first_id: int, count: int) -> None:
    ids = range(first_id, first_id + count)
    insert_posts(url, {i: f"{texts[i % len(texts)]} (повтор {i // len(texts)})" for i in ids}, key=KEY)


def insert_posts(url: str, posts: dict[int, str], *, key: str, batch_size: int = INSERT_BATCH) -> None:
    """Insert posts ``{message_id: text}`` and their offline documents into channel ``key``."""
    from sqlalchemy import insert, select

    from tg_parser.domain import Message
    from tg_parser.storage import channels, messages, session_scope
    from tg_parser.storage.tables import DocumentRow, MessageRow

    when = datetime(2024, 5, 1, tzinfo=UTC)
    items = list(posts.items())
    for start in range(0, len(items), batch_size):
        batch = dict(items[start : start + batch_size])
        with session_scope(url) as s:
            pk = channels.upsert_channel(
                s,
                key=key,
                telegram_id=1,
                username=None,
                title=key,
                chat_type=None,
                source_kind="export",
                source="{}",
            )
            messages.upsert_messages(
                s,
                channel_pk=pk,
                messages=[Message(channel_id=1, message_id=i, date=when, text=t) for i, t in batch.items()],
            )
            pks = {
                int(m): int(p)
                for m, p in s.execute(
                    select(MessageRow.message_id, MessageRow.id).where(
                        MessageRow.channel_id == pk, MessageRow.message_id.in_(list(batch))
                    )
                )
            }
            s.execute(
                insert(DocumentRow),
                [
                    {
                        "message_pk": pks[i],
                        "channel_id": pk,
                        "content_hash": hashlib.sha256(t.encode()).hexdigest(),
                        "processor": "offline",
                        "model": "bench",
                        "prompt_version": "1",
                        "clean_text": t,
                        "keywords": [],
                    }
                    for i, t in batch.items()
                ],
            )


def main() -> None:
    """Build the channel, time the full fit and the incremental rounds, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=100_000, help="posts of the channel before the new ones")
    parser.add_argument("--new", type=int, default=1_000, help="new posts per incremental round")
    parser.add_argument("--rounds", type=int, default=3, help="incremental rounds (the median is quoted)")
    parser.add_argument(
        "--database-url", help="a PostgreSQL database to use (default: SQLite in a temp folder)"
    )
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from tg_parser.config import load_settings
    from tg_parser.services.topicize import topicize
    from tg_parser.storage import channels, migrate, session_scope, topic_fits

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        texts = _texts()
        start = time.perf_counter()
        _add(url, texts, 1, args.posts)
        print(
            f"database={url.split(':', 1)[0]}  posts={args.posts}  build_s={time.perf_counter() - start:.1f}"
        )
        settings = load_settings(database_url=url)
        with threadpool_limits(limits=2):
            start = time.perf_counter()
            full = topicize(settings=settings, channel=KEY, run_id=None, dispatcher=None)
            full_s = time.perf_counter() - start
            with session_scope(url) as s:
                stored = topic_fits.load_fit(s, channel_pk=channels.get_channel(s, key=KEY).pk)
            size_mb = len(stored.model) / 1e6 if stored else 0.0
            print(
                f"full fit:     time_s={full_s:7.2f}  topics={full.topics}  reason={full.reason}  "
                f"stored_model_mb={size_mb:.1f}"
            )
            times, floors = [], []
            next_id = args.posts + 1
            for n in range(args.rounds):
                _add(url, texts, next_id, args.new)
                next_id += args.new
                start = time.perf_counter()
                with session_scope(url) as s:
                    topic_fits.placements(s, channel_pk=channels.get_channel(s, key=KEY).pk)
                floors.append(time.perf_counter() - start)
                start = time.perf_counter()
                done = topicize(settings=settings, channel=KEY, run_id=None, dispatcher=None)
                times.append(time.perf_counter() - start)
                print(
                    f"incremental {n + 1}: time_s={times[-1]:7.2f}  fit={done.fit}  placed={done.placed}  "
                    f"posts={done.posts}  far={done.drift.get('far')}  read_placements_s={floors[-1]:.2f}"
                )
        median = statistics.median(times)
        print(
            f"median incremental of {args.new} new posts: {median:.2f} s = "
            f"{median / full_s:.3f}x the full fit "
            f"({full_s:.2f} s), {median / statistics.median(floors):.1f}x reading every placement "
            f"({statistics.median(floors):.2f} s); goal <= 5 s"
        )


if __name__ == "__main__":
    main()
