# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF001, RUF002 - Cyrillic, CJK and typographic characters here are meant
"""Stop-word lists per language, from the stop-words package and YAKE's own lists.

Sources: the ``stop-words`` package (Alireza Savand, lists from
https://github.com/Alir3z4/stop-words) and the lists YAKE ships
(Campos et al. 2020). Lists are read lazily, once per process.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from stop_words import LANGUAGE_MAPPING, get_stop_words

__all__ = ["stop_words_for", "topic_stop_words"]


def _yake_list(language: str) -> frozenset[str]:
    """Return YAKE's bundled list for a language, or an empty set when it has none."""
    try:
        path = resources.files("yake.core").joinpath("StopwordsList", f"stopwords_{language}.txt")
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return frozenset()
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip())


@cache
def stop_words_for(language: str) -> frozenset[str]:
    """Return the stop words of a language, lower-cased, ``ё`` also spelt ``е``.

    Args:
        language: ISO 639-1 code (``"ru"``, ``"en"``…).

    Returns:
        The union of the stop-words package's list and YAKE's list for the
        language; empty when neither knows it.
    """
    words: set[str] = set(_yake_list(language))
    if language in LANGUAGE_MAPPING:
        words.update(w.lower() for w in get_stop_words(language))
    words.update(w.replace("ё", "е") for w in list(words))
    return frozenset(words)


@cache
def topic_stop_words() -> frozenset[str]:
    """Return the stop words topic vectors ignore: Russian and English, plus scikit-learn's English list.

    Returns:
        Lower-case words.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return stop_words_for("ru") | stop_words_for("en") | frozenset(ENGLISH_STOP_WORDS)
