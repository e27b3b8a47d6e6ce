# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).

"""Post texts to dense, L2-normalised vectors for clustering (LSA + word embeddings).

Two blocks, each L2-normalised, side by side, then normalised again:

* LSA: word TF-IDF over stemmed content words plus TF-IDF over hashed
  character n-grams (3-5, inside word boundaries), reduced by truncated SVD
  (latent semantic analysis). This is the recipe of scikit-learn's example
  "Clustering text documents using k-means" (LSA + k-means) with Snowball
  stemming (Porter, "Snowball: A language for stemming algorithms", 2001) for
  Russian and English, whose rich inflection otherwise splits one word into
  many features.
* Word embeddings: the TF-IDF-weighted mean of the posts' navec word vectors
  (:mod:`tg_parser.topics.wordvec`), which puts posts about one subject
  together even when they share no word (LSA alone mostly finds the channel's
  own wording).

Euclidean k-means on unit rows behaves like cosine k-means. On the twelve
nktkln channels (bench/topic_quality.py) the two blocks together raised NMI
against the posts' categories from 0.310 (LSA alone) to 0.360 at k = 40.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize

from tg_parser.topics.grams import CHAR_FEATURES, MAX_CHARS_PER_POST, WordGrams
from tg_parser.topics.tokens import Analyzer, Tokens, tokenize
from tg_parser.topics.wordvec import WORDVEC_WEIGHT, WordVectors

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CHAR_FEATURES",
    "FEATURES_VERSION",
    "MAX_CHARS_PER_POST",
    "MAX_DF",
    "MIN_DOCS_FOR_DF_LIMITS",
    "Analyzer",
    "Embedding",
    "Tokens",
    "WordGrams",
    "embed",
    "fit_embedding",
    "tokenize",
]

FEATURES_VERSION = "lsa+navec-tfidf-mean-1"
"""Names the feature space; changes whenever vectors of the same posts may change (stored fits refit).

