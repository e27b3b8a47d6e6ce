# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Clustering of LSA vectors: k-means with k chosen by silhouette.

k-means (Lloyd; scikit-learn's ``KMeans`` with k-means++ seeding, Arthur &
Vassilvitskii 2007) on unit vectors approximates spherical k-means, the usual
choice for TF-IDF/LSA text (Dhillon & Modha 2001). The number of clusters is
the candidate with the highest mean silhouette (Rousseeuw 1987), computed on a
fixed-seed sample for large corpora so the cost stays linear.

A re-cluster of a channel that has topics can start warm
(:func:`warm_centres`): k-means starts from the previous topics' centres,
recomputed in the new space, and their number of topics is kept unless
another candidate's silhouette beats it by more than :data:`WARM_MARGIN`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

__all__ = [
    "BLAS_THREADS",
    "DEFAULT_MAX_TOPICS",
    "MIN_POSTS_TO_SPLIT",
    "MIN_SILHOUETTE",
    "WARM_MARGIN",
    "PreviousTopics",
    "cluster",
    "fit_clusters",
    "k_candidates",
    "warm_centres",
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
WARM_MARGIN = 0.02
"""On a warm start, another k replaces the previous topics' k only when its silhouette is higher by more
than this (issue #12). It is the size of :data:`MIN_SILHOUETTE`, and a preference for keeping topics, not
a noise bound: on the twelve nktkln channels (``bench/k_selection.py``, all posts and seeded 95 % subsets)
the silhouette of one k moves between seeded 3,000-post samples by a standard deviation of 0.0001-0.0055,
while candidates 2..40 span 0.047-0.061 (measured 2026-12-07)."""
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


@dataclass(frozen=True)
class PreviousTopics:
    """The topics of a channel before a re-cluster: which post was in which topic.

    Attributes:
        ids: ``(m,)`` message ids that had a topic, unique.
        numbers: ``(m,)`` their topic numbers.
    """

    ids: NDArray[np.int64]
    numbers: NDArray[np.int64]


def warm_centres(
    vectors: NDArray[np.float32], ids: Sequence[int] | NDArray[np.int64], previous: PreviousTopics
) -> NDArray[np.float32]:
    """Return the previous topics' centres in a new space: the mean of each topic's members' new rows.

    The feature space is refitted on every full re-cluster, so stored centres
    cannot be reused; the members' new vectors place them instead. Topics none
    of whose members are among ``ids`` (deleted, or outside a fit sample) have
    no centre.

    Args:
        vectors: ``(n, d)`` rows of the posts in the new space.
        ids: ``(n,)`` message ids of the rows.
        previous: The channel's previous topics.

    Returns:
        ``(t, d)`` float32 centres, one per previous topic with a member among ``ids``, by topic number.
    """
    row_ids = np.asarray(ids, dtype=np.int64)
    _common, in_rows, in_previous = np.intersect1d(
        row_ids, previous.ids, assume_unique=True, return_indices=True
    )
    if not len(in_rows):
        return np.zeros((0, vectors.shape[1]), dtype=np.float32)
    topic_numbers, which = np.unique(previous.numbers[in_previous], return_inverse=True)
    sums = np.zeros((len(topic_numbers), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, which, vectors[in_rows])
    counts = np.bincount(which, minlength=len(topic_numbers)).astype(np.float64)
    return np.asarray(sums / counts[:, None], dtype=np.float32)


def _fit(
    vectors: NDArray[np.float32], k: int, seed: int, init: NDArray[np.float32] | None = None
) -> tuple[NDArray[np.int64], KMeans]:
    if init is None:
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed)
    else:  # one run from the given centres: restarts from the same centres would repeat it
        model = KMeans(n_clusters=k, init=init, n_init=1, random_state=seed)
    with threadpool_limits(limits=BLAS_THREADS):
        return np.asarray(model.fit_predict(vectors), dtype=np.int64), model


def _silhouette(sample: NDArray[np.float32], labels: NDArray[np.int64]) -> float | None:
    """Mean silhouette of a labelling, or ``None`` when it has fewer than two clusters."""
    if len(np.unique(labels)) < 2:  # noqa: PLR2004 - silhouette needs two clusters
        return None
    with threadpool_limits(limits=BLAS_THREADS):
        return float(silhouette_score(sample, labels))


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
    vectors: NDArray[np.float32],
    *,
    seed: int,
    max_topics: int | None = None,
    warm: NDArray[np.float32] | None = None,
    refine: bool = False,
) -> tuple[NDArray[np.int64], KMeans | None]:
    """Assign every post to a cluster.

    On more than :data:`SELECTION_SAMPLE` posts, candidates are scored on a
    seeded random sample (k-means and silhouette both), and only the winning
    k is fitted on every post: the cost of choosing k stays flat as the
    channel grows.

    With ``warm`` centres (a re-cluster of a channel that has topics, see
    :func:`warm_centres`), k-means with ``k = len(warm)`` starts from them,
    and that k is kept unless another candidate's silhouette is higher by
    more than :data:`WARM_MARGIN`; the other candidates start from k-means++
    as usual, so posts unlike the previous topics can still form clusters of
    their own. Warm centres are not used when their number is outside
    ``2 ≤ k ≤ min(cap, distinct vectors, n - 1)`` or when their silhouette
    is below :data:`MIN_SILHOUETTE`.

    Args:
        vectors: ``(n, d)`` unit (or zero) rows, in a deterministic order.
        seed: Random state of k-means and of the silhouette sample.
        max_topics: Cap on the number of clusters, or ``None`` for the default.
        warm: ``(k, d)`` centres to start k-means from, or ``None`` (a first fit: k-means++).
        refine: On more than :data:`SELECTION_SAMPLE` posts, fit the winning k on every post
            once, from the centres it had on the selection sample, instead of
            :data:`N_INIT` restarts from k-means++ (the "fit on a sample, refine on all"
            initialisation of Bradley & Fayyad, "Refining initial points for k-means
            clustering", ICML 1998).

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
    cap = DEFAULT_MAX_TOPICS if max_topics is None else max_topics
    started = _warm_fit(sample, warm, seed=seed, k_max=min(cap, n_distinct, n - 1))
    init, warm_k = None, 0
    if started is not None:  # the previous k, to be beaten by more than the margin
        best_labels, best_model, warm_score = started
        init, warm_k = warm, len(started[1].cluster_centers_)
        best_k, best_score = warm_k, warm_score + WARM_MARGIN
    for k in candidates:
        if k == warm_k:  # scored from the warm centres already
            continue
        labels, model = _fit(sample, k, seed)
        score = _silhouette(sample, labels)
        if score is not None and score > best_score:
            best_k, best_labels, best_model, best_score, init = k, labels, model, score, None
    if best_k == 1:
        return np.zeros(n, dtype=np.int64), None
    if sample is vectors:
        return best_labels, best_model
    return _fit(vectors, best_k, seed, _final_init(init, best_model, refine=refine))


def _final_init(
    init: NDArray[np.float32] | None, best: KMeans | None, *, refine: bool
) -> NDArray[np.float32] | None:
    """Return the centres the fit on every post starts from: warm ones, the sample's (refine), or none."""
    if init is not None or not refine or best is None:
        return init
    return np.asarray(best.cluster_centers_, dtype=np.float32)


def _warm_fit(
    sample: NDArray[np.float32], warm: NDArray[np.float32] | None, *, seed: int, k_max: int
) -> tuple[NDArray[np.int64], KMeans, float] | None:
    """Fit k-means from warm centres and score it; ``None`` without centres, k out of range or structure."""
    if warm is None or not 2 <= len(warm) <= k_max:  # noqa: PLR2004 - silhouette needs two clusters
        return None
    labels, model = _fit(sample, len(warm), seed, warm)
    score = _silhouette(sample, labels)
    if score is None or score <= MIN_SILHOUETTE:
        return None
    return labels, model, score
