# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Topic labels and keywords by class-based TF-IDF (c-TF-IDF).

c-TF-IDF treats all posts of a cluster as one document and weighs a term by
its frequency in the cluster times ``log(1 + A / f_t)``, where ``A`` is the
average number of terms per cluster and ``f_t`` the term's frequency over all
clusters (Grootendorst, "BERTopic: Neural topic modeling with a class-based
TF-IDF procedure", arXiv:2203.05794, 2022). Here a term counts once per post
(document frequency inside the cluster), so one long post repeating a word
cannot name a whole topic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from tg_parser.topics.vectorize import MAX_DF, MIN_DOCS_FOR_DF_LIMITS

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from tg_parser.topics.vectorize import Analyzer, Tokens

__all__ = ["LABEL_WORDS", "MAX_KEYWORDS", "topic_terms"]

MAX_KEYWORDS = 10
"""Keywords kept per topic."""
LABEL_WORDS = 3
"""Words in a label."""


def _identity(doc: list[str]) -> list[str]:
    return doc


def topic_terms(tokens: Tokens, labels: NDArray[np.int64], *, analyzer: Analyzer) -> dict[int, list[str]]:
    """Return each cluster's most characteristic words, best first.

    Args:
        tokens: The posts' tokens, aligned with ``labels``.
        labels: Cluster of each post.
        analyzer: The analyzer that made ``tokens`` (it knows the surface forms).

    Returns:
        For every cluster id, up to :data:`MAX_KEYWORDS` words (real surface
        forms of the best stems); an empty list for a cluster with no content
        words. Ties break alphabetically.
    """
    clusters = sorted({int(c) for c in labels})
    out: dict[int, list[str]] = {c: [] for c in clusters}
    vectorizer = CountVectorizer(analyzer=_identity, binary=True)
    try:
        counts = sparse.csr_matrix(vectorizer.fit_transform(tokens.stems))
    except ValueError:  # no content words anywhere
        return out
    vocabulary = vectorizer.get_feature_names_out()  # sorted: stable ties are alphabetical
    membership = sparse.csr_matrix(
        (np.ones(len(labels)), (np.asarray(labels), np.arange(len(labels)))),
        shape=(max(clusters) + 1, len(labels)),
    )
    per_class = np.asarray((membership @ counts).todense(), dtype=np.float64)
    totals = per_class.sum(axis=1, keepdims=True)
    tf = np.divide(per_class, totals, out=np.zeros_like(per_class), where=totals > 0)
    avg_terms = float(totals.mean())
    idf = np.log1p(avg_terms / np.maximum(per_class.sum(axis=0), 1.0))
    scores = tf * idf
    n_posts = len(tokens.stems)
    if n_posts >= MIN_DOCS_FOR_DF_LIMITS:
        # Channel boilerplate ("Подписаться", the channel's name) is in most
        # posts; like the vectors, labels ignore words in over half the posts.
        doc_freq = np.asarray(counts.sum(axis=0)).ravel()
        scores[:, doc_freq > MAX_DF * n_posts] = 0.0
    for c in clusters:
        row = scores[c]
        order = np.argsort(-row, kind="stable")
        words: list[str] = []
        for idx in order:
            if row[idx] <= 0 or len(words) == MAX_KEYWORDS:
                break
            word = analyzer.display(str(vocabulary[idx]))
            if word not in words:
                words.append(word)
        out[c] = words
    return out
