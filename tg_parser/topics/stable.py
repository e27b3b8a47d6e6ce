# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Stable topic ids and incremental assignment: a channel's stored topic model and its use.

A full fit (:func:`tg_parser.topics.build.cluster_posts`, started warm from
the previous topics' centres, :func:`tg_parser.topics.cluster.warm_centres`)
is matched to the previous topics by member overlap: Hungarian matching (Kuhn 1955; SciPy's
``linear_sum_assignment``) on the Jaccard index of member sets, one previous
topic to at most one new cluster. A matched pair keeps the previous topic's
number when its Jaccard index is at least :data:`MIN_JACCARD`; every other
cluster gets a fresh number from the channel's counter, which only grows, so
a number is never reused.

Between full fits, new and changed posts are vectorised in the stored space
(:class:`TopicModel`) and join the topic of the nearest stored centre; no
post already placed moves. Drift decides when that is no longer good enough
(:func:`drift_reason`).
"""

from __future__ import annotations

import copy
import io
import pickle
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from tg_parser.topics.assign import nearest_centres
from tg_parser.topics.build import Clustering
from tg_parser.topics.grams import WordGrams
from tg_parser.topics.provider_block import ProviderBlock
from tg_parser.topics.vectorize import FEATURES_VERSION, Embedding

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from tg_parser.topics.vectorize import Tokens

__all__ = [
    "FAR_QUANTILE",
    "MAX_FAR_SHARE",
    "MAX_NEW_SHARE",
    "MIN_JACCARD",
    "MIN_POSTS_FOR_FAR_SHARE",
    "TopicModel",
    "drift_reason",
    "match_clusters",
    "number_clusters",
]

MIN_JACCARD = 0.3
"""Least Jaccard index of member sets for a new cluster to keep a previous topic's id.

Greene, Doyle & Cunningham ("Tracking the evolution of communities in dynamic
social networks", ASONAM 2010) match communities across time steps by Jaccard
with a threshold they vary from 0.1 to 0.5; 0.3 is inside that range. It lets
a topic that grew by half again (or lost up to 70 % of its posts to a
neighbour) keep its id, while a cluster that only shares a corner with an old
topic gets a new one. Of two clusters that a topic split into, the one with
more overlap keeps the id when it reaches this."""
FAR_QUANTILE = 0.95
"""A post is *far* from every topic when its distance to the nearest centre exceeds this quantile of
the distances of the fitted posts to their own centres (about 5 % of posts like the fitted ones are far)."""
MAX_FAR_SHARE = 0.25
"""A full re-cluster happens when more than this share of the new and changed posts is far
(five times the share expected of posts like the fitted ones)."""
MIN_POSTS_FOR_FAR_SHARE = 20
"""The far share is judged only on at least this many new and changed posts (a share of a few is noise)."""
MAX_NEW_SHARE = 0.2
"""A full re-cluster happens when the new and changed posts are more than this share of the channel's posts
(the fitted space and centres came from too small a part of what the channel is now)."""


@dataclass(frozen=True)
class TopicModel:
    """A channel's fitted topic space, stored between runs.

    Attributes:
        embedding: The fitted vectorizer, or ``None`` when the channel was one topic with no space.
        centroids: ``(k, d)`` float32 centre of each fitted cluster.
        numbers: ``(k,)`` topic number of each centre (``<channel>:topic-<number>``).
        radius: Distance beyond which a post is far from a centre (:data:`FAR_QUANTILE` of the fit's).
        keywords: Keywords of each topic number at the fit, best first.
        features_version: :data:`~tg_parser.topics.vectorize.FEATURES_VERSION` of the fit.
        provider: The provider-embedding block of the space, or ``None`` for the offline space alone
            (a fit stored before provider embeddings existed loads with ``None``).
    """

    embedding: Embedding | None
    centroids: NDArray[np.float32]
    numbers: NDArray[np.int64]
    radius: float
    keywords: dict[int, list[str]]
    features_version: str = FEATURES_VERSION
    provider: ProviderBlock | None = None

    @property
    def embedding_model(self) -> str | None:
        """The embedding model of the provider block, or ``None`` for the offline space."""
        return self.provider.model if self.provider is not None else None

    @classmethod
    def from_clustering(cls, found: Clustering, numbers: dict[int, int]) -> TopicModel:
        """Return the model of a full fit whose cluster ``c`` is topic number ``numbers[c]``.

        Args:
            found: The full fit (with at least one post).
            numbers: Topic number of every cluster that has members.

        Returns:
            The model; a centre left with no member (k-means can leave none,
            but a sampled fit may) keeps a fresh-looking number of ``-1`` and is never chosen.
        """
        k = len(found.centroids)
        mapped = np.full(k, -1, dtype=np.int64)
        for c, n in numbers.items():
            mapped[c] = n
        radius = float(np.quantile(found.distances, FAR_QUANTILE)) if len(found.distances) else 0.0
        keywords = {numbers[c]: list(words) for c, words in found.terms.items() if c in numbers}
        return cls(
            embedding=found.embedding,
            centroids=np.asarray(found.centroids, dtype=np.float32),
            numbers=mapped,
            radius=radius,
            keywords=keywords,
            provider=found.provider,
        )

    def assign(
        self, tokens: Tokens, *, raw: NDArray[np.float32] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Place posts in the nearest stored topic.

        Args:
            tokens: The posts' tokens (:func:`~tg_parser.topics.vectorize.tokenize`).
            raw: ``(n, input_dims)`` provider vectors of the posts, needed when the model has a
                provider block (``None`` reads as zero rows: the offline blocks alone place them).

        Returns:
            ``(numbers, distances)``: each post's topic number and its distance to that topic's centre
            (0 for every post when the model has no space).
        """
        n = len(tokens.stems)
        live = np.flatnonzero(self.numbers >= 0)
        if self.centroids.shape[1] == 0 or (self.embedding is None and self.provider is None):
            return np.full(n, self.numbers[live[0]], dtype=np.int64), np.zeros(n, dtype=np.float32)
        if self.embedding is not None:
            vectors = self.embedding.transform(tokens)
        else:
            vectors = np.zeros((n, 0), dtype=np.float32)
        if self.provider is not None:
            if raw is None:
                raw = np.zeros((n, self.provider.input_dims), dtype=np.float32)
            vectors = self.provider.combine(vectors, raw)
        best, distances = nearest_centres(vectors, self.centroids[live])
        return self.numbers[live[best]], distances

    def dumps(self) -> bytes:
        """Serialise the model with :mod:`pickle`, without what is only a cache.

        Left out: the SVD projection (rebuilt on load from the SVD), the
        per-word n-gram table (words are hashed when met) and the word
        vectorizer's ``stop_words_`` (the terms the document-frequency limits
        dropped; scikit-learn documents it as safe to remove before pickling).
        """
        model = self
        emb = self.embedding
        if emb is not None:
            word = emb.word
            if word is not None and hasattr(word, "stop_words_"):
                word = copy.copy(word)
                del word.stop_words_
            model = replace(self, embedding=replace(emb, word=word, projection=None, grams=WordGrams.empty()))
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(blob: bytes) -> TopicModel:
        """Load a model written by :meth:`dumps` (only ever from this project's own database).

        Raises:
            TypeError: The blob holds something else.
        """
        model = pickle.load(io.BytesIO(blob))  # noqa: S301 - our own table, written by dumps()
        if not isinstance(model, TopicModel):
            msg = f"stored topic model is a {type(model).__name__}, not a TopicModel"
            raise TypeError(msg)
        emb = model.embedding
        if emb is not None and emb.svd is not None and emb.projection is None:
            projection = np.ascontiguousarray(emb.svd.components_.T, dtype=np.float32)
            model = replace(model, embedding=replace(emb, projection=projection))
        return model


def match_clusters(
    previous_ids: NDArray[np.int64],
    previous_numbers: NDArray[np.int64],
    ids: NDArray[np.int64],
    labels: NDArray[np.int64],
    *,
    min_jaccard: float = MIN_JACCARD,
) -> dict[int, int]:
    """Match new clusters to previous topics by the Jaccard index of their members.

    The pairing maximises the sum of Jaccard indices (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``); pairs below ``min_jaccard`` are dropped.

    Args:
        previous_ids: ``(m,)`` message ids that had a topic, unique.
        previous_numbers: ``(m,)`` their topic numbers.
        ids: ``(n,)`` message ids of the new clustering, unique.
        labels: ``(n,)`` their new clusters.
        min_jaccard: Least Jaccard index of a kept pair.

    Returns:
        ``{cluster: previous topic number}`` for the matched clusters.
    """
    if len(previous_ids) == 0 or len(ids) == 0:
        return {}
    old_numbers, old_index = np.unique(previous_numbers, return_inverse=True)
    new_labels, new_index = np.unique(labels, return_inverse=True)
    _common, in_old, in_new = np.intersect1d(previous_ids, ids, assume_unique=True, return_indices=True)
    shared = np.zeros((len(old_numbers), len(new_labels)), dtype=np.float64)
    np.add.at(shared, (old_index[in_old], new_index[in_new]), 1.0)
    union = (
        np.bincount(old_index, minlength=len(old_numbers))[:, None]
        + np.bincount(new_index, minlength=len(new_labels))[None, :]
        - shared
    )
    jaccard = shared / np.maximum(union, 1.0)
    rows, cols = linear_sum_assignment(jaccard, maximize=True)
    return {
        int(new_labels[c]): int(old_numbers[r])
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        if jaccard[r, c] >= min_jaccard
    }


def number_clusters(
    found: Clustering,
    *,
    previous_ids: NDArray[np.int64],
    previous_numbers: NDArray[np.int64],
    next_number: int,
    min_jaccard: float = MIN_JACCARD,
) -> tuple[dict[int, int], int]:
    """Give every cluster of a full fit its topic number: a previous topic's, or a fresh one.

    Matched clusters (:func:`match_clusters`) keep their topic's number; the
    others are numbered from ``next_number`` on, largest first (then by
    smallest member id), so a first fit numbers its topics by size from 1.

    Args:
        found: The full fit.
        previous_ids: Message ids that had a topic before.
        previous_numbers: Their topic numbers.
        next_number: The channel's counter: the least number never given.
        min_jaccard: Least Jaccard index for a cluster to keep a topic's number.

    Returns:
        ``({cluster: number}, next counter value)``.
    """
    kept = match_clusters(previous_ids, previous_numbers, found.ids, found.labels, min_jaccard=min_jaccard)
    numbers = dict(kept)
    for c in found.ranked():
        if c not in numbers:
            numbers[c] = next_number
            next_number += 1
    return numbers, next_number


def drift_reason(*, pending: int, channel_posts: int, far: int) -> str | None:
    """Say why new posts call for a full re-cluster instead of joining the stored topics, or ``None``.

    Args:
        pending: New and changed posts waiting for a topic.
        channel_posts: The channel's live posts (pending ones included).
        far: Pending posts farther than the model's radius from every centre.

    Returns:
        ``"new_share"`` (pending posts over :data:`MAX_NEW_SHARE` of the
        channel), ``"far_share"`` (over :data:`MAX_FAR_SHARE` of at least
        :data:`MIN_POSTS_FOR_FAR_SHARE` pending posts are far), or ``None``.
    """
    if channel_posts and pending > MAX_NEW_SHARE * channel_posts:
        return "new_share"
    if pending >= MIN_POSTS_FOR_FAR_SHARE and far > MAX_FAR_SHARE * pending:
        return "far_share"
    return None
