# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF001 - Cyrillic, CJK and typographic characters here are meant
"""Keyword extraction for one post: YAKE, filtered and de-duplicated.

YAKE ranks candidate n-grams by statistical features of the text alone
(casing, position, frequency, context diversity, sentence spread); lower
scores are better. Source: Campos, Mangaravite, Pasquali, Jorge, Nunes, Jatowt,
"YAKE! Keyword extraction from single documents using multiple local features",
Information Sciences 509 (2020) 257-289.

The implementation is ``yake-rust`` (the Rust port of YAKE, through its Python
bindings) since ``offline-rules-2``: the Python ``yake`` package spent ~80 %
of the offline processor's time building networkx graphs and numpy medians
per word; the Rust port ranks the same features 4-5x faster. Its tokeniser is
not segtok, so some rankings differ: on 10,879 real Russian posts the final
keyword lists overlap the Python YAKE ones at a mean Jaccard of 0.84 (see
``bench/keyword_overlap.py``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter

import yake_rust

from tg_parser.processing.stopwords import stop_words_for
from tg_parser.processing.text import EMAIL_RE, MENTION_RE, URL_RE, is_number_like, word_tokens

__all__ = ["MAX_KEYWORDS", "MIN_KEYWORDS", "extract_keywords"]

MIN_KEYWORDS = 3
"""Fewest keywords wanted when the text has that many content words."""
MAX_KEYWORDS = 10
"""Most keywords returned."""
MAX_NGRAM = 2
"""Longest keyphrase in words (YAKE's ``n``); longer phrases from short posts read as clauses."""
DEDUP_LIMIT = 0.7
"""YAKE's similarity threshold above which a candidate counts as a duplicate."""
_CANDIDATES = 30
"""YAKE candidates read before filtering (the Python package's ``top`` we used before)."""
_MIN_KEYWORD_CHARS = 2
_MIN_FILLER_CHARS = 3
_CJK_LANGUAGES = frozenset({"zh", "ja", "ko"})
_MAX_CJK_KEYWORD_CHARS = 8
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_EDGE_PUNCT = " \t\n.,;:!?…\"'«»“”„()[]{}<>—–-*_~`|/\\#@：，。！？；、（）《》【】「」『』〔〕［］"
_INNER_PUNCT_OK = frozenset("-'’.&+")


_extractors = threading.local()


def _extractor(language: str, stop_words: frozenset[str]) -> yake_rust.Yake:
    """Return this thread's YAKE extractor for ``language``, built once.

    Building one copies the stop-word set into Rust; an extractor holds only
    its configuration, so a reused one ranks exactly as a new one. One per
    thread, as the bindings promise nothing about sharing one between threads.
    """
    cache: dict[str, yake_rust.Yake] | None = getattr(_extractors, "by_language", None)
    if cache is None:
        cache = {}
        _extractors.by_language = cache
    extractor = cache.get(language)
    if extractor is None:
        extractor = yake_rust.Yake(
            stopwords=set(stop_words),
            ngrams=MAX_NGRAM,
            deduplication_threshold=DEDUP_LIMIT,
        )
        cache[language] = extractor
    return extractor


def _keyword_text(text: str) -> str:
    """Text YAKE reads: no URLs, e-mails or @mentions; hashtags keep their word."""
    text = URL_RE.sub(" ", text)
    text = EMAIL_RE.sub(" ", text)
    text = MENTION_RE.sub(" ", text)
    return text.replace("#", " ")


def _acceptable(keyword: str, stop_words: frozenset[str], language: str) -> bool:
    tokens = word_tokens(keyword)
    if not tokens or is_number_like(keyword):
        return False
    if any(t.lower() in stop_words or t.isdigit() for t in tokens):
        return False
    if any(unicodedata.category(ch).startswith("P") and ch not in _INNER_PUNCT_OK for ch in keyword):
        return False
    if len(keyword) < _MIN_KEYWORD_CHARS:
        return False
    if language in _CJK_LANGUAGES and len(_CJK_RE.findall(keyword)) > _MAX_CJK_KEYWORD_CHARS:
        # Without a word segmenter YAKE sees whole CJK clauses as one "word".
        return False
    return "://" not in keyword and "www." not in keyword.lower()


def _add(out: list[str], seen: list[set[str]], keyword: str) -> None:
    """Append a keyword unless it repeats one already taken (case-insensitively, or as a sub-phrase)."""
    tokens = {t.lower() for t in word_tokens(keyword)}
    if any(tokens <= other for other in seen):
        return
    out.append(keyword)
    seen.append(tokens)


def extract_keywords(text: str, *, language: str, hashtags: tuple[str, ...] = ()) -> list[str]:
    """Extract the post's keywords.

    The post's own hashtags come first (without ``#``): the author chose them.
    YAKE candidates (up to :data:`MAX_NGRAM` words) follow, best first, with
    the language's stop words; URLs, numbers, dates phrases holding a stop word
    or punctuation are dropped, and a phrase whose words all appear in one already
    taken is skipped. When YAKE finds fewer than :data:`MIN_KEYWORDS`, the most
    frequent content words fill in.

    Args:
        text: Cleaned post text.
        language: ISO 639-1 code of the post (chooses the stop words).
        hashtags: The post's hashtag entities, with or without ``#``.

    Returns:
        Between 0 and :data:`MAX_KEYWORDS` keywords, most important first;
        fewer than :data:`MIN_KEYWORDS` only when the post has fewer content words.
    """
    stop_words = stop_words_for(language) or stop_words_for("en")
    out: list[str] = []
    seen: list[set[str]] = []
    for tag in hashtags:
        word = tag.lstrip("#").replace("_", " ").strip()
        if word and _acceptable(word, stop_words, language):
            _add(out, seen, word)
    body = _keyword_text(text)
    # Keywords are only appended, and the answer is the first MAX_KEYWORDS: once
    # that many are taken, nothing later can change it.
    if len(out) < MAX_KEYWORDS and word_tokens(body):
        extractor = _extractor(language, stop_words)
        # YAKE's score ties are broken by the phrase so the order never depends on dict order.
        ranked = sorted(extractor.get_n_best(body, n=_CANDIDATES), key=lambda kv: (kv[1], kv[0]))
        for phrase, _score in ranked:
            keyword = phrase.strip(_EDGE_PUNCT)
            if _acceptable(keyword, stop_words, language):
                _add(out, seen, keyword)
                if len(out) >= MAX_KEYWORDS:
                    break
    if len(out) < MIN_KEYWORDS:
        counts = Counter(
            t.lower()
            for t in word_tokens(body)
            if _acceptable(t, stop_words, language) and len(t) >= _MIN_FILLER_CHARS
        )
        for word, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            _add(out, seen, word)
            if len(out) >= MIN_KEYWORDS:
                break
    return out[:MAX_KEYWORDS]
