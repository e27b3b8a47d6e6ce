# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The public topicization use: a channel's posts in, deterministic topics out."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from tg_parser.domain import Topic
from tg_parser.errors import InputError
from tg_parser.topics.assign import Placement, assign_posts, nearest, post_text
from tg_parser.topics.boilerplate import Boilerplate
from tg_parser.topics.cluster import BLAS_THREADS, PreviousTopics, fit_clusters, warm_centres
from tg_parser.topics.label import LABEL_WORDS, label_stems, topic_terms
from tg_parser.topics.provider_block import ProviderBlock
from tg_parser.topics.vectorize import Analyzer, Embedding, fit_embedding, tokenize

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from numpy.typing import NDArray
    from sklearn.cluster import KMeans

    from tg_parser.topics.provider_block import PostVectors

__all__ = [
    "UNTITLED",
    "Clustering",
    "PostSource",
    "TopicInput",
    "build_topics",
    "build_topics_from",
    "cluster_posts",
    "keyword_label",
    "nearest",
    "topic_key",
]

UNTITLED = "untitled"
"""Label of a topic whose posts have no content words (only links, numbers, stop words)."""


@dataclass(frozen=True)
class TopicInput:
    """One post to topicize.

    Attributes:
        message_id: The post's message id (unique within the channel).
        text: The post's (clean) text.
        keywords: The post's keywords from processing; they are added to the text.
    """

    message_id: int
    text: str
    keywords: tuple[str, ...] = ()


FIT_SAMPLE = 20_000
"""Above this many posts, vocabulary, SVD and k-means are fitted on a seeded sample of this size
and every post is then assigned to its nearest centre in batches: memory and fit time stay flat
as a channel grows (the cost of the rest is one tokenisation and one projection per post)."""
SVD_SHARE = 0.5
"""On the sampled path, the SVD is fitted on this share of the fit sample (the rest projected)."""
REFINE = True
"""On the sampled path, k-means on the fit sample starts from the selection sample's centres."""
ASSIGN_BATCH = 5_000
"""Posts vectorised and assigned at a time on the sampled path."""


class PostSource(Protocol):
    """A channel's posts, readable more than once, in message-id order (a database query, a list).

    ``storage.documents.TopicPosts`` is one; :func:`build_topics` wraps a list in another.
    """

    def message_ids(self) -> Sequence[int]:
        """Return every post's message id, ascending and unique."""
        ...

    def batches(
        self, *, wanted: Collection[int] | None, size: int
    ) -> Iterator[Sequence[tuple[int, str, Sequence[str]]]]:
        """Yield ``(message_id, text, keywords)`` by message id (only the ``wanted`` ids when given)."""
        ...


@dataclass(frozen=True)
class _ListSource:
    ordered: Sequence[TopicInput]

    def message_ids(self) -> Sequence[int]:
        return [item.message_id for item in self.ordered]

    def batches(
        self, *, wanted: Collection[int] | None, size: int
    ) -> Iterator[Sequence[tuple[int, str, Sequence[str]]]]:
        rows = [
            (i.message_id, i.text, i.keywords)
            for i in self.ordered
            if wanted is None or i.message_id in wanted
        ]
        for start in range(0, len(rows), size):
            yield rows[start : start + size]


def build_topics(
    items: Sequence[TopicInput], *, channel_key: str, seed: int = 42, max_topics: int | None = None
) -> list[Topic]:
    """Group a channel's posts into topics.

    Posts are sorted by message id, vectorised (word + character TF-IDF, LSA,
    see :mod:`tg_parser.topics.vectorize`), clustered by k-means with k chosen
    by silhouette (:mod:`tg_parser.topics.cluster`) and labelled by c-TF-IDF
    (:mod:`tg_parser.topics.label`) over the posts without the channel's
    boilerplate lines (:mod:`tg_parser.topics.boilerplate`; clustering reads
    the whole posts). The result depends only on the set of posts and the
    seed, never on the input order.

    Topics are numbered as a channel's first fit numbers them: from 1 by size,
    largest first, then by their smallest member id: ``<channel_key>:topic-<n>``
    (later fits of a channel keep the numbers of the topics that survive, see
    :mod:`tg_parser.topics.stable`). Every post is in exactly one topic.

    Args:
        items: The channel's posts.
        channel_key: Key of the channel, the prefix of topic ids.
        seed: Random state of SVD, k-means and silhouette sampling.
        max_topics: Cap on the number of topics, or ``None`` for the default (40).

    Returns:
        Topics, largest first; empty for no posts.

    Raises:
        InputError: Two items share a message id.
    """
    ordered = sorted(items, key=lambda item: item.message_id)
    for prev, cur in itertools.pairwise(ordered):
        if prev.message_id == cur.message_id:
            msg = "duplicate message id in topic input"
            raise InputError(msg, message_id=cur.message_id)
    return build_topics_from(_ListSource(ordered), channel_key=channel_key, seed=seed, max_topics=max_topics)


