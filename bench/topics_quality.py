# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: topic quality (NMI against the posts' ``category``) and time, this tree against a git ref.

The twelve channels of ``../shared/data/nktkln`` (about 10,900 posts with
text) form one mixed channel; each post carries the coarse ``category`` an LLM
gave it in the source project (a rough ground truth, see
``shared/data/README.md``). For each variant, in its own subprocess (so peak
RSS is its own), ``build_topics`` clusters the posts and the script prints the
normalised mutual information (NMI, arithmetic mean; scikit-learn
``normalized_mutual_info_score``) and adjusted Rand index of the topics
against the categories, the number of topics, the size of the largest, the
wall time, peak RSS, and a digest of the topics (equal digests: identical
topics, labels and members).

Variants, each run for this working tree and, with ``--ref``, for the code of
a git ref (its ``tg_parser`` exported to a temporary folder and put first on
``PYTHONPATH``), so before and after come from one run on one machine state:

* ``full``: every post, fitted on all of them (the path up to ``FIT_SAMPLE``);
* ``sampled``: the same posts with ``FIT_SAMPLE`` lowered to ``--fit-sample``
  (default 3,000), so vocabulary, SVD and k-means come from a sample and
  every post is assigned afterwards (the path of large channels);
* ``copies``: the posts repeated ``--copies`` times (default 10, about 109k
  posts) with a ``(повтор k)`` suffix, as ``bench/_scale_export_data.py``
  replicates them, at the shipped ``FIT_SAMPLE``.

Usage:
    .venv/bin/python bench/topics_quality.py --ref 2eb19bd [--variants full,sampled,copies]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nktkln"
VARIANTS = ("full", "sampled", "copies")


def _posts(copies: int) -> tuple[list[object], list[str]]:
    from telethon.extensions import markdown

    from tg_parser.processing.text import clean_text
    from tg_parser.topics import TopicInput

    base: list[tuple[int, str, str]] = []
    for n, path in enumerate(sorted(DATA.glob("*.json"))):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text:
                base.append((n * 1_000_000 + int(post["message_id"]), text, str(post["category"])))
    items: list[object] = []
    truth: list[str] = []
    for k in range(copies):
        suffix = f" (повтор {k})" if k else ""
        for mid, text, category in base:
            items.append(TopicInput(message_id=k * 10**8 + mid, text=text + suffix))
            truth.append(category)
    return items, truth


def _run_one(variant: str, fit_sample: int, copies: int) -> None:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from threadpoolctl import threadpool_limits

    import tg_parser.topics.build as build_module

    items, truth = _posts(copies if variant == "copies" else 1)
    if variant == "sampled":
        build_module.FIT_SAMPLE = fit_sample
    with threadpool_limits(limits=2):
        start = time.perf_counter()
        topics = build_module.build_topics(items, channel_key="q", seed=42)  # type: ignore[arg-type]
        elapsed_s = time.perf_counter() - start
    assigned = {m: t.topic_id for t in topics for m in t.member_ids}
    predicted = [assigned[i.message_id] for i in items]  # type: ignore[attr-defined]
    sizes = Counter(predicted)
    digest = hashlib.sha256(
        json.dumps([t.model_dump(mode="json") for t in topics], ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()[:12]
    print(
        json.dumps(
            {
                "posts": len(items),
                "topics": len(topics),
                "largest": max(sizes.values()),
                "nmi": round(float(normalized_mutual_info_score(truth, predicted)), 4),
                "ari": round(float(adjusted_rand_score(truth, predicted)), 4),
                "time_s": round(elapsed_s, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "digest": digest,
                "module": build_module.__file__,
            }
        )
    )


def _export_ref(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", ref, "tg_parser"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tar_path = into / "ref.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    """Run every variant for this tree (and for ``--ref``) in fresh subprocesses and print the figures."""
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        _run_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", help="git ref to compare against (e.g. the base commit)")
    p.add_argument("--variants", default="full,sampled", help=f"comma-separated, of: {','.join(VARIANTS)}")
    p.add_argument("--fit-sample", type=int, default=3000)
    p.add_argument("--copies", type=int, default=10)
    args = p.parse_args()
    if not DATA.is_dir():
        sys.exit(f"missing data directory {DATA}")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    with tempfile.TemporaryDirectory(prefix="topics_quality_") as tmp:
        trees: list[tuple[str, Path | None]] = [("this tree", None)]
        if args.ref:
            trees.insert(0, (args.ref, _export_ref(args.ref, Path(tmp))))
        for variant in args.variants.split(","):
            for name, path in trees:
                child_env = dict(env)
                if path is not None:
                    child_env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
                done = subprocess.run(
                    [sys.executable, __file__, "--one", variant, str(args.fit_sample), str(args.copies)],
                    check=True,
                    env=child_env,
                    capture_output=True,
                    text=True,
                )
                print(f"{variant:8} {name:10} {done.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
