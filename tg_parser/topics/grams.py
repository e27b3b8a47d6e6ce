# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Hashed character n-gram counts of posts, each distinct word hashed once.

The character block of the topic vectors (:mod:`tg_parser.topics.vectorize`)
counts hashed character 3-5-grams inside word boundaries, as scikit-learn's
``HashingVectorizer(analyzer="char_wb")`` does. Building the n-gram strings of
every post in Python dominated topicize on large channels; words repeat
(Zipf), so hashing each distinct word once and summing per post gives the same
counts at a fraction of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

if TYPE_CHECKING:
    from tg_parser.topics.vectorize import Tokens

__all__ = ["CHAR_FEATURES", "MAX_CHARS_PER_POST", "WordGrams"]

CHAR_FEATURES = 2**18
"""Hashed character n-gram features: bounded memory whatever the corpus size."""
MAX_CHARS_PER_POST = 2000
"""Character n-grams read at most this many characters of a post (bounds memory on long posts)."""


class _Index(dict[str, int]):
    """Strings -> 0, 1, 2, … in order of first sight (continuing the numbering of a copied index)."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


def _hash_words(words: list[str]) -> sparse.csr_matrix:
    """Hashed character 3-5-gram counts of single words, ``(len(words), CHAR_FEATURES)`` float32."""
    if not words:
        return sparse.csr_matrix((0, CHAR_FEATURES), dtype=np.float32)
    return sparse.csr_matrix(
        HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 5),
            n_features=CHAR_FEATURES,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        ).transform(words)
    )


@dataclass(frozen=True)
class WordGrams:
    """Hashed character n-gram counts per word, so each distinct word is hashed once.

    Post counts are those of scikit-learn's ``HashingVectorizer(analyzer="char_wb",
    ngram_range=(3, 5))`` on the post's content words joined by spaces and cut
    to :data:`MAX_CHARS_PER_POST` characters. ``char_wb`` takes n-grams inside
    each whitespace-separated word padded with one space (``_char_wb_ngrams``
    in scikit-learn), so a post's counts are the sum of its words' counts: one
    sparse product (posts x words) @ (words x features) gives the same numbers
    without building n-gram strings per post.

    Attributes:
        index: Row of each known word in ``matrix``.
        matrix: ``(len(index), CHAR_FEATURES)`` float32 n-gram counts of the known words.
    """

    index: dict[str, int]
    matrix: sparse.csr_matrix

    @classmethod
    def empty(cls) -> WordGrams:
        """Return a table that knows no word (every word is hashed when met)."""
        return cls(index={}, matrix=_hash_words([]))

    def post_counts(self, tokens: Tokens) -> tuple[sparse.csr_matrix, WordGrams]:
        """Count the hashed character n-grams of each post.

        Args:
            tokens: The posts' tokens.

        Returns:
            ``(n, CHAR_FEATURES)`` float32 counts with sorted indices, and this
            table extended by the words it did not know (the caller keeps it or not).
        """
        index = _Index(self.index)
        indices: list[int] = []
        indptr = [0]
        for words in tokens.words:
            joined = " ".join(words)
            cut = joined[:MAX_CHARS_PER_POST].split() if len(joined) > MAX_CHARS_PER_POST else words
            indices.extend(map(index.__getitem__, cut))
            indptr.append(len(indices))
        known = len(self.index)
        matrix = self.matrix
        if len(index) > known:
            matrix = sparse.vstack([matrix, _hash_words(list(index)[known:])], format="csr")
        word_counts = sparse.csr_matrix(
            (
                np.ones(len(indices), dtype=np.float32),
                np.asarray(indices, dtype=np.int64),
                np.asarray(indptr),
            ),
            shape=(len(tokens.words), len(index)),
        )
        counts = sparse.csr_matrix(word_counts @ matrix)
        counts.sort_indices()
        return counts, WordGrams(index=index, matrix=matrix)
