# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The word-embedding block of topic vectors: TF-IDF-weighted means of navec word vectors.

A post's vector is the average of its words' pre-trained vectors weighted by
their TF-IDF (the weighting of "TF-IDF weighted word2vec" document vectors),
with the first principal component of the fit corpus removed (Arora, Liang &
Ma, "A simple but tough-to-beat baseline for sentence embeddings", ICLR 2017:
the common direction carries frequency, not topic). Words that share a stem
share the vector of their most frequent form found in navec, so the block
reuses the word TF-IDF of :mod:`tg_parser.topics.vectorize` and needs no
second pass over the tokens. The vectors are navec's Russian news embeddings
(:func:`tg_parser.processing.russian.navec`), shipped in natasha's wheel; they
also cover common English and Latin-script words of Russian news.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.preprocessing import normalize

from tg_parser.processing.russian import navec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray
    from scipy import sparse

__all__ = ["WORDVEC_WEIGHT", "WordVectors"]

WORDVEC_WEIGHT = 1.0
"""Weight of the word-vector block against the LSA block (each L2-normalised first).

Measured on the twelve nktkln channels (bench/topic_quality.py): 0.5, 1 and 2
gave NMI against ``category`` of 0.375 / 0.390 / 0.389 at k = 12, 0.334 /
0.360 / 0.354 at k = 40; 1 was kept."""


class WordVectors:
    """Per word-TF-IDF column (a stem), the navec row of its most frequent form; picklable and small.

    The ``(columns, 300)`` float32 table is rebuilt from navec on first use
    after unpickling and is not part of the pickle.

    Attributes:
        rows: navec row of each column's word, ``-1`` when no form is in navec.
        component: Unit first principal component of the fit posts' vectors (removed from every post).
    """

    def __init__(self, rows: NDArray[np.int32], component: NDArray[np.float32] | None) -> None:
        """Keep the navec rows and the component to remove (see the class)."""
        self.rows = rows
        self.component = component
        self._table: NDArray[np.float32] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the rows and the component only."""
        return {"rows": self.rows, "component": self.component}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`__getstate__` (the table is rebuilt on use)."""
        self.rows = state["rows"]
        self.component = state["component"]
        self._table = None

    @classmethod
    def fit(
        cls, words: Sequence[Sequence[str]], stems: Sequence[Sequence[str]], vocabulary: dict[str, int]
    ) -> WordVectors:
        """Map each stem column to the navec row of its most frequent surface form (no component yet).

        Args:
            words: Per post, its content words (yo spelt ie).
            stems: Per post, the stems of those words, aligned.
            vocabulary: Stem -> column of the fitted word TF-IDF.

        Returns:
            The table; a stem none of whose forms navec knows gets ``-1``.
        """
        forms: dict[str, Counter[str]] = {}
        for post_words, post_stems in zip(words, stems, strict=True):
            for word, stem in zip(post_words, post_stems, strict=True):
                if stem in vocabulary:
                    forms.setdefault(stem, Counter())[word] += 1
        ids = navec().vocab.word_ids
        rows = np.full(len(vocabulary), -1, dtype=np.int32)
        for stem, counts in forms.items():
            for word, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                row = ids.get(word)
                if row is not None:
                    rows[vocabulary[stem]] = row
                    break
        return cls(rows, None)

    def table(self) -> NDArray[np.float32]:
        """Return the ``(columns, 300)`` float32 word vectors (zero rows for unknown words), cached."""
        if self._table is None:
            pq = navec().pq
            known = self.rows >= 0
            table = np.zeros((len(self.rows), int(pq.dim)), dtype=np.float32)
            codes = np.asarray(pq.codes, dtype=np.float32)
            indexes = pq.indexes[self.rows[known]]
            table[known] = codes[np.arange(int(pq.qdim)), indexes].reshape(int(known.sum()), int(pq.dim))
            self._table = table
        return self._table

    def raw(self, word_tfidf: sparse.csr_matrix) -> NDArray[np.float32]:
        """Return the TF-IDF-weighted mean word vectors of posts, unit rows (zero: no known word).

        Args:
            word_tfidf: ``(n, columns)`` word TF-IDF rows of the posts.

        Returns:
            ``(n, 300)`` float32, before the component is removed.
        """
        return np.asarray(normalize(np.asarray(word_tfidf @ self.table(), dtype=np.float32)), np.float32)

    def transform(self, word_tfidf: sparse.csr_matrix) -> NDArray[np.float32]:
        """Return the posts' word-vector block: weighted means, component removed, unit (or zero) rows.

        Args:
            word_tfidf: ``(n, columns)`` word TF-IDF rows of the posts.

        Returns:
            ``(n, 300)`` float32.
        """
        vectors = self.raw(word_tfidf)
        if self.component is not None:
            vectors -= np.outer(vectors @ self.component, self.component)
        return np.asarray(normalize(vectors), dtype=np.float32)

    def with_component(self, vectors: NDArray[np.float32]) -> WordVectors:
        """Return this table with the first principal component of the fit posts' raw vectors set.

        Args:
            vectors: :meth:`raw` vectors of the fit posts.

        Returns:
            A table whose :meth:`transform` removes that component.
        """
        out = WordVectors(self.rows, None)
        out._table = self._table
        nonzero = vectors[np.any(vectors != 0, axis=1)]
        if len(nonzero) >= 2:  # noqa: PLR2004 - a direction needs two posts
            # Uncentred first singular vector, as Arora et al. remove it.
            _u, _s, vt = np.linalg.svd(nonzero[:20_000], full_matrices=False)
            out.component = np.asarray(vt[0], dtype=np.float32)
        return out
