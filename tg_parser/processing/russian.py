# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).

"""Russian language models shipped inside installed wheels, loaded once per process.

* Word embeddings: navec ``navec_news_v1_1B_250K_300d_100q`` (250,000 words,
  300 dimensions, product-quantised), the file natasha ships in its wheel
  (``natasha.data.NEWS_EMBEDDING``). Source: https://github.com/natasha/navec.
* Named entities: slovnet ``slovnet_ner_news_v1`` (PER, LOC, ORG), also in
  natasha's wheel (``natasha.data.NEWS_NER``), on top of the same navec
  vectors. Source: https://github.com/natasha/slovnet.
* Lemmas: pymorphy3 with the OpenCorpora dictionaries of the
  ``pymorphy3-dicts-ru`` wheel (Korobov, "Morphological Analyzer and
  Generator for Russian and Ukrainian Languages", AIST 2015).

Nothing is downloaded: every file comes from an installed package. Each model
is loaded lazily on first use, under a lock, so concurrent threads of one
process share one copy.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_UNKNOWN_ABBREVIATION",
    "NER_TYPES",
    "display_lemma",
    "lemma",
    "morph",
    "navec",
    "ner",
    "ner_spans",
]

NER_TYPES = {"PER": "person", "LOC": "location", "ORG": "organization"}
"""slovnet's tags -> our :class:`~tg_parser.domain.NamedEntity` types."""

_LOCK = threading.RLock()  # re-entrant: loading the NER loads navec under it
_LOADED: dict[str, Any] = {}
_PROPER = frozenset({"Geox", "Name", "Surn", "Patr", "Orgn", "Trad"})
"""pymorphy3 grammemes of proper nouns (places, names, organisations, trade marks): shown capitalised."""
MAX_UNKNOWN_ABBREVIATION = 4
"""A word of at most this many letters that pymorphy3's dictionary lacks is shown as written, not as
the guesser's lemma: Russian abbreviations (of drones, air defence, armed forces) mostly have 3-4 letters."""


def _once(name: str, load: Callable[[], Any]) -> Any:
    model = _LOADED.get(name)
    if model is None:
        with _LOCK:
            model = _LOADED.get(name)
            if model is None:
                model = _LOADED[name] = load()
    return model


def navec() -> Any:
    """Return the navec news embeddings (loaded on first call, ~3 s and ~170 MB, then shared).

    Returns:
        A ``navec.Navec``: ``vocab.word_ids`` maps a lower-case word to its row,
        ``pq`` holds the quantised 300-dimensional vectors.
    """

    def load() -> Any:
        from natasha.data import NEWS_EMBEDDING
        from navec import Navec

        return Navec.load(NEWS_EMBEDDING)

    return _once("navec", load)


def ner() -> Any:
    """Return slovnet's Russian news NER tagger over :func:`navec` (loaded on first call, then shared).

    Returns:
        A ``slovnet.NER``: called on a text it gives a markup whose ``spans``
        have ``start``, ``stop`` (character offsets) and ``type`` (PER, LOC, ORG).
    """

    def load() -> Any:
        from natasha.data import NEWS_NER
        from slovnet import NER

        tagger = NER.load(NEWS_NER)
        tagger.navec(navec())
        return tagger

    return _once("ner", load)


def morph() -> Any:
    """Return the pymorphy3 analyser with its Russian dictionaries (loaded on first call, then shared).

    Returns:
        A ``pymorphy3.MorphAnalyzer``.
    """

    def load() -> Any:
        import pymorphy3

        return pymorphy3.MorphAnalyzer(lang="ru")

    return _once("morph", load)


def ner_spans(text: str) -> list[tuple[str, str]]:
    """Return the people, places and organisations slovnet finds in a Russian text, in text order.

    Args:
        text: Russian text (any length; slovnet tokenises it with razdel).

    Returns:
        ``(entity text as written, type)`` pairs, ``type`` one of ``person``,
        ``location``, ``organization``; repeats kept.
    """
    markup = ner()(text)
    out: list[tuple[str, str]] = []
    for span in markup.spans:
        kind = NER_TYPES.get(span.type)
        surface = text[span.start : span.stop].strip()
        if kind is not None and surface:
            out.append((surface, kind))
    return out


@lru_cache(maxsize=200_000)
def _parse(word: str) -> tuple[str, str]:
    """Return a word's lemma and how to show it: ``abbr`` (upper case), ``proper`` (capitalised) or ``""``."""
    parses = morph().parse(word)
    best = parses[0]
    if not best.is_known and len(word) <= MAX_UNKNOWN_ABBREVIATION:
        # A short word outside the dictionary is mostly an abbreviation (бпла, сво): the
        # guesser would inflect it as a word ("бпла" -> "бпнуть").
        return word, ""
    # Equal scores are common for verb forms ("нашли": imperative of "наслать" or past of
    # "найти", 0.5 each); posts narrate, so an imperative reading loses such a tie.
    if "impr" in best.tag.grammemes:
        best = next((p for p in parses if p.score == best.score and "impr" not in p.tag.grammemes), best)
    grammemes = best.tag.grammemes
    # Only nouns are capitalised: adjectives of places stay lower-case ("украинский", Geox).
    proper = "NOUN" in grammemes and bool(_PROPER.intersection(grammemes))
    shown = ("abbr" if "Abbr" in grammemes else "proper") if proper else ""
    return str(best.normal_form), shown


def lemma(word: str) -> str:
    """Return the dictionary form of a lower-case Russian word (nominative singular for nouns).

    The most probable pymorphy3 parse is taken (its order follows corpus
    frequencies of OpenCorpora); of parses with the same score, one that is not
    an imperative ("нашли" -> "найти", not "наслать"). Cached per word.

    Args:
        word: A lower-case word.

    Returns:
        Its lemma, lower-case; an unknown word's guess, or the word itself.
    """
    return _parse(word)[0]


def display_lemma(word: str) -> str:
    """Return a word's lemma as a label shows it: ``москвы`` -> ``Москва``, ``сша`` -> ``США``.

    Args:
        word: A lower-case Russian word.

    Returns:
        The lemma, upper-case when pymorphy3 tags it as the abbreviation of a name (США, МИД), its
        first letter upper-case when it tags it as a name, surname, place,
        organisation or trade mark.
    """
    form, shown = _parse(word)
    if shown == "abbr":
        return form.upper()
    return form[:1].upper() + form[1:] if shown == "proper" else form
