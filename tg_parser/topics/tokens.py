# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF001, RUF002 - Cyrillic letters here are meant
"""The tokeniser of topic vectors: content words of a post, their stems, and the words labels show."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import Stemmer

from tg_parser.processing.russian import display_lemma
from tg_parser.processing.stopwords import topic_stop_words
from tg_parser.processing.text import EMAIL_RE, MENTION_RE, URL_RE

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Analyzer", "Tokens", "tokenize"]

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
