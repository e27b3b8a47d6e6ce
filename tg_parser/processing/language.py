# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF002 - Cyrillic, CJK and typographic characters here are meant
"""Language identification of a post: py3langid, with a script-based fallback.

py3langid is Lui & Baldwin's langid.py (ACL 2012, "langid.py: An Off-the-shelf
Language Identification Tool") repackaged with a faster loader; it is
deterministic (a naive Bayes model over byte n-grams, no sampling). For text
too short for a statistical guess, the dominant Unicode script decides.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING

from tg_parser.processing.text import EMAIL_RE, HASHTAG_RE, MENTION_RE, URL_RE

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

__all__ = ["UNDETERMINED", "detect_language", "detect_script_language"]

UNDETERMINED = "und"
"""Code for text with no letters (BCP 47 / ISO 639-2 "undetermined")."""

MIN_LETTERS_FOR_MODEL = 12
"""Below this many letters the model guesses poorly; the script decides instead."""

# Languages whose script alone names them well enough for a fallback.
_SCRIPT_LANGUAGE = {
    "CYRILLIC": "ru",
    "LATIN": "en",
    "CJK": "zh",
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "ARABIC": "ar",
    "HEBREW": "he",
    "GREEK": "el",
    "DEVANAGARI": "hi",
    "THAI": "th",
    "ARMENIAN": "hy",
    "GEORGIAN": "ka",
    "BENGALI": "bn",
    "TAMIL": "ta",
}
# Letters that only (or mainly) Persian writes in Arabic script, and Cyrillic
# letters Russian lacks but Ukrainian / Belarusian have.
_PERSIAN_LETTERS = frozenset("پچژگکی")
_UKRAINIAN_LETTERS = frozenset("іїєґІЇЄҐ")
_BELARUSIAN_LETTERS = frozenset("ўЎ")
_STRIP_RE = re.compile(r"\d+")


@cache
def _identifier() -> LanguageIdentifier:
    """Load the py3langid model once per process (lazily, never at import)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@cache
def _script_of(ch: str) -> str | None:
    """Return the Unicode script of a letter (the first word of its name), cached per character."""
    name = unicodedata.name(ch, "")
    if not name:
        return None
    first = name.split(" ", 1)[0]
    if first == "CJK" or name.startswith(("IDEOGRAPHIC", "KANGXI")):
        return "CJK"
    return first


def _letters(text: str) -> list[str]:
    return [ch for ch in text if ch.isalpha()]


def detect_script_language(text: str) -> str:
    """Guess the language from the dominant script of the letters.

    Cyrillic gives ``ru`` (``uk`` when Ukrainian-only letters appear, ``be``
    for ``ў``), Latin ``en``, Han ``zh`` (``ja`` when kana appear), Hangul
    ``ko``, Arabic ``ar`` (``fa`` when Persian-only letters appear), and so on.

    Args:
        text: Any text.

    Returns:
        An ISO 639-1 code, or :data:`UNDETERMINED` when there are no letters
        or the script is not one we can name.
    """
    letters = _letters(text)
    return _language_of_scripts(letters, _scripts(letters))


def _scripts(letters: list[str]) -> Counter[str]:
    """Count the letters of each Unicode script."""
    return Counter(s for s in map(_script_of, letters) if s)


def _language_of_scripts(letters: list[str], scripts: Counter[str]) -> str:
    """:func:`detect_script_language` once the letters and their scripts are counted."""
    if not scripts:
        return UNDETERMINED
    # Ties break by script name so the answer never depends on dict order.
    script = min(scripts, key=lambda s: (-scripts[s], s))
    if script == "CJK" and (scripts["HIRAGANA"] or scripts["KATAKANA"]):
        return "ja"
    if script == "ARABIC" and _PERSIAN_LETTERS.intersection(letters):
        return "fa"
    if script == "CYRILLIC":
        if _UKRAINIAN_LETTERS.intersection(letters):
            return "uk"
        if _BELARUSIAN_LETTERS.intersection(letters):
            return "be"
    return _SCRIPT_LANGUAGE.get(script, UNDETERMINED)


def language_text(text: str) -> str:
    """Return the part of a post that speaks a language: no URLs, e-mails, @mentions, digits.

    Hashtags keep their word (``#новости`` → ``новости``).

    Args:
        text: Cleaned post text.

    Returns:
        Text for language identification.
    """
    text = URL_RE.sub(" ", text)
    text = EMAIL_RE.sub(" ", text)
    text = MENTION_RE.sub(" ", text)
    text = HASHTAG_RE.sub(lambda m: m.group(0)[1:], text)
    return _STRIP_RE.sub(" ", text)


