# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: topic ids kept by a forced full re-cluster, warm-started against cold (issue #12).

The twelve channels of ``../shared/data/nktkln`` (about 10,900 posts with
text) form one channel in a SQLite database, read as ``bench/topic_quality.py``
reads them. In one run, through the real topicize service:

1. a seeded ``--share`` (default 95 %) of the posts is topicized (the first fit);
2. the other posts are added, and the database is copied;
3. ``topicize(full=True)`` re-clusters the original (it has a stored fit: warm start from the
   previous topics' centres), and the copy with its stored fit removed (a cold start, as
   before warm starts existed; ids are still matched by member overlap).

It prints, for each re-cluster, the share of the first fit's posts whose topic
id is unchanged (the floor is the cold one, measured in the same run), the
number of topics, the wall time, and the NMI (scikit-learn
``normalized_mutual_info_score``) of the topics against the posts' ``category``
(a rough ground truth, see ``shared/data/README.md``) next to the first fit's.

Usage:
    .venv/bin/python bench/topic_ids_full.py [--share 0.95] [--seed 7] [--topic-seed 42]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench.topics_incremental, when run as a script
DATA = ROOT.parent / "shared" / "data" / "nktkln"
KEY = "bench_topic_ids"
INSERT_BATCH = 2_000


def _posts() -> list[tuple[int, str, str]]:
    """``(message id, clean text, category)`` of every post with text, ids made unique per file."""
    from telethon.extensions import markdown

    from tg_parser.processing.text import clean_text

    rows = []
    for n, path in enumerate(sorted(DATA.glob("*.json"))):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text:
                rows.append((n * 1_000_000 + int(post["message_id"]), text, str(post["category"])))
    if not rows:
        sys.exit(f"no posts under {DATA} (see shared/data/README.md)")
    return sorted(rows)


def _add(url: str, posts: list[tuple[int, str, str]]) -> None:
    """Insert posts and their (offline) documents into the channel, creating it if needed."""
    from bench.topics_incremental import insert_posts

    insert_posts(url, {m: t for m, t, _c in posts}, key=KEY, batch_size=INSERT_BATCH)


def _assignments(url: str) -> dict[int, str]:
    """Every placed post's topic id."""
    from tg_parser.storage import channels, session_scope, topic_fits

    with session_scope(url) as s:
        placed = topic_fits.placements(s, channel_pk=channels.get_channel(s, key=KEY).pk)
    return {int(m): k for m, k in zip(placed.ids.tolist(), placed.topic_keys, strict=True) if k is not None}


def _copy(source: Path, target: Path) -> None:
    """Copy a SQLite database with its write-ahead log (a file copy would miss the last commits)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _nmi(assigned: dict[int, str], category: dict[int, str]) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    ids = sorted(assigned)
    return float(normalized_mutual_info_score([category[m] for m in ids], [assigned[m] for m in ids]))


def main() -> None:
    """Fit 95 %, add the rest, re-cluster warm and cold, print the kept shares and NMIs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--share", type=float, default=0.95, help="share of posts in the first fit")
    p.add_argument("--seed", type=int, default=7, help="seed of the split into first fit and the rest")
    p.add_argument("--topic-seed", type=int, default=42, help="TOPIC_SEED of topicize")
    args = p.parse_args()
    if not DATA.is_dir():
        sys.exit(f"missing data directory {DATA}")
    from sqlalchemy import delete
    from threadpoolctl import threadpool_limits

    from tg_parser.config import load_settings
    from tg_parser.services.topicize import topicize
    from tg_parser.storage import migrate, session_scope
    from tg_parser.storage.tables import TopicFitRow

    posts = _posts()
    category = {m: c for m, _t, c in posts}
    rng = np.random.default_rng(args.seed)
    chosen = set(rng.choice(len(posts), size=round(len(posts) * args.share), replace=False).tolist())
    first = [r for i, r in enumerate(posts) if i in chosen]
    rest = [r for i, r in enumerate(posts) if i not in chosen]
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=2):
        warm_url, cold_url = f"sqlite:///{Path(tmp) / 'warm.db'}", f"sqlite:///{Path(tmp) / 'cold.db'}"
        migrate.upgrade(warm_url)
        _add(warm_url, first)
        start = time.perf_counter()
        fit = topicize(
            settings=load_settings(database_url=warm_url, topic_seed=args.topic_seed),
            channel=KEY,
            run_id=None,
            dispatcher=None,
        )
        fit_s = time.perf_counter() - start
        before = _assignments(warm_url)
        print(f"posts {len(posts)}: first fit on {len(first)} ({args.share:.0%}), then {len(rest)} added")
        print(f"{'':26} {'kept ids':>9} {'topics':>7} {'NMI category':>13} {'time s':>7}")
        print(f"{'first fit':26} {'':>9} {fit.topics:7} {_nmi(before, category):13.4f} {fit_s:7.1f}")
        _add(warm_url, rest)
        _copy(Path(tmp) / "warm.db", Path(tmp) / "cold.db")
        with session_scope(cold_url) as s:
            s.execute(delete(TopicFitRow))
        kept = {}
        for name, url in (("cold (stored fit removed)", cold_url), ("warm start", warm_url)):
            start = time.perf_counter()
            done = topicize(
                settings=load_settings(database_url=url, topic_seed=args.topic_seed),
                channel=KEY,
                run_id=None,
                dispatcher=None,
                full=True,
            )
            took = time.perf_counter() - start
            after = _assignments(url)
            kept[name] = sum(after.get(m) == k for m, k in before.items()) / len(before)
            print(f"{name:26} {kept[name]:9.1%} {done.topics:7} {_nmi(after, category):13.4f} {took:7.1f}")
    floor = kept["cold (stored fit removed)"]
    print(f"kept ids, warm / cold: {kept['warm start'] / max(floor, 1e-12):.2f}x")


if __name__ == "__main__":
    main()
