"""Stable topic ids: Jaccard matching of a new clustering to the old topics, numbering, the stored model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tg_parser.topics import TopicInput
from tg_parser.topics.build import _ListSource, cluster_posts
from tg_parser.topics.stable import (
    MAX_FAR_SHARE,
    MAX_NEW_SHARE,
    MIN_POSTS_FOR_FAR_SHARE,
    TopicModel,
    drift_reason,
    match_clusters,
    number_clusters,
)
from tg_parser.topics.vectorize import Analyzer, tokenize

SPACE = "ракета запуск орбита спутник космос станция астронавт луна марс телескоп"
FOOD = "рецепт тесто духовка сахар мука масло пирог сковорода соль варенье"
CARS = "мотор колесо бензин трасса водитель руль скорость шина кузов гараж"


def _posts(n: int, *, start: int = 1) -> list[TopicInput]:
    rng = np.random.default_rng(n + start)
    out = []
    for i in range(n):
        words = [SPACE, FOOD, CARS][i % 3].split()
        picked = rng.choice(words, size=6, replace=False)
        out.append(TopicInput(start + i, " ".join(picked)))
    return out


def _ids(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def test_same_clusters_under_other_labels_keep_their_numbers() -> None:
    """Clusters equal to previous topics get those topics' numbers, whatever k-means called them."""
    ids = _ids(1, 2, 3, 4, 5, 6)
    previous = _ids(7, 7, 3, 3, 9, 9)
    labels = _ids(2, 2, 0, 0, 1, 1)
    assert match_clusters(ids, previous, ids, labels) == {2: 7, 0: 3, 1: 9}


def _jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b)


