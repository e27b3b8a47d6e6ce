# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: how noisy is the silhouette that chooses k, and what would the one-standard-error rule pick.

Issue #12 asks that the choice of k be sensible. ``fit_clusters`` takes the
candidate with the highest mean silhouette on one seeded 3,000-post sample.
This script measures the noise of that score instead of assuming it: on the
twelve nktkln channels of ``bench/topic_quality.py`` (all posts, and seeded
95 % subsets), it captures the vectors ``build_topics`` clusters, scores every
candidate k on ``--replicates`` seeded samples of ``--sample`` posts (k-means
seed ``seed + r`` on replicate ``r``), and prints per k the mean and standard
deviation of the silhouette, the NMI against ``category`` of the fit on every
post at that k, and the k chosen by

* ``shipped``: the shipped rule (one 3,000-post sample, highest silhouette);
* ``1-SE``: the smallest k whose mean silhouette is within one standard error
  (replicate sd / sqrt(R)) of the best mean (Breiman, Friedman, Olshen & Stone
  1984, "Classification and Regression Trees"; Hastie, Tibshirani & Friedman,
  "The Elements of Statistical Learning", 2nd ed., section 7.10).

For each chosen k it prints the NMI of plain TF-IDF + k-means at that k (the
floor of ``bench/topic_quality.py``) and the ratio against it (issue #12: ≥ 1.2).

Usage:
    flock /tmp/bench.lock .venv/bin/python bench/k_selection.py [--subsets 3] [--replicates 3] [--sample 1500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.topic_quality import DATA, _posts  # noqa: E402

SEED = 42


def _vectors(rows: list[tuple[int, str, str, str]]) -> np.ndarray[Any, Any]:
    """Return the ``(n, d)`` vectors ``build_topics`` clusters for ``rows`` (its ``fit_clusters`` input)."""
    import tg_parser.topics.build as build_module
    from tg_parser.topics import TopicInput

    captured: list[np.ndarray[Any, Any]] = []
    namespace = vars(build_module)
    shipped = namespace["fit_clusters"]

    def capture(vectors: np.ndarray[Any, Any], **kwargs: Any) -> Any:
        captured.append(np.asarray(vectors))
        return shipped(vectors, **kwargs)

    namespace["fit_clusters"] = capture
    try:
        build_module.build_topics([TopicInput(r[0], r[1]) for r in rows], channel_key="q", seed=SEED)
    finally:
        namespace["fit_clusters"] = shipped
    return captured[0]


def _scores(
    vectors: np.ndarray[Any, Any], candidates: list[int], replicates: int, size: int
) -> np.ndarray[Any, Any]:
    """Return ``(replicates, len(candidates))`` silhouettes, each replicate on its own sample of ``size``."""
    from tg_parser.topics.cluster import _fit, _silhouette

    rng = np.random.default_rng(SEED)
    out = np.zeros((replicates, len(candidates)))
    for r in range(replicates):
        n = len(vectors)
        sample = vectors[np.sort(rng.choice(n, size=size, replace=False))] if n > size else vectors
        for j, k in enumerate(candidates):
            out[r, j] = _silhouette(sample, _fit(sample, k, SEED + r)[0]) or 0.0
    return out


def _one_se(candidates: list[int], scores: np.ndarray[Any, Any]) -> int:
    """Return the smallest k whose mean is within one standard error of the best mean."""
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    se = float(scores[:, best].std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0
    return next(k for k, m in zip(candidates, mean, strict=True) if m >= mean[best] - se)


def main() -> None:
    """Print the silhouettes, NMIs and chosen k on all posts and on the subsets."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subsets", type=int, default=3, help="seeded 95 %% subsets (seeds 1..N)")
    p.add_argument("--replicates", type=int, default=3)
    p.add_argument("--sample", type=int, default=1500)
    args = p.parse_args()
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import normalized_mutual_info_score
    from threadpoolctl import threadpool_limits

    from tg_parser.processing.stopwords import topic_stop_words
    from tg_parser.topics.cluster import SELECTION_SAMPLE, _fit, k_candidates

    rows = _posts(DATA)
    for subset in range(args.subsets + 1):
        if subset:
            size = round(0.95 * len(rows))
            picked = np.sort(np.random.default_rng(subset).choice(len(rows), size=size, replace=False))
            part = [rows[i] for i in picked]
        else:
            part = rows
        category = [r[2] for r in part]
        vectors = _vectors(part)
        n_distinct = len(np.unique(np.round(vectors, 5), axis=0))
        candidates = k_candidates(len(vectors), max_topics=None, n_distinct=n_distinct)
        start = time.perf_counter()
        shipped_scores = _scores(vectors, candidates, 1, SELECTION_SAMPLE)
        shipped_s = time.perf_counter() - start
        start = time.perf_counter()
        scores = _scores(vectors, candidates, args.replicates, args.sample)
        replicate_s = time.perf_counter() - start
        nmi = [float(normalized_mutual_info_score(category, _fit(vectors, k, SEED)[0])) for k in candidates]
        print(f"{'all posts' if not subset else f'95 % subset, seed {subset}'}: {len(part)} posts")
        print("  k              " + " ".join(f"{k:6d}" for k in candidates))
        print("  sil shipped    " + " ".join(f"{x:6.4f}" for x in shipped_scores[0]))
        print(f"  sil mean R={args.replicates:<3} " + " ".join(f"{x:6.4f}" for x in scores.mean(axis=0)))
        print("  sil sd         " + " ".join(f"{x:6.4f}" for x in scores.std(axis=0, ddof=1)))
        print("  NMI category   " + " ".join(f"{x:6.4f}" for x in nmi))
        tfidf = TfidfVectorizer(
            sublinear_tf=True, min_df=2, max_df=0.5, stop_words=sorted(topic_stop_words())
        ).fit_transform([r[1] for r in part])
        chosen = {
            "shipped": candidates[int(np.argmax(shipped_scores[0]))],
            "1-SE": _one_se(candidates, scores),
        }
        for rule, k in chosen.items():
            with threadpool_limits(limits=1):
                floor = KMeans(n_clusters=k, n_init=4, random_state=SEED).fit_predict(tfidf)
            nmi_floor = float(normalized_mutual_info_score(category, floor))
            ours = nmi[candidates.index(k)]
            took = shipped_s if rule == "shipped" else replicate_s
            print(
                f"  {rule:8} k {k:3d}  NMI {ours:.4f}  TF-IDF + KMeans {nmi_floor:.4f}  "
                f"ratio {ours / max(nmi_floor, 1e-12):.3f}  selection {took:.1f} s"
            )


if __name__ == "__main__":
    main()
