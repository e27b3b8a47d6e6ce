# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF001, RUF002 - Cyrillic letters here are meant
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

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import Stemmer
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize

from tg_parser.processing.russian import display_lemma
from tg_parser.processing.stopwords import topic_stop_words
from tg_parser.processing.text import EMAIL_RE, MENTION_RE, URL_RE
from tg_parser.topics.grams import CHAR_FEATURES, MAX_CHARS_PER_POST, WordGrams
from tg_parser.topics.wordvec import WORDVEC_WEIGHT, WordVectors

if TYPE_CHECKING:
    from collections.abc import Sequence

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
_MIN_TOKEN_CHARS = 3
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_CYRILLIC_RE = re.compile(r"[а-яё]")
_LATIN_RE = re.compile(r"[a-z]")


class _StemCache(dict[str, str]):
    """Word -> Snowball stem (Russian or English by script, the word itself otherwise), filled on a miss."""

    def __init__(self) -> None:
        super().__init__()
        self._ru = Stemmer.Stemmer("russian")
        self._en = Stemmer.Stemmer("english")

    def __missing__(self, word: str) -> str:
        if _CYRILLIC_RE.search(word):
            stem = str(self._ru.stemWord(word))
        elif _LATIN_RE.search(word):
            stem = str(self._en.stemWord(word))
        else:
            stem = word
        self[word] = stem
        return stem


class _ContentCache(dict[str, str]):
    """Lower-case token -> content word (``ё`` as ``е``), or ``""`` for a stop word, filled on a miss."""

    def __init__(self, stems: _StemCache) -> None:
        super().__init__()
        self._stems = stems
        stop = topic_stop_words()
        self._stop = stop
        self._stop_stems = frozenset(stems[w] for w in stop)

    def __missing__(self, token: str) -> str:
        word = token.replace("ё", "е")
        if len(word) < _MIN_TOKEN_CHARS or word in self._stop or self._stems[word] in self._stop_stems:
            word = ""
        self[token] = word
        return word