def build_topics_from(
    source: PostSource, *, channel_key: str, seed: int = 42, max_topics: int | None = None
) -> list[Topic]:
    """Group the posts of a source into topics in bounded memory (see :func:`build_topics`).

    The topics of :func:`cluster_posts`, numbered as a first fit numbers them
    (from 1 by size, largest first, then by smallest member id).

    Args:
        source: The channel's posts.
        channel_key: Key of the channel, the prefix of topic ids.
        seed: Random state of the sample, SVD, k-means and silhouette sampling.
        max_topics: Cap on the number of topics, or ``None`` for the default (40).

    Returns:
        Topics, largest first; empty for no posts.
    """
    found = cluster_posts(source, seed=seed, max_topics=max_topics)
    numbers = {c: n for n, c in enumerate(found.ranked(), start=1)}
    return found.topics(numbers, channel_key=channel_key)


@dataclass(frozen=True)
class Clustering:
    """A full fit of a channel: every post's cluster, the clusters' words and the fitted space.

    Attributes:
        ids: ``(n,)`` message ids, ascending.
        labels: ``(n,)`` cluster of each post, in ``0..k-1``.
        terms: Each cluster's keywords, best first.
        embedding: The fitted vectorizer, or ``None`` when every post is one topic in no space.
        centroids: ``(k, d)`` float32 centre of each cluster in the embedding's space
            (``(1, 0)`` without an embedding).
        distances: ``(n,)`` float32 Euclidean distance of each post to its centre (unit rows: 0..2).
        provider: The provider-embedding block of the space, or ``None`` for the offline space alone.
    """

    ids: NDArray[np.int64]
    labels: NDArray[np.int64]
    terms: dict[int, list[str]]
    embedding: Embedding | None
    centroids: NDArray[np.float32]
    distances: NDArray[np.float32]
    provider: ProviderBlock | None = None

    def members(self) -> dict[int, list[int]]:
        """Return each cluster's member message ids, ascending."""
        out: dict[int, list[int]] = defaultdict(list)
        for mid, label in zip(self.ids.tolist(), self.labels.tolist(), strict=True):
            out[label].append(mid)
        return dict(out)

    def ranked(self) -> list[int]:
        """Return the clusters by size, largest first, then by smallest member id."""
        members = self.members()
        return sorted(members, key=lambda c: (-len(members[c]), members[c][0]))

    def topics(self, numbers: dict[int, int], *, channel_key: str) -> list[Topic]:
        """Return the clusters as topics ``<channel_key>:topic-<numbers[c]>``, in :meth:`ranked` order.

        Args:
            numbers: The topic number of every cluster.
            channel_key: Key of the channel, the prefix of topic ids.

        Returns:
            One topic per non-empty cluster.
        """
        members = self.members()
        out = []
        for c in self.ranked():
            words = self.terms.get(c, [])
            out.append(
                Topic(
                    topic_id=topic_key(channel_key, numbers[c]),
                    label=keyword_label(words),
                    keywords=words,
                    member_ids=members[c],
                )
            )
        return out


def topic_key(channel_key: str, number: int) -> str:
    """Return the id of topic ``number`` of a channel: ``<channel_key>:topic-<number>``."""
    return f"{channel_key}:topic-{number}"


def keyword_label(words: Sequence[str]) -> str:
    """Return the keyword label of a topic: its first :data:`LABEL_WORDS` keywords, or :data:`UNTITLED`."""
    return ", ".join(words[:LABEL_WORDS]) or UNTITLED


