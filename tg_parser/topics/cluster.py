# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Clustering of LSA vectors: k-means with k chosen by silhouette.

k-means (Lloyd; scikit-learn's ``KMeans`` with k-means++ seeding, Arthur &
Vassilvitskii 2007) on unit vectors approximates spherical k-means, the usual
choice for TF-IDF/LSA text (Dhillon & Modha 2001). The number of clusters is
the candidate with the highest mean silhouette (Rousseeuw 1987), computed on a
fixed-seed sample for large corpora so the cost stays linear.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "BLAS_THREADS",
    "DEFAULT_MAX_TOPICS",
    "MIN_POSTS_TO_SPLIT",
    "MIN_SILHOUETTE",
    "cluster",
    "fit_clusters",
    "k_candidates",
]

DEFAULT_MAX_TOPICS = 40
"""Most topics for a channel unless the caller says otherwise."""
MIN_POSTS_TO_SPLIT = 4
"""Fewer posts than this form one topic: silhouette needs 2 ≤ k ≤ n - 1 and means little below."""
MIN_SILHOUETTE = 0.02
"""Best silhouette below this means no cluster structure: one topic."""
N_INIT = 4
"""k-means restarts per candidate k (fixed, with the seed, for determinism)."""
SELECTION_SAMPLE = 3000
"""Above this many posts, k is chosen on a seeded sample of this size, then fitted on all."""
MAX_CANDIDATES = 10
"""Most values of k tried."""
BLAS_THREADS = 1
"""OpenMP/BLAS threads of topicize (k-means, silhouette, the SVD's dense steps). Their work
units are small (a 3,000-post sample, a few hundred dimensions), and with two threads on a
2-core machine that has any other load the threads spin-wait on each other: k = 40 on the
3,000-post sample took 14.8 s with two threads against 0.68 s with one while another process
used the other core (measured 2026-12-02, scikit-learn 1.8, OpenBLAS). The sparse products that
dominate topicize are single-threaded in SciPy either way."""


def k_candidates(n_posts: int, *, max_topics: int | None, n_distinct: int) -> list[int]:
    """Return the values of k worth trying for a corpus.

    The upper end is ``sqrt(n / 2)`` (Mardia, Kent & Bibby 1979's rule of
    thumb), capped by ``max_topics`` (default :data:`DEFAULT_MAX_TOPICS`), by
    the number of distinct vectors, and by ``n - 1``. At most
    :data:`MAX_CANDIDATES` values are tried, spaced geometrically.

    Args:
        n_posts: Number of posts.
        max_topics: Caller's cap on topics, or ``None``.
        n_distinct: Number of distinct vectors.

    Returns:
        Ascending k values ≥ 2; empty when the corpus should be one topic.
    """
    cap = DEFAULT_MAX_TOPICS if max_topics is None else max_topics
    if n_posts < MIN_POSTS_TO_SPLIT or cap < 2 or n_distinct < 2:  # noqa: PLR2004 - two clusters at least
        return []
    k_max = min(cap, n_distinct, n_posts - 1, max(2, round(math.sqrt(n_posts / 2))))
    if k_max - 1 <= MAX_CANDIDATES:
        return list(range(2, k_max + 1))
    grid = np.geomspace(2, k_max, num=MAX_CANDIDATES)
    return sorted({round(float(k)) for k in grid})


def _fit(vectors: NDArray[np.float32], k: int, seed: int) -> tuple[NDArray[np.int64], KMeans]:
    model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed)
    with threadpool_limits(limits=BLAS_THREADS):
        return np.asarray(model.fit_predict(vectors), dtype=np.int64), model


def cluster(vectors: NDArray[np.float32], *, seed: int, max_topics: int | None = None) -> NDArray[np.int64]:
    """Assign every post to a cluster (the labels of :func:`fit_clusters`).

    Args:
        vectors: ``(n, d)`` unit (or zero) rows, in a deterministic order.
        seed: Random state of k-means and of the silhouette sample.
        max_topics: Cap on the number of clusters, or ``None`` for the default.

    Returns:
        ``n`` labels in ``0..k-1``; all zero when the corpus is one topic.
    """
    return fit_clusters(vectors, seed=seed, max_topics=max_topics)[0]


def fit_clusters(
    vectors: NDArray[np.float32], *, seed: int, max_topics: int | None = None
) -> tuple[NDArray[np.int64], KMeans | None]:
    """Assign every post to a cluster.

    On more than :data:`SELECTION_SAMPLE` posts, candidates are scored on a
    seeded random sample (k-means and silhouette both), and only the winning
    k is fitted on every post: the cost of choosing k stays flat as the
    channel grows.

    Args:
        vectors: ``(n, d)`` unit (or zero) rows, in a deterministic order.
        seed: Random state of k-means and of the silhouette sample.
        max_topics: Cap on the number of clusters, or ``None`` for the default.

    Returns:
        ``n`` labels in ``0..k-1`` (all zero when the corpus is one topic), and
        the fitted k-means that assigns other posts (``None`` for one topic).
    """
    n = vectors.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), None
    if vectors.shape[1] == 0:
        return np.zeros(n, dtype=np.int64), None
    n_distinct = len(np.unique(np.round(vectors, 5), axis=0))
    candidates = k_candidates(n, max_topics=max_topics, n_distinct=n_distinct)
    if n > SELECTION_SAMPLE:
        picked = np.sort(np.random.default_rng(seed).choice(n, size=SELECTION_SAMPLE, replace=False))
        sample = vectors[picked]
    else:
        sample = vectors
    best_k, best_score = 1, MIN_SILHOUETTE
    best_labels, best_model = np.zeros(len(sample), dtype=np.int64), None
    for k in candidates:
        labels, model = _fit(sample, k, seed)
        if len(np.unique(labels)) < 2:  # noqa: PLR2004 - silhouette needs two clusters
            continue
        with threadpool_limits(limits=BLAS_THREADS):
            score = float(silhouette_score(sample, labels))
        if score > best_score:
            best_k, best_labels, best_model, best_score = k, labels, model, score
    if best_k == 1:
        return np.zeros(n, dtype=np.int64), None
    if sample is vectors:
        return best_labels, best_model
    return _fit(vectors, best_k, seed)