def detect_language(text: str) -> str:
    """Identify the main language of a post.

    URLs, e-mails, mentions and digits are removed first. With at least
    :data:`MIN_LETTERS_FOR_MODEL` letters, py3langid classifies the text and
    its answer is checked against the letters actually present:

    * the answer's script must write at least :data:`MIN_SCRIPT_SHARE` of the
      letters, else the dominant script decides (a Korean verdict on a Russian
      post quoting one Korean word is refused);
    * a Cyrillic language other than Russian needs letters Russian lacks
      (``і`` for Ukrainian, ``ў`` for Belarusian, ``ъ`` without ``ы``/``э``
      for Bulgarian…), else the post is Russian: short Russian news lines are
      the model's usual bg/uk/mk confusion.

    Shorter text goes straight to :func:`detect_script_language`.

    Args:
        text: Cleaned post text.

    Returns:
        An ISO 639-1 code such as ``"ru"`` or ``"en"``, or :data:`UNDETERMINED`.
    """
    body = language_text(text)
    letters = _letters(body)
    scripts = _scripts(letters)
    if len(letters) < MIN_LETTERS_FOR_MODEL:
        return _language_of_scripts(letters, scripts)
    code = _best_iso639_1(body)
    if code is None:
        return _language_of_scripts(letters, scripts)
    total = sum(scripts.values()) or 1
    wanted = _code_scripts(code)
    if wanted is not None and sum(scripts[s] for s in wanted) / total < MIN_SCRIPT_SHARE:
        return _language_of_scripts(letters, scripts)
    if code in _CYRILLIC_MARKERS and min(scripts, key=lambda s: (-scripts[s], s)) == "CYRILLIC":
        present = set(letters)
        markers, excluders = _CYRILLIC_MARKERS[code]
        if not present & markers or present & excluders:
            return "ru"
    return code


MIN_SCRIPT_SHARE = 0.2
"""Least share of letters the model's language's script must have for its answer to stand."""

# code -> (letters it needs that Russian lacks, Russian letters it never uses).
_CYRILLIC_MARKERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "uk": (frozenset("іїєґ"), frozenset("ыэъё")),
    "be": (frozenset("ўі"), frozenset("ищъ")),
    "bg": (frozenset("ъ"), frozenset("ыэё")),
    "mk": (frozenset("ѓќѕјљњџ"), frozenset("ыэёъщй")),
    "sr": (frozenset("ђћјљњџ"), frozenset("ыэёъщй")),
    "kk": (frozenset("әғқңөұүһі"), frozenset()),
    "ky": (frozenset("ңөү"), frozenset()),
    "tt": (frozenset("әөүҗңһ"), frozenset()),
    "tg": (frozenset("ғӣқӯҳҷ"), frozenset()),
    "mn": (frozenset("өү"), frozenset()),
    "uz": (frozenset("ўқғҳ"), frozenset()),
}

# Languages written (usually) in Latin script.
_LATIN_LANGUAGES = frozenset(
    {
        *("af", "an", "az", "br", "bs", "ca", "cs", "cy", "da", "de", "en", "eo", "es", "et", "eu"),
        *("fi", "fo", "fr", "ga", "gl", "hr", "ht", "hu", "id", "is", "it", "jv", "la", "lb", "lt"),
        *("lv", "mg", "ms", "mt", "nb", "nl", "nn", "no", "oc", "pl", "pt", "qu", "ro", "rw", "se"),
        *("sk", "sl", "sq", "sv", "sw", "tl", "tr", "vo", "wa", "xh", "zu", "vi", "ku", "fy", "gd"),
    }
)
_CODE_SCRIPTS: dict[str, frozenset[str]] = {
    **dict.fromkeys(["ru", *_CYRILLIC_MARKERS], frozenset({"CYRILLIC"})),
    **dict.fromkeys(_LATIN_LANGUAGES, frozenset({"LATIN"})),
    **dict.fromkeys(["ar", "fa", "ur", "ps", "ug"], frozenset({"ARABIC"})),
    "uz": frozenset({"CYRILLIC", "LATIN"}),
    "zh": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL", "CJK"}),
    "el": frozenset({"GREEK"}),
    "he": frozenset({"HEBREW"}),
    "hi": frozenset({"DEVANAGARI"}),
    "th": frozenset({"THAI"}),
    "hy": frozenset({"ARMENIAN"}),
    "ka": frozenset({"GEORGIAN"}),
}


def _code_scripts(code: str) -> frozenset[str] | None:
    """Scripts a language is written in, or ``None`` when we do not know it."""
    return _CODE_SCRIPTS.get(code)


# py3langid's model also answers ISO 639-3 codes; these name a variety of an
# ISO 639-1 language (macrolanguage members, historical forms, creoles).
_TO_ISO639_1 = {
    "ary": "ar",
    "arz": "ar",
    "wuu": "zh",
    "yue": "zh",
    "uzs": "uz",
    "pcm": "en",
    "sdh": "ku",
    "gug": "gn",
    "hbo": "he",
    "grc": "el",
}
_NO_LANGUAGE = "zxx"
_ISO639_1_LEN = 2


def _best_iso639_1(body: str) -> str | None:
    """Return the model's most probable language that has an ISO 639-1 code.

    Returns ``None`` when the model says the text has no linguistic content
    (``zxx``: code, tables).
    """
    for code, _prob in _identifier().rank(body):
        name = _TO_ISO639_1.get(str(code), str(code))
        if name == _NO_LANGUAGE:
            return None
        if len(name) == _ISO639_1_LEN:
            return name
    return None