def cluster_posts(
    source: PostSource,
    *,
    seed: int = 42,
    max_topics: int | None = None,
    extra: PostVectors | None = None,
    previous: PreviousTopics | None = None,
    processes: int = 1,
) -> Clustering:
    """Cluster the posts of a source in bounded memory, keeping the fitted space and centres.

    Up to :data:`FIT_SAMPLE` posts, everything is fitted on all of them (the
    result of :func:`build_topics`). Above, the vocabulary, the SVD and k-means
    (k by silhouette, as always) are fitted on a sample of :data:`FIT_SAMPLE`
    posts drawn with ``seed`` from the ids in order, and every post is then
    tokenised, projected and assigned to its nearest centre
    :data:`ASSIGN_BATCH` at a time, its stems counted for the labels (without
    the boilerplate lines found in the sample, :mod:`tg_parser.topics.boilerplate`); no list
    of every post's text or tokens exists. This is the "fit on a sample,
    predict the rest" use of k-means (scikit-learn ``KMeans.predict``); the
    sample is large enough that its centres and vocabulary stand for the
    channel (Sculley, "Web-scale k-means clustering", WWW 2010, fits on
    samples of this order).

    With ``extra``, the posts' provider vectors join the offline vectors as a
    third block (:class:`~tg_parser.topics.provider_block.ProviderBlock`).

    With ``previous`` (a re-cluster of a channel that has topics), k-means
    starts warm from the previous topics' centres in the new space
    (:func:`~tg_parser.topics.cluster.warm_centres`, computed on the fitted
    posts) and keeps their number unless another k is clearly better
    (:func:`~tg_parser.topics.cluster.fit_clusters`): most posts stay with
    the posts they were with, so most topic ids survive. Without it the
    result is that of a first fit.

    Args:
        source: The channel's posts.
        seed: Random state of the sample, SVD, k-means, silhouette sampling and the provider projection.
        max_topics: Cap on the number of topics, or ``None`` for the default (40).
        extra: The posts' stored provider vectors, or ``None`` for the offline space alone.
        previous: The channel's topics before this fit, or ``None`` for a cold start.
        processes: Worker processes for the assignment pass of a sampled fit
            (:func:`~tg_parser.topics.assign.assign_posts`); the result does not depend on it.

    Returns:
        The clustering; its ``ids`` are empty for no posts.
    """
    with threadpool_limits(limits=BLAS_THREADS):
        return _cluster_posts(
            source, seed=seed, max_topics=max_topics, extra=extra, previous=previous, processes=processes
        )


def _provider_block(extra: PostVectors | None, *, seed: int) -> ProviderBlock | None:
    """Return the provider block of the stored vectors, or ``None`` (none asked for, or none stored)."""
    if extra is None or extra.dims == 0:
        return None
    return ProviderBlock(model=extra.model, input_dims=extra.dims, seed=seed)


def _with_provider(
    vectors: NDArray[np.float32],
    ids: Sequence[int],
    *,
    block: ProviderBlock | None,
    extra: PostVectors | None,
) -> NDArray[np.float32]:
    """Add the provider block to offline rows, :data:`ASSIGN_BATCH` posts of raw vectors at a time."""
    if block is None or extra is None:
        return vectors
    parts = [
        block.transform(extra.vectors(ids[start : start + ASSIGN_BATCH]))
        for start in range(0, len(ids), ASSIGN_BATCH)
    ]
    provider = np.vstack(parts) if parts else np.zeros((0, block.dims), dtype=np.float32)
    return np.asarray(normalize(np.hstack([vectors, provider])), dtype=np.float32)