@dataclass
class Analyzer:
    """Tokeniser for topic vectors: lower-cased content words, stemmed, stop words out.

    Cyrillic words go through the Snowball Russian stemmer, Latin words through
    the Snowball English one, others are kept as they are. The analyzer counts
    which surface form each stem came from, so labels can show a real word.
    Every distinct word is classified and stemmed once (the caches grow with
    the vocabulary, not with the number of posts).
    """

    _stems: _StemCache = field(default_factory=_StemCache, repr=False)
    _content: _ContentCache | None = field(default=None, repr=False)
    _word_counts: Counter[str] = field(default_factory=Counter, repr=False)
    _surface: dict[str, Counter[str]] | None = field(default=None, repr=False)

    def words(self, text: str) -> list[str]:
        """Return the content words of a text, lower-cased, ``ё`` as ``е``, unstemmed.

        A word is a stop word when it is in the lists or shares its stem with
        a listed word: Russian lists hold few inflected forms (``который`` is
        listed, ``котором`` is not).

        Args:
            text: Post text.

        Returns:
            Words of at least three letters that are not stop words, in order.
        """
        lowered = text.lower()
        if "://" in lowered or "www." in lowered or "t.me/" in lowered:  # URL_RE cannot match otherwise
            text = URL_RE.sub(" ", text)
            lowered = text.lower()
        if "@" in text:  # EMAIL_RE and MENTION_RE need one
            text = EMAIL_RE.sub(" ", text)
            text = MENTION_RE.sub(" ", text)
            lowered = text.lower()
        if self._content is None:
            self._content = _ContentCache(self._stems)
        return [word for word in map(self._content.__getitem__, _TOKEN_RE.findall(lowered)) if word]

    def stem(self, word: str) -> str:
        """Return the stem of a lower-case word (cached).

        Args:
            word: A lower-case word.

        Returns:
            Its Snowball stem (Russian or English by script), or the word itself.
        """
        return self._stems[word]

    def stems(self, words: Sequence[str]) -> list[str]:
        """Return the stems of content words, recording their surface forms.

        Args:
            words: Words from :meth:`words`.

        Returns:
            Stems in order (repeats kept).
        """
        self._word_counts.update(words)
        self._surface = None
        return list(map(self._stems.__getitem__, words))

    def __call__(self, text: str) -> list[str]:
        """Return the stems of a text's content words, recording their surface forms.

        Args:
            text: Post text.

        Returns:
            Stems in order (repeats kept).
        """
        return self.stems(self.words(text))

    def take_word_counts(self) -> Counter[str]:
        """Return the surface-word counts recorded so far and start again from none.

        A worker process of the assignment pass hands its batch's counts to
        the parent this way (:mod:`tg_parser.topics.assign`).

        Returns:
            Lower-cased word -> how often it was passed to :meth:`stems`.
        """
        taken, self._word_counts = self._word_counts, Counter()
        self._surface = None
        return taken

    def add_word_counts(self, counts: Counter[str]) -> None:
        """Record surface-word counts made by another analyzer (:meth:`take_word_counts`).

        Args:
            counts: Lower-cased word -> how often it produced its stem.
        """
        self._word_counts.update(counts)
        self._surface = None

    @property
    def surface(self) -> dict[str, Counter[str]]:
        """For each stem, how often each lower-cased word produced it (in posts passed to :meth:`stems`)."""
        if self._surface is None:
            surface: dict[str, Counter[str]] = {}
            for word, count in self._word_counts.items():
                surface.setdefault(self._stems[word], Counter())[word] = count
            self._surface = surface
        return self._surface

    def display(self, stem: str) -> str:
        """Return the word a label shows for a stem: the lemma of its most frequent form.

        The most frequent word the stem came from (ties: alphabetical) is
        turned into its dictionary form for Russian (pymorphy3, nominative
        singular for nouns, capitalised for names and places:
        :func:`tg_parser.processing.russian.display_lemma`); words in other
        scripts are shown as they were written, lower-cased.

        Args:
            stem: A stem produced by this analyzer.

        Returns:
            A real word, or the stem when it was never seen.
        """
        forms = self.surface.get(stem)
        if not forms:
            return stem
        word = min(forms.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return display_lemma(word) if _CYRILLIC_RE.search(word) else word


@dataclass(frozen=True)
class Tokens:
    """The tokens of a corpus, computed once and shared by vectors and labels.

    Attributes:
        words: Per post, its content words (unstemmed), in order.
        stems: Per post, the stems of those words.
    """

    words: list[list[str]]
    stems: list[list[str]]


def tokenize(texts: Sequence[str], *, analyzer: Analyzer) -> Tokens:
    """Tokenise every post once.

    Args:
        texts: Post texts.
        analyzer: The tokeniser (records surface forms).

    Returns:
        Words and stems per post.
    """
    words = [analyzer.words(t) for t in texts]
    return Tokens(words=words, stems=[analyzer.stems(w) for w in words])


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
    columns the randomized SVD took 12.3 s instead of 17.2 s with the same
    singular values (the decomposition does not depend on the column order).

    Returns:
        ``(m,)`` column indices into ``matrix``, every used column once.
    """
    frequency = np.bincount(matrix.indices, minlength=int(matrix.shape[1]))
    used = np.flatnonzero(frequency).astype(np.int64)
    return used[np.argsort(-frequency[used], kind="stable")]


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


def fit_embedding(tokens: Tokens, *, seed: int) -> tuple[NDArray[np.float32], Embedding | None]:
    """Fit the vectorizer on tokenised posts and return their vectors with the fitted model.

    Args:
        tokens: The fit corpus's tokens, in a deterministic order.
        seed: Random state of the randomized SVD.

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
        svd = TruncatedSVD(n_components=components, algorithm="randomized", random_state=seed)
        vectors = np.asarray(normalize(svd.fit_transform(matrix)), dtype=np.float32)
        projection = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
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
