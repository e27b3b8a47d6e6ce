# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The public topicization use: a channel's posts in, deterministic topics out."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tg_parser.domain import Topic
from tg_parser.errors import InputError
from tg_parser.topics.cluster import cluster, fit_clusters
from tg_parser.topics.label import LABEL_WORDS, TermCounts, topic_terms
from tg_parser.topics.vectorize import Analyzer, embed, fit_embedding, tokenize

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from numpy.typing import NDArray

__all__ = ["UNTITLED", "PostSource", "TopicInput", "build_topics", "build_topics_from"]

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


def _text(text: str, keywords: Sequence[str]) -> str:
    return "\n".join([text, *keywords]) if keywords else text


def build_topics(
    items: Sequence[TopicInput], *, channel_key: str, seed: int = 42, max_topics: int | None = None
) -> list[Topic]:
    """Group a channel's posts into topics.

    Posts are sorted by message id, vectorised (word + character TF-IDF, LSA,
    see :mod:`tg_parser.topics.vectorize`), clustered by k-means with k chosen
    by silhouette (:mod:`tg_parser.topics.cluster`) and labelled by c-TF-IDF
    (:mod:`tg_parser.topics.label`). The result depends only on the set of
    posts and the seed, never on the input order.

    Topics are numbered from 1 by size, largest first, then by their smallest
    member id: ``<channel_key>:topic-<n>``. Every post is in exactly one topic.

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

    Up to :data:`FIT_SAMPLE` posts, everything is fitted on all of them (the
    result of :func:`build_topics`). Above, the vocabulary, the SVD and k-means
    (k by silhouette, as always) are fitted on a sample of :data:`FIT_SAMPLE`
    posts drawn with ``seed`` from the ids in order, and every post is then
    tokenised, projected and assigned to its nearest centre
    :data:`ASSIGN_BATCH` at a time, its stems counted for the labels; no list
    of every post's text or tokens exists. This is the "fit on a sample,
    predict the rest" use of k-means (scikit-learn ``KMeans.predict``); the
    sample is large enough that its centres and vocabulary stand for the
    channel (Sculley, "Web-scale k-means clustering", WWW 2010, fits on
    samples of this order).

    Args:
        source: The channel's posts.
        channel_key: Key of the channel, the prefix of topic ids.
        seed: Random state of the sample, SVD, k-means and silhouette sampling.
        max_topics: Cap on the number of topics, or ``None`` for the default (40).

    Returns:
        Topics, largest first; empty for no posts.
    """
    ids = np.asarray(source.message_ids(), dtype=np.int64)
    n = len(ids)
    if n == 0:
        return []
    if n <= FIT_SAMPLE:
        rows = [row for batch in source.batches(wanted=None, size=n) for row in batch]
        analyzer = Analyzer()
        tokens = tokenize([_text(t, kw) for _m, t, kw in rows], analyzer=analyzer)
        labels = cluster(embed(tokens, seed=seed), seed=seed, max_topics=max_topics)
        terms = topic_terms(tokens, labels, analyzer=analyzer)
    else:
        labels, analyzer, terms = _sampled(source, ids=ids, seed=seed, max_topics=max_topics)
    return _topics(ids, labels, terms, channel_key=channel_key)


def _sampled(
    source: PostSource, *, ids: NDArray[np.int64], seed: int, max_topics: int | None
) -> tuple[NDArray[np.int64], Analyzer, dict[int, list[str]]]:
    picked = np.sort(np.random.default_rng(seed).choice(len(ids), size=FIT_SAMPLE, replace=False))
    wanted = set(ids[picked].tolist())
    sample = [
        _text(t, kw) for batch in source.batches(wanted=wanted, size=ASSIGN_BATCH) for _m, t, kw in batch
    ]
    fit_tokens = tokenize(sample, analyzer=Analyzer())
    del sample, wanted
    vectors, model = fit_embedding(fit_tokens, seed=seed)
    _fit_labels, kmeans = fit_clusters(vectors, seed=seed, max_topics=max_topics)
    del fit_tokens, vectors
    analyzer = Analyzer()
    counts = TermCounts()
    labels = np.zeros(len(ids), dtype=np.int64)
    done = 0
    for batch in source.batches(wanted=None, size=ASSIGN_BATCH):
        tokens = tokenize([_text(t, kw) for _m, t, kw in batch], analyzer=analyzer)
        if kmeans is not None and model is not None:
            part = np.asarray(kmeans.predict(model.transform(tokens)), dtype=np.int64)
        else:
            part = np.zeros(len(batch), dtype=np.int64)
        labels[done : done + len(batch)] = part
        counts.add(tokens.stems, part)
        done += len(batch)
    return labels, analyzer, counts.terms(analyzer=analyzer)


def _topics(
    ids: NDArray[np.int64], labels: NDArray[np.int64], terms: dict[int, list[str]], *, channel_key: str
) -> list[Topic]:
    members: dict[int, list[int]] = defaultdict(list)
    for mid, label in zip(ids.tolist(), labels.tolist(), strict=True):
        members[label].append(mid)
    ranked = sorted(members, key=lambda c: (-len(members[c]), members[c][0]))
    topics = []
    for n, c in enumerate(ranked, start=1):
        words = terms.get(c, [])
        topics.append(
            Topic(
                topic_id=f"{channel_key}:topic-{n}",
                label=", ".join(words[:LABEL_WORDS]) or UNTITLED,
                keywords=words,
                member_ids=members[c],
            )
        )
    return topics
