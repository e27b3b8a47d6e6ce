# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: time and peak memory of build_topics at 100, 1,000 and 10,000 posts.

Reads the real posts of ``../shared/data/nktkln`` (Telethon markdown, turned to
plain text with Telethon's own parser), repeats them with a suffix when more
are asked than exist, and prints one line per size. Each size runs in a fresh
subprocess so peak RSS is that size's own. Threads are capped at 2 (BLAS and
OpenMP) to match the 2-core target machines.

Usage:
    .venv/bin/python bench/topics_scale.py [SIZE ...]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nktkln"
SIZES = (100, 1_000, 10_000)


def _posts(size: int) -> list[object]:
    from telethon.extensions import markdown

    from tg_parser.processing.text import clean_text
    from tg_parser.topics import TopicInput

    texts: list[str] = []
    for path in sorted(DATA.glob("*.json")):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text:
                texts.append(text)
    out = []
    for i in range(size):
        suffix = "" if i < len(texts) else f" (повтор {i // len(texts)})"
        out.append(TopicInput(message_id=i + 1, text=texts[i % len(texts)] + suffix))
    return out


def _run_one(size: int) -> None:
    from threadpoolctl import threadpool_limits

    from tg_parser.topics import build_topics

    items = _posts(size)
    with threadpool_limits(limits=2):
        start = time.perf_counter()
        topics = build_topics(items, channel_key="bench", seed=42)
        elapsed_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"posts={size:>6}  topics={len(topics):>3}  time_s={elapsed_s:7.2f}  peak_rss_mb={peak_mb:7.1f}  "
        f"largest={topics[0].size if topics else 0}  label0={topics[0].label if topics else ''!r}"
    )


def main() -> None:
    """Run every size in its own subprocess (or one size when called with ``--one``)."""
    if not DATA.is_dir():
        sys.exit(f"missing data directory {DATA}")
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        _run_one(int(sys.argv[2]))
        return
    sizes = [int(a) for a in sys.argv[1:]] or list(SIZES)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    for size in sizes:
        subprocess.run([sys.executable, __file__, "--one", str(size)], check=True, env=env)


if __name__ == "__main__":
    main()