``lsa+navec-tfidf-mean-1``: the LSA block (word stems and character n-grams)
plus the navec news word-vector block (TF-IDF-weighted mean). At most 32
characters (``topic_fits.features_version``)."""

MAX_SVD_COMPONENTS = 100
"""LSA dimensions for large corpora (the scikit-learn example uses 100)."""
CHAR_WEIGHT = 0.5
"""Weight of the character n-gram block against the word block (each L2-normalised first)."""
MIN_DOCS_FOR_DF_LIMITS = 20
"""From this many posts on, words in one post only or in over half the posts are dropped."""
MAX_DF = 0.5
"""Share of posts above which a word is channel boilerplate, not a topic (with the limits on)."""
MAX_WORD_FEATURES = 50_000
_NO_VARIANCE = 1e-6


def _identity(doc: list[str]) -> list[str]:
    return doc


def _word_vectorizer(n_posts: int) -> TfidfVectorizer:
    limits = n_posts >= MIN_DOCS_FOR_DF_LIMITS
    return TfidfVectorizer(
        analyzer=_identity,
        sublinear_tf=True,
        min_df=2 if limits else 1,
        max_df=MAX_DF if limits else 1.0,
        max_features=MAX_WORD_FEATURES,
        dtype=np.float32,
    )


_VARIANCE_CHUNK = 1 << 20
"""Stored values read at a time by :func:`_total_variance` (bounds its float64 temporaries)."""


def _total_variance(matrix: sparse.csr_matrix) -> float:
    """Sum of the column variances relative to the mean squared row norm (0 when all rows are equal).

    Accumulated in float64 over chunks of the stored values, so no float64 copy of the matrix exists.
    """
    n = int(matrix.shape[0])
    squares = 0.0
    column_sums = np.zeros(int(matrix.shape[1]), dtype=np.float64)
    for start in range(0, matrix.nnz, _VARIANCE_CHUNK):
        values = matrix.data[start : start + _VARIANCE_CHUNK].astype(np.float64)
        squares += float(values @ values)
        column_sums += np.bincount(
            matrix.indices[start : start + _VARIANCE_CHUNK], weights=values, minlength=len(column_sums)
        )
    squares /= n
    mean = column_sums / n
    return (squares - float(mean @ mean)) / max(squares, 1e-300)


@dataclass(frozen=True)
class Embedding:
    """A fitted vectorizer: word vocabulary, character IDF, used columns and SVD, reusable on new posts.

    Attributes:
        word: The fitted word TF-IDF, or ``None`` when the fit corpus had no word vocabulary.
        char: The fitted character-n-gram IDF, or ``None`` when the fit corpus had no content.
        columns: Columns of the stacked blocks kept (those the fit corpus used), most frequent first.
        svd: The fitted SVD, or ``None`` when the vectors are the (normalised) columns themselves.
    """

    word: TfidfVectorizer | None
    char: TfidfTransformer | None
    columns: NDArray[np.int64]
    svd: TruncatedSVD | None
    grams: WordGrams = field(default_factory=WordGrams.empty, repr=False)
    projection: NDArray[np.float32] | None = field(default=None, repr=False)
    wordvec: WordVectors | None = field(default=None, repr=False)

    def transform(self, tokens: Tokens) -> NDArray[np.float32]:
        """Vectorise other posts in the fitted space (unit or zero rows).

        Args:
            tokens: The posts' tokens.

        Returns:
            An ``(n, d)`` float32 array, ``d`` as for the fit corpus.
        """
        blocks = []
        words = None
        if self.word is not None:
            words = normalize(sparse.csr_matrix(self.word.transform(tokens.stems)), copy=False)
            blocks.append(words)
        if self.char is not None:
            hashed, _more = self.grams.post_counts(tokens)
            blocks.append(_char_block(self.char, hashed))
        matrix = sparse.hstack(blocks, format="csr")[:, self.columns]
        del blocks
        if self.svd is None:
            lsa = np.asarray(normalize(matrix.toarray()), dtype=np.float32)
        else:
            # The SVD's own transform (X @ components_.T) with the transposed
            # components laid out once, not copied to C order for every batch.
            projection = self.projection if self.projection is not None else self.svd.components_.T
            lsa = np.asarray(normalize(matrix @ projection), dtype=np.float32)
        if self.wordvec is None or words is None:
            return lsa
        return _combine(lsa, self.wordvec.transform(words))


def _combine(lsa: NDArray[np.float32], wordvec: NDArray[np.float32]) -> NDArray[np.float32]:
    """Put the LSA and word-vector blocks side by side and normalise the rows (zero rows stay zero)."""
    return np.asarray(normalize(np.hstack([lsa, WORDVEC_WEIGHT * wordvec])), dtype=np.float32)


def _char_block(char: TfidfTransformer, hashed: sparse.csr_matrix) -> sparse.csr_matrix:
    """Return the weighted character block of hashed counts, computed in place (``hashed`` is consumed)."""
    block = normalize(sparse.csr_matrix(char.transform(hashed, copy=False)), copy=False)
    block.data *= CHAR_WEIGHT
    return block


def _columns_by_frequency(matrix: sparse.csr_matrix) -> NDArray[np.int64]:
    """Return the columns a matrix uses, the most frequent first (ties: by column).

    The hashed character space has 2^18 columns and a corpus uses a scattered
    part of them. Keeping only those, numbered by document frequency, puts the
    columns most rows share next to each other, so the rows of the dense
    factor that the sparse products of the SVD (and the projection of every
    post) read are mostly in cache: on a 20,000-post sample of 159,237 used
    columns the randomized SVD took 12.3 s instead of 17.2 s, with the same
    explained variance and singular values to four digits (the decomposition
    does not depend on the column order; the random sketch does, slightly).

    Returns:
        ``(m,)`` column indices into ``matrix``, every used column once.
    """
    frequency = np.bincount(matrix.indices, minlength=int(matrix.shape[1]))
    used = np.flatnonzero(frequency).astype(np.int64)
    return used[np.argsort(-frequency[used], kind="stable")]


def _reduce(
    matrix: sparse.csr_matrix, *, components: int, seed: int, svd_rows: int | None
) -> tuple[TruncatedSVD, NDArray[np.float32], NDArray[np.float32]]:
    """Fit the randomized SVD (on ``svd_rows`` seeded rows when given); return it, its projection, the rows.

    Returns:
        The fitted SVD, its ``(columns, components)`` float32 projection (C order) and the
        ``(n, components)`` unit rows of ``matrix`` in the reduced space.
    """
    svd = TruncatedSVD(n_components=components, algorithm="randomized", random_state=seed)
    n = int(matrix.shape[0])
    if svd_rows is not None and n > svd_rows > components:
        svd.fit(matrix[np.sort(np.random.default_rng(seed).choice(n, size=svd_rows, replace=False))])
        projection = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        reduced = matrix @ projection
    else:
        reduced = svd.fit_transform(matrix)
        projection = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
    return svd, projection, np.asarray(normalize(reduced), dtype=np.float32)


def embed(tokens: Tokens, *, seed: int) -> NDArray[np.float32]:
    """Turn tokenised posts into L2-normalised LSA vectors.

    Args:
        tokens: The posts' tokens (:func:`tokenize`), in a deterministic order.
        seed: Random state of the randomized SVD.

    Returns:
        An ``(n, d)`` array; rows have unit length, or are all zero for a post
        with no content words. ``d`` is at most :data:`MAX_SVD_COMPONENTS`
        and at most ``n - 1``. It is ``(n, 0)`` when there is nothing to
        cluster: no content words at all, or every post the same.
    """
    return fit_embedding(tokens, seed=seed)[0]


def fit_embedding(
    tokens: Tokens, *, seed: int, svd_rows: int | None = None
) -> tuple[NDArray[np.float32], Embedding | None]:
    """Fit the vectorizer on tokenised posts and return their vectors with the fitted model.

    Args:
        tokens: The fit corpus's tokens, in a deterministic order.
        seed: Random state of the randomized SVD (and of its rows, with ``svd_rows``).
        svd_rows: Fit the SVD on this many of the posts (drawn with ``seed``) and project the
            rest, or ``None`` to fit it on all of them.

    Returns:
        The vectors of :func:`embed`, and the :class:`Embedding` that maps other
        posts into the same space (``None`` when the vectors are ``(n, 0)``).
    """
    blocks = []
    fitted = _word_vectorizer(len(tokens.stems))
    word: TfidfVectorizer | None = fitted
    wordvec: WordVectors | None = None
    words_block: NDArray[np.float32] | None = None
    try:
        words = normalize(sparse.csr_matrix(fitted.fit_transform(tokens.stems)), copy=False)
        blocks.append(words)
        wordvec = WordVectors.fit(tokens.words, tokens.stems, fitted.vocabulary_)
        raw = wordvec.raw(words)
        wordvec = wordvec.with_component(raw)
        words_block = wordvec.transform(words)
        del raw
    except ValueError:
        # Empty vocabulary: every post is stop words, numbers or links (or the
        # df limits removed everything); the character block carries on alone.
        word = None
    char: TfidfTransformer | None = None
    grams = WordGrams.empty()
    if any(tokens.words):
        char = TfidfTransformer(sublinear_tf=True)
        hashed, grams = grams.post_counts(tokens)
        blocks.append(_char_block(char.fit(hashed), hashed))
        del hashed
    n = len(tokens.stems)
    if not blocks:
        return np.zeros((n, 0), dtype=np.float32), None
    matrix = sparse.hstack(blocks, format="csr")
    del blocks
    if _total_variance(matrix) < _NO_VARIANCE:
        # Every post says the same thing: nothing to reduce or to split.
        return np.zeros((n, 0), dtype=np.float32), None
    matrix.eliminate_zeros()
    columns = _columns_by_frequency(matrix)
    # matrix[:, columns] without a copy of the values: every stored column is kept, renumbered.
    position = np.zeros(int(matrix.shape[1]), dtype=matrix.indices.dtype)
    position[columns] = np.arange(len(columns), dtype=matrix.indices.dtype)
    matrix = sparse.csr_matrix(
        (matrix.data, position[matrix.indices], matrix.indptr), shape=(n, len(columns))
    )
    del position
    components = min(MAX_SVD_COMPONENTS, n - 1, matrix.shape[1] - 1)
    if components < 2:  # noqa: PLR2004 - SVD to one dimension would lose everything
        model = Embedding(word=word, char=char, columns=columns, svd=None, grams=grams, wordvec=wordvec)
        vectors = np.asarray(normalize(matrix.toarray()), dtype=np.float32)
    else:
        svd, projection, vectors = _reduce(matrix, components=components, seed=seed, svd_rows=svd_rows)
        model = Embedding(
            word=word,
            char=char,
            columns=columns,
            svd=svd,
            grams=grams,
            projection=projection,
            wordvec=wordvec,
        )
    del matrix
    if words_block is not None:
        vectors = _combine(vectors, words_block)
    return vectors, model
