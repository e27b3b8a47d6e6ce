# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF001 - Cyrillic, CJK and typographic characters here are meant
"""Extractive summary of one post: its most informative sentences, in order.

Sentences are scored by the weights of their content words, a TF-IDF taken
over the post's own sentences (each sentence a "document"), in the spirit of
Luhn (1958, "The automatic creation of literature abstracts", IBM J. Res. Dev.
2(2)) and of SumBasic-style frequency scoring (Nenkova & Vanderwende 2005),
with a bonus for the lead sentence, the news "inverted pyramid".
"""

from __future__ import annotations

import math
from collections import Counter

from tg_parser.processing.stopwords import stop_words_for
from tg_parser.processing.text import split_sentences, strip_urls, word_tokens

__all__ = ["MAX_SUMMARY_CHARS", "MAX_SUMMARY_SENTENCES", "summarize"]

MAX_SUMMARY_CHARS = 300
"""Longest summary in characters (an ellipsis included)."""
MAX_SUMMARY_SENTENCES = 2
"""Most sentences a summary takes."""
LEAD_BONUS = 0.5
"""Added to the first sentence's score (relative to the best body sentence, 1.0)."""
_ELLIPSIS = "…"
_TERMINAL = ".!?…。！？:;"


def _join(sentences: list[str]) -> str:
    """Join sentences with a space, ending a non-final one without end punctuation with a full stop."""
    parts = []
    for i, sentence in enumerate(sentences):
        last = i == len(sentences) - 1
        parts.append(sentence if last or sentence.endswith(tuple(_TERMINAL)) else sentence + ".")
    return " ".join(parts)


def _cap(text: str, limit: int) -> str:
    """Cut text to ``limit`` characters at a word boundary, ending in an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(_ELLIPSIS)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:—–-") + _ELLIPSIS


def _scores(sentences: list[str], stop_words: frozenset[str]) -> list[float]:
    """Score each sentence: mean TF-IDF weight of its content words, plus the lead bonus."""
    bags = [
        [t.lower() for t in word_tokens(s) if t.lower() not in stop_words and not t.isdigit()]
        for s in sentences
    ]
    tf = Counter(t for bag in bags for t in bag)
    df = Counter(t for bag in bags for t in set(bag))
    n = len(sentences)
    raw = []
    for bag in bags:
        if not bag:
            raw.append(0.0)
            continue
        # fsum is exactly rounded, so the weight does not depend on the set's
        # iteration order (which PYTHONHASHSEED changes): near-ties between
        # sentences used to break differently from one process to the next.
        weight = math.fsum(tf[t] * math.log(1 + n / df[t]) for t in set(bag))
        # Square-root length normalisation: long sentences are favoured, but not linearly.
        raw.append(weight / math.sqrt(len(bag)))
    top = max(raw) or 1.0
    scores = [r / top for r in raw]
    if scores:
        scores[0] += LEAD_BONUS
    return scores


def summarize(text: str, *, language: str) -> str:
    """Return an extractive summary of a post.

    A post that fits in :data:`MAX_SUMMARY_CHARS` once bare URLs are removed is
    its own summary (on one line). A longer post gives its best
    :data:`MAX_SUMMARY_SENTENCES` sentences in their original order; the
    result is capped at :data:`MAX_SUMMARY_CHARS` at a word boundary with
    ``…``.

    Args:
        text: Cleaned post text.
        language: ISO 639-1 code (chooses the stop words).

    Returns:
        The summary; the capped cleaned text when the post holds nothing but
        URLs; ``""`` only for empty text.
    """
    body = strip_urls(text)
    sentences = split_sentences(body)
    if not sentences:
        return _cap(" ".join(text.split()), MAX_SUMMARY_CHARS)
    whole = _join(sentences)
    if len(whole) <= MAX_SUMMARY_CHARS:
        return whole
    stop_words = stop_words_for(language) or stop_words_for("en")
    scores = _scores(sentences, stop_words)
    # Best first; ties go to the earlier sentence.
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    for i in ranked:
        if len(chosen) == MAX_SUMMARY_SENTENCES:
            break
        if scores[i] <= 0:
            continue
        trial = _join([sentences[j] for j in sorted([*chosen, i])])
        if chosen and len(trial) > MAX_SUMMARY_CHARS:
            continue
        chosen.append(i)
    if not chosen:
        chosen = [0]
    return _cap(_join([sentences[j] for j in sorted(chosen)]), MAX_SUMMARY_CHARS)
