"""Warm start of a full re-cluster: centres of the previous topics in the new space, and the k rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from tg_parser.topics import TopicInput
from tg_parser.topics import cluster as cluster_module
from tg_parser.topics.build import _ListSource, cluster_posts
from tg_parser.topics.cluster import PreviousTopics, fit_clusters, warm_centres

SEED = 3


def _blobs(centres: list[list[float]], per_blob: int, *, spread: float, seed: int) -> np.ndarray:
    """``per_blob`` Gaussian points around each centre, blob after blob."""
    rng = np.random.default_rng(seed)
    return np.vstack(
        [np.asarray(c) + rng.normal(scale=spread, size=(per_blob, len(c))) for c in centres]
    ).astype(np.float32)


FOUR = [[0, 0, 0, 0], [6, 0, 0, 0], [0, 6, 0, 0], [0, 0, 6, 0]]


def test_warm_centres_are_the_means_of_each_topics_members_by_number() -> None:
    """Each previous topic's centre is the mean of its members' new rows; topics without rows have none."""
    vectors = np.asarray([[1, 0], [3, 0], [0, 2], [0, 4], [9, 9]], dtype=np.float32)
    ids = np.asarray([10, 11, 12, 13, 14], dtype=np.int64)
    previous = PreviousTopics(
        ids=np.asarray([13, 10, 12, 11, 99], dtype=np.int64),  # 14 is new; 99 is gone
        numbers=np.asarray([7, 2, 7, 2, 5], dtype=np.int64),
    )
    centres = warm_centres(vectors, ids, previous)
    assert centres.dtype == np.float32
    np.testing.assert_allclose(centres, [[2, 0], [0, 3]])  # topic 2, then topic 7; topic 5 has no row


def test_warm_centres_of_no_previous_member_are_empty() -> None:
    """Posts none of which had a topic give no centres."""
    vectors = np.ones((2, 3), dtype=np.float32)
    previous = PreviousTopics(ids=np.asarray([5], dtype=np.int64), numbers=np.asarray([1], dtype=np.int64))
    assert warm_centres(vectors, [1, 2], previous).shape == (0, 3)


def test_k_means_starts_from_the_warm_centres_in_their_order() -> None:
    """Cluster i of a warm fit is the blob of warm centre i, whatever order the centres come in."""
    vectors = _blobs(FOUR, 15, spread=0.3, seed=1)
    blob = np.repeat(np.arange(4), 15)
    order = np.asarray([2, 0, 3, 1])
    warm = np.asarray(FOUR, dtype=np.float32)[order] + 0.5  # near, not on, the blob centres
    labels, model = fit_clusters(vectors, seed=SEED, warm=warm)
    assert model is not None
    assert labels.tolist() == np.argsort(order)[blob].tolist()


def test_another_k_wins_only_by_more_than_the_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm k stays unless another k's silhouette is higher by more than WARM_MARGIN."""
    # Three blobs; the warm centres are those of two topics, one of which merged two blobs.
    centres = [[0, 0, 0], [6, 0, 0], [0, 6, 0]]
    vectors = _blobs(centres, 20, spread=0.5, seed=2)
    warm = np.asarray([[0, 0, 0], [3, 3, 0]], dtype=np.float32)
    cold_labels, _ = fit_clusters(vectors, seed=SEED)
    cold_k, cold_score = len(np.unique(cold_labels)), float(silhouette_score(vectors, cold_labels))
    warm_labels = KMeans(n_clusters=2, init=warm, n_init=1, random_state=SEED).fit_predict(vectors)
    gain = cold_score - float(silhouette_score(vectors, warm_labels))
    assert cold_k == 3
    assert gain > 0

    monkeypatch.setattr(cluster_module, "WARM_MARGIN", gain + 0.001)
    kept, _ = fit_clusters(vectors, seed=SEED, warm=warm)
    assert len(np.unique(kept)) == 2
    assert kept.tolist() == warm_labels.tolist()

    monkeypatch.setattr(cluster_module, "WARM_MARGIN", gain - 0.001)
    beaten, _ = fit_clusters(vectors, seed=SEED, warm=warm)
    assert beaten.tolist() == cold_labels.tolist()


def test_warm_centres_beyond_the_cap_are_not_used() -> None:
    """More warm centres than max_topics allows: the fit is the cold one."""
    vectors = _blobs(FOUR, 15, spread=0.3, seed=4)
    warm = np.asarray(FOUR, dtype=np.float32)
    cold, _ = fit_clusters(vectors, seed=SEED, max_topics=3)
    assert fit_clusters(vectors, seed=SEED, max_topics=3, warm=warm)[0].tolist() == cold.tolist()


def test_without_previous_topics_a_re_cluster_is_a_first_fit() -> None:
    """cluster_posts with previous=None gives the cold clustering exactly (same labels and centres)."""
    words = ["ракета орбита спутник космос луна", "тесто духовка сахар мука пирог", "мотор бензин руль шина"]
    posts = [
        TopicInput(i, " ".join(np.random.default_rng(i).permutation(words[i % 3].split()))) for i in range(45)
    ]
    a = cluster_posts(_ListSource(posts), seed=SEED)
    b = cluster_posts(_ListSource(posts), seed=SEED, previous=None)
    assert a.labels.tolist() == b.labels.tolist()
    np.testing.assert_array_equal(a.centroids, b.centroids)