@pytest.mark.parametrize("seed", range(20))
def test_matching_maximises_the_total_jaccard(seed: int) -> None:
    """The pairing is one-to-one and its Jaccard sum is the best of all pairings (brute force)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, 41, dtype=np.int64)
    previous = rng.integers(0, int(rng.integers(2, 5)), size=40).astype(np.int64) + 10
    labels = rng.integers(0, int(rng.integers(2, 5)), size=40).astype(np.int64)
    got = match_clusters(ids, previous, ids, labels, min_jaccard=0.0)
    old = {int(n): set(ids[previous == n].tolist()) for n in np.unique(previous)}
    new = {int(c): set(ids[labels == c].tolist()) for c in np.unique(labels)}
    assert len(set(got.values())) == len(got)  # one topic to at most one cluster
    assert len(got) == min(len(old), len(new))
    total = sum(_jaccard(new[c], old[n]) for c, n in got.items())
    best = 0.0
    small, large = (list(new), list(old)) if len(new) <= len(old) else (list(old), list(new))
    for chosen in itertools.permutations(large, len(small)):
        pairs = zip(small, chosen, strict=True)
        score = sum(
            _jaccard(new[a], old[b]) if len(new) <= len(old) else _jaccard(new[b], old[a]) for a, b in pairs
        )
        best = max(best, score)
    assert total == pytest.approx(best)


def test_a_split_topic_keeps_its_id_on_the_larger_part() -> None:
    """Of two halves of a split topic, the one with more overlap keeps the id; the other is new."""
    ids = np.arange(1, 11, dtype=np.int64)
    previous = np.full(10, 4, dtype=np.int64)
    labels = _ids(0, 0, 0, 0, 0, 0, 1, 1, 1, 1)
    assert match_clusters(ids, previous, ids, labels) == {0: 4}


def test_overlap_below_the_threshold_is_a_new_topic() -> None:
    """A cluster sharing less than the minimum Jaccard with every old topic does not inherit an id."""
    prev_ids = np.arange(1, 11, dtype=np.int64)
    previous = np.full(10, 1, dtype=np.int64)
    ids = np.arange(1, 31, dtype=np.int64)
    labels = np.zeros(30, dtype=np.int64)  # {1..30} vs {1..10}: J = 1/3
    assert match_clusters(prev_ids, previous, ids, labels) == {0: 1}
    assert match_clusters(prev_ids, previous, ids, labels, min_jaccard=0.34) == {}


def test_deleted_and_new_posts_count_in_the_union() -> None:
    """Posts only in one side lower the Jaccard index (it is over the sets, not the shared posts)."""
    prev_ids = _ids(1, 2, 3, 4)
    previous = _ids(5, 5, 5, 5)
    ids = _ids(3, 4, 10, 11, 12, 13)
    labels = _ids(0, 0, 0, 0, 0, 0)  # J = 2 / 8
    assert match_clusters(prev_ids, previous, ids, labels) == {}


def test_first_fit_numbers_topics_by_size_from_one() -> None:
    """Without previous topics, numbers are 1.. by size and the counter moves past them."""
    found = cluster_posts(_ListSource(_posts(60)), seed=3)
    numbers, counter = number_clusters(found, previous_ids=_ids(), previous_numbers=_ids(), next_number=1)
    ranked = found.ranked()
    assert [numbers[c] for c in ranked] == list(range(1, len(ranked) + 1))
    assert counter == len(ranked) + 1


def test_new_topics_get_fresh_numbers_never_reused() -> None:
    """An unmatched cluster is numbered from the counter, above any number given before."""
    found = cluster_posts(_ListSource(_posts(60)), seed=3)
    assert len(found.ranked()) == 3
    # Previously only two topics, numbered 2 and 5; numbers up to 8 were given out (and dropped) since.
    members = found.members()
    first, second, third = found.ranked()
    prev_ids = np.asarray(members[first] + members[second], dtype=np.int64)
    prev_num = np.asarray([5] * len(members[first]) + [2] * len(members[second]), dtype=np.int64)
    order = np.argsort(prev_ids)
    numbers, counter = number_clusters(
        found, previous_ids=prev_ids[order], previous_numbers=prev_num[order], next_number=9
    )
    assert numbers == {first: 5, second: 2, third: 9}
    assert counter == 10


def test_unchanged_input_keeps_every_number() -> None:
    """A re-fit of the same posts matches every topic to itself."""
    posts = _posts(90)
    found = cluster_posts(_ListSource(posts), seed=5)
    numbers, counter = number_clusters(found, previous_ids=_ids(), previous_numbers=_ids(), next_number=1)
    previous = np.asarray([numbers[int(c)] for c in found.labels], dtype=np.int64)
    again = cluster_posts(_ListSource(posts), seed=5)
    renumbered, counter2 = number_clusters(
        again, previous_ids=found.ids, previous_numbers=previous, next_number=counter
    )
    assert renumbered == numbers
    assert counter2 == counter


def test_stored_model_places_the_fitted_posts_in_their_topics() -> None:
    """A model written and read back assigns each fitted post to the topic k-means gave it."""
    posts = _posts(90)
    found = cluster_posts(_ListSource(posts), seed=5)
    numbers, _ = number_clusters(found, previous_ids=_ids(), previous_numbers=_ids(), next_number=1)
    model = TopicModel.loads(TopicModel.from_clustering(found, numbers).dumps())
    tokens = tokenize([p.text for p in posts], analyzer=Analyzer())
    assigned, distances = model.assign(tokens)
    assert assigned.tolist() == [numbers[int(c)] for c in found.labels]
    assert np.allclose(distances, found.distances, atol=1e-4)
    assert model.radius == pytest.approx(float(np.quantile(found.distances, 0.95)))
    # A post about the same things lands in the right topic.
    food_topic = numbers[int(found.labels[1])]
    new, _dist = model.assign(tokenize(["пирог сахар мука духовка"], analyzer=Analyzer()))
    assert new.tolist() == [food_topic]


def test_a_model_of_one_topic_without_space_places_everything_there() -> None:
    """Posts with no content words give a model of one topic; new posts all join it."""
    found = cluster_posts(_ListSource([TopicInput(1, "123"), TopicInput(2, "https://x.org")]), seed=1)
    numbers, _ = number_clusters(found, previous_ids=_ids(), previous_numbers=_ids(), next_number=4)
    model = TopicModel.loads(TopicModel.from_clustering(found, numbers).dumps())
    assigned, distances = model.assign(tokenize(["ракета", "456"], analyzer=Analyzer()))
    assert assigned.tolist() == [4, 4]
    assert distances.tolist() == [0.0, 0.0]


def test_loading_something_else_is_refused() -> None:
    """A blob that is not a TopicModel is a TypeError (the caller then re-clusters)."""
    import pickle

    with pytest.raises(TypeError, match="not a TopicModel"):
        TopicModel.loads(pickle.dumps({"a": 1}))


def test_drift_rules() -> None:
    """Too many new posts, or too many far ones among enough new posts, call for a full re-cluster."""
    assert drift_reason(pending=0, channel_posts=100, far=0) is None
    assert drift_reason(pending=int(MAX_NEW_SHARE * 100), channel_posts=100, far=0) is None
    assert drift_reason(pending=int(MAX_NEW_SHARE * 100) + 1, channel_posts=100, far=0) == "new_share"
    n = MIN_POSTS_FOR_FAR_SHARE
    assert drift_reason(pending=n, channel_posts=10_000, far=int(MAX_FAR_SHARE * n)) is None
    assert drift_reason(pending=n, channel_posts=10_000, far=int(MAX_FAR_SHARE * n) + 1) == "far_share"
    assert drift_reason(pending=n - 1, channel_posts=10_000, far=n - 1) is None


def test_features_version_fits_its_column() -> None:
    """The stored fit's ``features_version`` column holds the version (a longer one broke the insert)."""
    from tg_parser.storage.tables import TopicFitRow
    from tg_parser.topics.vectorize import FEATURES_VERSION

    assert len(FEATURES_VERSION) <= TopicFitRow.__table__.c.features_version.type.length
