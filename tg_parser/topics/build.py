# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The public topicization use: a channel's posts in, deterministic topics out."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tg_parser.domain import Topic
from tg_parser.errors import InputError
from tg_parser.topics.cluster import cluster
from tg_parser.topics.label import LABEL_WORDS, topic_terms
from tg_parser.topics.vectorize import Analyzer, embed, tokenize

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["UNTITLED", "TopicInput", "build_topics"]

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


def _document(item: TopicInput) -> str:
    return "\n".join([item.text, *item.keywords]) if item.keywords else item.text


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
    if not ordered:
        return []
    texts = [_document(item) for item in ordered]
    analyzer = Analyzer()
    tokens = tokenize(texts, analyzer=analyzer)
    vectors = embed(tokens, seed=seed)
    labels = cluster(vectors, seed=seed, max_topics=max_topics)
    members: dict[int, list[int]] = defaultdict(list)
    for item, label in zip(ordered, labels, strict=True):
        members[int(label)].append(item.message_id)
    terms = topic_terms(tokens, labels, analyzer=analyzer)
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
