# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Topic labels and keywords by class-based TF-IDF (c-TF-IDF).

c-TF-IDF treats all posts of a cluster as one document and weighs a term by
its frequency in the cluster times ``log(1 + A / f_t)``, where ``A`` is the
average number of terms per cluster and ``f_t`` the term's frequency over all
clusters (Grootendorst, "BERTopic: Neural topic modeling with a class-based
TF-IDF procedure", arXiv:2203.05794, 2022). Here a term counts once per post
(document frequency inside the cluster), so one long post repeating a word
cannot name a whole topic.

Labels read posts without the channel's boilerplate lines
(:mod:`tg_parser.topics.boilerplate`, :func:`label_stems`), and a word found
mostly inside boilerplate ("подписаться" of footers the detection missed in a
few posts) is never a label word. Clustering reads the whole posts.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from tg_parser.topics.vectorize import MAX_DF, MIN_DOCS_FOR_DF_LIMITS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

    from tg_parser.topics.boilerplate import Boilerplate
    from tg_parser.topics.vectorize import Analyzer

__all__ = [
    "BOILERPLATE_WORD_SHARE",
    "LABEL_WORDS",
    "MAX_KEYWORDS",
    "TermCounts",
    "label_stems",
    "topic_terms",
]

MAX_KEYWORDS = 10
"""Keywords kept per topic."""
LABEL_WORDS = 3
"""Words in a label."""
BOILERPLATE_WORD_SHARE = 0.5
"""A word is no label word when over this share of the posts that have it have it in boilerplate lines
(posts with it in a boilerplate line > posts with it in their own text): "mostly boilerplate"."""


def _identity(doc: list[str]) -> list[str]:
    return doc


def label_stems(
    posts: Sequence[tuple[str, Sequence[str]]],
    stems: Sequence[list[str]],
    *,
    boilerplate: Boilerplate,
    analyzer: Analyzer,
) -> tuple[list[list[str]], Counter[str]]:
    """Return the stems labels count for each post, and how many posts have each stem in boilerplate.

    A post without boilerplate keeps the stems it was clustered by. Otherwise
    its label text is its own text (:meth:`Boilerplate.split`) plus those of
    its processing keywords that are not drawn from the boilerplate alone (a
    keyword found in the removed lines and not in the rest, like YAKE's
    "Подписаться").

    Args:
        posts: ``(text, keywords)`` of each post.
        stems: Per post, the stems of ``text`` and ``keywords`` as clustering read them.
        boilerplate: The channel's boilerplate lines.
        analyzer: The analyzer that made ``stems``.

    Returns:
        Per post, its label stems (repeats kept for a post without boilerplate, each stem once for
        the others, in no particular order: labels count a stem once per post); and for each stem,
        the number of posts with it in a boilerplate line (for :data:`BOILERPLATE_WORD_SHARE`).
    """
    out: list[list[str]] = []
    in_boilerplate: Counter[str] = Counter()
    for (text, keywords), post_stems in zip(posts, stems, strict=True):
        kept, removed = boilerplate.split(text)
        if not removed:
            out.append(post_stems)
            continue
        removed_lower, kept_lower = removed.lower(), kept.lower()
        borrowed = [k for k in keywords if k.lower() not in kept_lower and k.lower() in removed_lower]
        footer = [analyzer.stem(w) for w in analyzer.words(removed)]
        in_boilerplate.update(set(footer))
        # Words are found token by token and the removed parts are whole lines or sentences, so the
        # stems of the rest are the post's stems less the removed ones (no second pass over the post).
        drop = Counter(footer)
        if borrowed:
            drop.update(analyzer.stem(w) for w in analyzer.words("\n".join(borrowed)))
        out.append([stem for stem, n in Counter(post_stems).items() if n > drop[stem]])
    return out, in_boilerplate


def topic_terms(
    stems: Sequence[list[str]],
    labels: NDArray[np.int64],
    *,
    analyzer: Analyzer,
    boilerplate: Mapping[str, int] | None = None,
) -> dict[int, list[str]]:
    """Return each cluster's most characteristic words, best first.

    Args:
        stems: Per post, the stems labels read (:func:`label_stems`), aligned with ``labels``.
        labels: Cluster of each post.
        analyzer: The analyzer that made ``stems`` (it knows the surface forms).
        boilerplate: Per stem, the posts that have it in a boilerplate line
            (:func:`label_stems`); a stem in more of them than of the posts
            counted here is left out (:data:`BOILERPLATE_WORD_SHARE`).

    Returns:
        For every cluster id, up to :data:`MAX_KEYWORDS` words (real surface
        forms of the best stems); an empty list for a cluster with no content
        words. Ties break alphabetically.
    """
    clusters = sorted({int(c) for c in labels})
    out: dict[int, list[str]] = {c: [] for c in clusters}
    vectorizer = CountVectorizer(analyzer=_identity, binary=True)
    try:
        counts = sparse.csr_matrix(vectorizer.fit_transform(stems))
    except ValueError:  # no content words anywhere
        return out
    vocabulary = vectorizer.get_feature_names_out()  # sorted: stable ties are alphabetical
    membership = sparse.csr_matrix(
        (np.ones(len(labels)), (np.asarray(labels), np.arange(len(labels)))),
        shape=(max(clusters) + 1, len(labels)),
    )
    per_class = np.asarray((membership @ counts).todense(), dtype=np.float64)
    return _best_terms(
        per_class,
        vocabulary,
        clusters=clusters,
        n_posts=len(stems),
        analyzer=analyzer,
        boilerplate=boilerplate,
    )


def _best_terms(
    per_class: NDArray[np.float64],
    vocabulary: Sequence[str] | NDArray[np.str_],
    *,
    clusters: list[int],
    n_posts: int,
    analyzer: Analyzer,
    boilerplate: Mapping[str, int] | None,
) -> dict[int, list[str]]:
    """Score ``(k, V)`` per-cluster post counts of alphabetically sorted stems by c-TF-IDF."""
    out: dict[int, list[str]] = {c: [] for c in clusters}
    totals = per_class.sum(axis=1, keepdims=True)
    tf = np.divide(per_class, totals, out=np.zeros_like(per_class), where=totals > 0)
    avg_terms = float(totals.mean())
    # A term is counted once per post and every post is in one cluster, so
    # the column sums are the terms' document frequencies.
    doc_freq = per_class.sum(axis=0)
    idf = np.log1p(avg_terms / np.maximum(doc_freq, 1.0))
    scores = tf * idf
    if n_posts >= MIN_DOCS_FOR_DF_LIMITS:
        # Channel boilerplate ("Подписаться", the channel's name) is in most
        # posts; like the vectors, labels ignore words in over half the posts.
        scores[:, doc_freq > MAX_DF * n_posts] = 0.0
    if boilerplate:
        in_boilerplate = np.fromiter(
            (boilerplate.get(str(v), 0) for v in vocabulary), np.float64, len(doc_freq)
        )
        share = in_boilerplate / np.maximum(in_boilerplate + doc_freq, 1.0)
        scores[:, share > BOILERPLATE_WORD_SHARE] = 0.0
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


_FLUSH_PAIRS = 1_000_000
"""Fewest queued (cluster, stem, count) triples :class:`TermCounts` sums into its matrix at once (24 MB)."""


class TermCounts:
    """Per-cluster post counts of every stem, accumulated batch by batch (bounded by the vocabulary).

    The streaming form of :func:`topic_terms`: the same counts, so the same
    keywords, without holding every post's tokens.
    """

    def __init__(self) -> None:
        """Start with no posts."""
        self._vocabulary: dict[str, int] = {}
        self._counts: sparse.csr_matrix | None = None
        self._n_posts = 0
        self._seen: set[int] = set()
        self._boilerplate: Counter[str] = Counter()
        self._parts: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
        self._pending = 0

    def _push(self, rows: NDArray[np.int64], cols: NDArray[np.int64], counts: NDArray[np.float64]) -> None:
        """Queue ``(cluster, stem column, posts)`` triples; they are summed into the matrix in bulk.

        Summing every batch into the matrix at once would cost a pass over the
        whole matrix per batch; queued pairs are summed once they outnumber
        its stored values (at least :data:`_FLUSH_PAIRS`), so memory stays
        within about twice the matrix.
        """
        self._parts.append((rows, cols, counts))
        self._pending += len(cols)
        stored = 0 if self._counts is None else self._counts.nnz
        if self._pending >= max(_FLUSH_PAIRS, stored):
            self._flush()

    def _flush(self) -> None:
        """Sum the queued pairs into the matrix."""
        if not self._parts:
            return
        rows = np.concatenate([r for r, _c, _n in self._parts])
        cols = np.concatenate([c for _r, c, _n in self._parts])
        counts = np.concatenate([n for _r, _c, n in self._parts])
        self._parts, self._pending = [], 0
        n_rows = max(int(rows.max()) + 1, 0 if self._counts is None else self._counts.shape[0])
        shape = (n_rows, len(self._vocabulary))
        batch = sparse.csr_matrix((counts, (rows, cols)), shape=shape)
        if self._counts is None:
            self._counts = batch
        else:
            self._counts.resize(shape)
            self._counts = sparse.csr_matrix(self._counts + batch)

    def add(
        self,
        stems: Sequence[list[str]],
        labels: NDArray[np.int64],
        *,
        boilerplate: Mapping[str, int] | None = None,
    ) -> None:
        """Count each stem once per post, in the post's cluster.

        Args:
            stems: Per post, its label stems (:func:`label_stems`).
            labels: Cluster of each post.
            boilerplate: Per stem, the posts of this batch with it in a boilerplate line.
        """
        if boilerplate:
            self._boilerplate.update(boilerplate)
        vocabulary = self._vocabulary
        rows: list[int] = []
        cols: list[int] = []
        for post_stems, label in zip(stems, labels.tolist(), strict=True):
            for stem in set(post_stems):
                col = vocabulary.get(stem)
                if col is None:
                    col = vocabulary[stem] = len(vocabulary)
                cols.append(col)
                rows.append(label)
        self._n_posts += len(stems)
        self._seen.update(labels.tolist())
        if cols:
            ones = np.ones(len(cols), dtype=np.float64)
            self._push(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), ones)

    def merge(self, other: TermCounts) -> None:
        """Add the counts of other posts, counted apart (a worker process's batch).

        The result is the same as :meth:`add` of those posts here: counts are
        whole numbers, so the order of the sums does not matter.

        ``other``'s queued counts are summed into its own matrix first.

        Args:
            other: Counts of posts not counted here yet.
        """
        self._boilerplate.update(other._boilerplate)
        self._n_posts += other._n_posts
        self._seen |= other._seen
        other._flush()
        if other._counts is None:
            return
        vocabulary = self._vocabulary
        # setdefault evaluates len() before it inserts: a new stem gets the next column.
        mapping = np.fromiter(
            (vocabulary.setdefault(stem, len(vocabulary)) for stem in other._vocabulary),
            dtype=np.int64,
            count=len(other._vocabulary),
        )
        theirs = other._counts.tocoo()
        self._push(theirs.row.astype(np.int64), mapping[theirs.col], theirs.data.astype(np.float64))

    def terms(self, *, analyzer: Analyzer) -> dict[int, list[str]]:
        """Return each cluster's most characteristic words, as :func:`topic_terms` does.

        Args:
            analyzer: The analyzer that made the stems.

        Returns:
            For every cluster seen, up to :data:`MAX_KEYWORDS` words, best first.
        """
        clusters = sorted(self._seen)
        self._flush()
        if self._counts is None:
            return {c: [] for c in clusters}
        stems = list(self._vocabulary)
        order = sorted(range(len(stems)), key=stems.__getitem__)  # CountVectorizer's sorted vocabulary
        counts = self._counts
        counts.resize((max(clusters) + 1, counts.shape[1]))
        per_class = np.asarray(counts[:, order].todense(), dtype=np.float64)
        vocabulary = [stems[i] for i in order]
        return _best_terms(
            per_class,
            vocabulary,
            clusters=clusters,
            n_posts=self._n_posts,
            analyzer=analyzer,
            boilerplate=self._boilerplate,
        )
