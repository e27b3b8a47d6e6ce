# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF001, RUF002, RUF003 - Cyrillic, CJK and typographic characters here are meant
"""Text helpers of the offline processor: cleaning, URLs, sentences, tokens.

Everything here is pure and deterministic: the same string in gives the same
string out, in any process, whatever ``PYTHONHASHSEED`` is.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "clean_text",
    "flatten",
    "is_number_like",
    "split_sentences",
    "strip_urls",
    "trim_url",
    "word_tokens",
]

# Invisible format characters that carry no meaning in a post: zero-width space,
# word joiner, BOM / zero-width no-break space, soft hyphen, Mongolian vowel
# separator and the bidi marks / embeddings / isolates (Unicode TR9). ZWNJ
# (U+200C) and ZWJ (U+200D) are kept on purpose: ZWNJ is part of Persian
# spelling and ZWJ builds emoji sequences.
_INVISIBLE = dict.fromkeys(
    [
        0x200B,
        0x2060,
        0xFEFF,
        0x00AD,
        0x180E,
        0x200E,
        0x200F,
        0x061C,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ],
)
_LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n\n", "\x0b": "\n", "\x0c": "\n"}
_LINE_BREAK_RE = re.compile("|".join(re.escape(k) for k in _LINE_BREAKS))
_BREAKS_AS_SPACE = {ord("\n"): " ", ord("\t"): " "}
_HSPACE_RE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")

URL_RE = re.compile(
    r"(?i)\b(?:https?://|www\.|t\.me/|tg://)[^\s<>«»\"'()\[\]]+(?:\([^\s()]*\)[^\s<>«»\"'()\[\]]*)*",
)
"""Bare URLs: a scheme or ``www.`` / ``t.me/`` and what follows up to a space."""

EMAIL_RE = re.compile(r"(?i)\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b")
"""E-mail addresses (practical subset of RFC 5322)."""

HASHTAG_RE = re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")
"""Hashtags as Telegram detects them: ``#`` then word characters, not all digits."""

MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z]\w{3,31}\b")
"""``@username`` mentions (Telegram usernames: 5-32 characters of ``[A-Za-z0-9_]``)."""

_TRAILING_URL_PUNCT = ".,;:!?…)»\"'"

# A sentence ends at . ! ? … (and runs of them, with closing quotes or brackets)
# followed by white space, or at CJK full-width 。！？ with or without a space.
_SENTENCE_END_RE = re.compile(
    r"(?:(?<=[.!?…])\s+(?=[^\sa-zа-яё])"
    r"|(?<=[.!?…][\"»”’)\]])\s+(?=[^\sa-zа-яё])"
    r"|(?<=[。！？])\s*)",
)
_WORD_RE = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
_NUMBER_LIKE_RE = re.compile(r"^[\d\s.,:;/%+\-–—№#$€₽£¥]*\d[\d\s.,:;/%+\-–—№#$€₽£¥]*$")


def clean_text(text: str) -> str:
    """Normalise a post's text for storage, search and RAG.

    NFC-normalises, strips NUL and other control characters (PostgreSQL rejects
    NUL in text) and invisible format characters, turns every Unicode space
    (no-break space included) into a plain space, collapses runs of spaces and
    tabs, trims every line, and keeps at most one blank line between
    paragraphs.

    Args:
        text: Raw post text.

    Returns:
        The cleaned text; ``""`` when nothing visible is left.
    """
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAK_RE.sub(lambda m: _LINE_BREAKS[m.group(0)], text)
    text = text.translate(_INVISIBLE)
    # Cc, Cs, Co and Cn are all "Other", which ``str.isprintable`` refuses (Python
    # docs, str.isprintable): a text printable but for its line breaks and tabs
    # has none of them, and skips the per-character pass.
    if not text.translate(_BREAKS_AS_SPACE).isprintable():
        text = "".join(
            ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn") else " "
            for ch in text
        )
    text = _HSPACE_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


def strip_urls(text: str) -> str:
    """Remove bare URLs and e-mail addresses, then tidy the spaces left behind.

    Args:
        text: Cleaned text (see :func:`clean_text`).

    Returns:
        The text without URLs, with line structure kept.
    """
    text = EMAIL_RE.sub(" ", URL_RE.sub(" ", text))
    text = _HSPACE_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES_RE.sub("\n\n", text).strip()


def trim_url(url: str) -> str:
    """Drop punctuation that ends a sentence rather than the URL (``….com).`` → ``….com``).

    Args:
        url: A URL as matched in running text.

    Returns:
        The URL without trailing sentence punctuation.
    """
    while url and url[-1] in _TRAILING_URL_PUNCT:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def split_sentences(text: str) -> list[str]:
    """Split text into sentences: line breaks, then end punctuation.

    Every line is at least one sentence (Telegram posts put titles and list
    items on their own lines). Inside a line, a sentence ends at ``.``, ``!``,
    ``?`` or ``…`` followed by space and a character that is not a lower-case
    Latin or Cyrillic letter (so ``т. е. так`` and ``e.g. this`` stay whole),
    or at the CJK full stops ``。！？``.

    Args:
        text: Cleaned text.

    Returns:
        Non-empty sentences, stripped, in order.
    """
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(s for s in (p.strip() for p in _SENTENCE_END_RE.split(line)) if s)
    return out


def word_tokens(text: str) -> list[str]:
    """Return the word tokens of a text (letters and digits, inner hyphens and apostrophes kept).

    Args:
        text: Any text.

    Returns:
        Tokens in order, case kept.
    """
    return _WORD_RE.findall(text)


def is_number_like(text: str) -> bool:
    """Tell whether a string is a number, date, time, price or percentage and nothing else.

    Args:
        text: A candidate keyword.

    Returns:
        ``True`` for ``"2024"``, ``"15:00"``, ``"104,5 %"``, ``"№ 3"``…
    """
    return bool(_NUMBER_LIKE_RE.match(text.strip()))


def flatten(text: str) -> str:
    """Join the lines of a text into one line.

    Args:
        text: Cleaned text.

    Returns:
        One line; lines are joined by a space.
    """
    return " ".join(line for line in text.split("\n") if line)