def _cluster_posts(
    source: PostSource,
    *,
    seed: int,
    max_topics: int | None,
    extra: PostVectors | None,
    previous: PreviousTopics | None,
    processes: int,
) -> Clustering:
    ids = np.asarray(source.message_ids(), dtype=np.int64)
    n = len(ids)
    if n == 0:
        empty = np.zeros(0, dtype=np.float32)
        return Clustering(ids, np.zeros(0, np.int64), {}, None, np.zeros((0, 0), np.float32), empty)
    if n <= FIT_SAMPLE:
        rows = [row for batch in source.batches(wanted=None, size=n) for row in batch]
        analyzer = Analyzer()
        tokens = tokenize([post_text(t, kw) for _m, t, kw in rows], analyzer=analyzer)
        vectors, model = fit_embedding(tokens, seed=seed)
        block = _provider_block(extra, seed=seed)
        vectors = _with_provider(vectors, [m for m, _t, _kw in rows], block=block, extra=extra)
        warm = warm_centres(vectors, ids, previous) if previous is not None else None
        labels, kmeans = fit_clusters(vectors, seed=seed, max_topics=max_topics, warm=warm)
        labels = np.asarray(labels, dtype=np.int64)
        centroids = _centroids(vectors, labels, kmeans)
        distances = nearest(vectors, centroids[labels])
        boilerplate = Boilerplate.detect(t for _m, t, _kw in rows)
        stems, in_boilerplate = label_stems(
            [(t, kw) for _m, t, kw in rows], tokens.stems, boilerplate=boilerplate, analyzer=analyzer
        )
        terms = topic_terms(stems, labels, analyzer=analyzer, boilerplate=in_boilerplate)
        return Clustering(ids, labels, terms, model, centroids, distances, block)
    return _sampled(
        source, ids=ids, seed=seed, max_topics=max_topics, extra=extra, previous=previous, processes=processes
    )


def _centroids(
    vectors: NDArray[np.float32], labels: NDArray[np.int64], kmeans: KMeans | None
) -> NDArray[np.float32]:
    if kmeans is not None:
        return np.asarray(kmeans.cluster_centers_, dtype=np.float32)
    # One topic: its centre is the mean of the posts (a (1, 0) array when there is no space).
    k = int(labels.max()) + 1 if len(labels) else 1
    centres = np.zeros((k, vectors.shape[1]), dtype=np.float32)
    np.add.at(centres, labels, vectors)
    counts = np.bincount(labels, minlength=k).astype(np.float32)
    return np.asarray(centres / np.maximum(counts, 1.0)[:, None], dtype=np.float32)


def _sampled(
    source: PostSource,
    *,
    ids: NDArray[np.int64],
    seed: int,
    max_topics: int | None,
    extra: PostVectors | None,
    previous: PreviousTopics | None,
    processes: int,
) -> Clustering:
    picked = np.sort(np.random.default_rng(seed).choice(len(ids), size=FIT_SAMPLE, replace=False))
    wanted = set(ids[picked].tolist())
    rows = [row for batch in source.batches(wanted=wanted, size=ASSIGN_BATCH) for row in batch]
    boilerplate = Boilerplate.detect(t for _m, t, _kw in rows)  # on the fit sample, like the vocabulary
    fit_tokens = tokenize([post_text(t, kw) for _m, t, kw in rows], analyzer=Analyzer())
    sample_ids = [m for m, _t, _kw in rows]
    del rows, wanted
    vectors, model = fit_embedding(fit_tokens, seed=seed, svd_rows=round(SVD_SHARE * FIT_SAMPLE))
    block = _provider_block(extra, seed=seed)
    vectors = _with_provider(vectors, sample_ids, block=block, extra=extra)
    warm = warm_centres(vectors, sample_ids, previous) if previous is not None else None
    fit_labels, kmeans = fit_clusters(vectors, seed=seed, max_topics=max_topics, warm=warm, refine=REFINE)
    centroids = _centroids(vectors, np.asarray(fit_labels, dtype=np.int64), kmeans)
    del fit_tokens, vectors
    placement = Placement(
        model=model,
        centroids=centroids,
        boilerplate=boilerplate,
        block=block,
        clustered=kmeans is not None and (model is not None or block is not None),
    )
    assigned = assign_posts(
        iter(source.batches(wanted=None, size=ASSIGN_BATCH)),
        ids=ids,
        placement=placement,
        extra=extra,
        processes=processes,
    )
    terms = assigned.counts.terms(analyzer=assigned.analyzer)
    read = assigned.read
    if read.all():
        return Clustering(ids, assigned.labels, terms, model, centroids, assigned.distances, block)
    # Posts deleted while they were read are left out (the next topicize sees them gone).
    return Clustering(
        ids[read], assigned.labels[read], terms, model, centroids, assigned.distances[read], block
    )
