# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: time and peak memory of topic clustering at 100, 1,000 and 10,000 posts (or the sizes given).

Reads the real posts of ``../shared/data/nktkln`` (Telethon markdown, turned to
plain text with Telethon's own parser), repeats them with a suffix when more
are asked than exist, and prints one line per size. Each size runs in a fresh
subprocess so its figures are that size's own. Threads are capped at 2 (BLAS and
OpenMP) to match the 2-core target machines.

By default each size is ``build_topics`` on a list of every post, which places
every post in its own process (its assignment pass has ``processes=1``). With
``--processes N`` the bench runs ``cluster_posts`` as ``tg-parser topicize``
does (``TOPIC_PROCESSES``): N worker processes for the assignment pass (N = 1:
none), on a source that makes each post's text as it is read, as topicize
reads a channel from the database, so no list of every post is held (nor
inherited by the forked workers); the topics are numbered as ``build_topics``
numbers them, and are the same either way.

Each line gives, for the ``build_topics`` (or ``cluster_posts``) call alone:
``time_s``, its wall time, and ``cpu_s``, its CPU time (user + system) of the
subprocess and of its reaped worker processes (``os.times``); for the whole
subprocess (reading the posts included): ``peak_rss_mb``, the subprocess's own
``ru_maxrss`` (it leaves out the worker processes), and ``tree_pss_mb``, the
peak of the summed PSS (``/proc/PID/smaps_rollup``, shared pages split between
the processes that share them) of the subprocess and all its descendants,
sampled every 0.2 s from the parent (``bench._scale_steps.run_child``). MB are MiB.

Usage:
    .venv/bin/python bench/topics_scale.py [--processes N] [SIZE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench._scale_steps, when run as a script

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from tg_parser.domain import Topic
    from tg_parser.topics import TopicInput

DATA = ROOT.parent / "shared" / "data" / "nktkln"
SIZES = (100, 1_000, 10_000)
RESULT_PREFIX = "posts="


def _texts() -> list[str]:
    """Return the plain texts of the real posts, in file and post order (empty ones left out)."""
    from telethon.extensions import markdown

    from tg_parser.processing.text import clean_text

    texts: list[str] = []
    for path in sorted(DATA.glob("*.json")):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text:
                texts.append(text)
    return texts


def _text(texts: Sequence[str], i: int) -> str:
    """Return the text of post ``i`` (0-based): a real text, with a suffix from its second use on."""
    suffix = "" if i < len(texts) else f" (повтор {i // len(texts)})"
    return texts[i % len(texts)] + suffix


def _posts(size: int) -> list[TopicInput]:
    from tg_parser.topics import TopicInput

    texts = _texts()
    return [TopicInput(message_id=i + 1, text=_text(texts, i)) for i in range(size)]


@dataclass(frozen=True)
class _Stream:
    """Posts ``1..size`` as a ``PostSource`` that makes each text when it is read (no list of every post)."""

    texts: Sequence[str]
    size: int

    def message_ids(self) -> Sequence[int]:
        return range(1, self.size + 1)

    def batches(
        self, *, wanted: Collection[int] | None, size: int
    ) -> Iterator[Sequence[tuple[int, str, Sequence[str]]]]:
        batch: list[tuple[int, str, Sequence[str]]] = []
        for mid in self.message_ids():
            if wanted is None or mid in wanted:
                batch.append((mid, _text(self.texts, mid - 1), ()))
                if len(batch) == size:
                    yield batch
                    batch = []
        if batch:
            yield batch


def _topics(posts: list[TopicInput] | _Stream, processes: int | None) -> list[Topic]:
    """Return the topics: ``build_topics`` on a list, or ``cluster_posts`` on a stream."""
    from tg_parser.topics import build_topics
    from tg_parser.topics.build import cluster_posts

    if isinstance(posts, list):
        return build_topics(posts, channel_key="bench", seed=42)
    found = cluster_posts(posts, seed=42, processes=processes or 1)
    numbers = {c: n for n, c in enumerate(found.ranked(), start=1)}
    return found.topics(numbers, channel_key="bench")


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run_one(size: int, processes: int | None) -> None:
    from threadpoolctl import threadpool_limits

    posts = _posts(size) if processes is None else _Stream(_texts(), size)
    with threadpool_limits(limits=2):
        start, cpu_start = time.perf_counter(), _cpu_s()
        topics = _topics(posts, processes)
        elapsed_s, cpu_s = time.perf_counter() - start, _cpu_s() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "build_topics(list)" if processes is None else f"cluster_posts(stream,processes={processes})"
    print(
        f"{RESULT_PREFIX}{size:>7}  {mode}  topics={len(topics):>3}  time_s={elapsed_s:7.2f}  "
        f"cpu_s={cpu_s:7.2f}  peak_rss_mb={peak_mb:7.1f}  "
        f"largest={topics[0].size if topics else 0}  label0={topics[0].label if topics else ''!r}",
        flush=True,
    )


def main() -> None:
    """Run every size in its own subprocess (or one size when called with ``--one``).

    Raises:
        SystemExit: The data directory is missing.
        RuntimeError: A size's subprocess failed (the tail of its output is in the message).
    """
    if not DATA.is_dir():
        sys.exit(f"missing data directory {DATA}")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="*", type=int, help=f"posts per run (default {' '.join(map(str, SIZES))})")
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        help="streamed cluster_posts with N worker processes (1: none) instead of build_topics on a list",
    )
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        _run_one(args.sizes[0], args.processes)
        return

    from bench._scale_steps import run_child

    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    with tempfile.TemporaryDirectory(prefix="topics_scale_") as tmp:
        for size in args.sizes or SIZES:
            log = Path(tmp) / f"{size}.log"
            extra = [] if args.processes is None else ["--processes", str(args.processes)]
            argv = [sys.executable, __file__, "--one", *extra, str(size)]
            m = run_child(argv, env=env, log=log)
            lines = log.read_text(encoding="utf-8").splitlines()
            result = next(line for line in reversed(lines) if line.startswith(RESULT_PREFIX))
            print(f"{result}  tree_pss_mb={m.tree_pss_mb or 0:7.1f}", flush=True)


if __name__ == "__main__":
    main()
