"""Choosing the language an LLM answers in.

A post is answered in its own language unless ``LLM_OUTPUT_LANGUAGE`` names
one. Detection is cheap: py3langid (Lui & Baldwin's langid.py, https://github.com/adbar/py3langid)
on the text, with a script check first for short posts where a statistical
guess is unreliable.
"""

from __future__ import annotations

import re

LANGUAGE_NAMES: dict[str, str] = {
    "ru": "Russian",
    "en": "English",
    "uk": "Ukrainian",
    "be": "Belarusian",
    "kk": "Kazakh",
    "bg": "Bulgarian",
    "sr": "Serbian",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "pl": "Polish",
    "tr": "Turkish",
    "ar": "Arabic",
    "fa": "Persian",
    "he": "Hebrew",
    "hi": "Hindi",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "uz": "Uzbek",
}
"""ISO 639-1 code → English language name used in prompts."""

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")
_SHORT_TEXT_CHARS = 40


def detect_language(text: str) -> str:
    """Return the ISO 639-1 code of a text's main language (``en`` when unsure).

    Args:
        text: The post text.

    Returns:
        A two-letter code.

    """
    letters_cyr = len(_CYRILLIC.findall(text))
    letters_lat = len(_LATIN.findall(text))
    if letters_cyr + letters_lat == 0 and not text.strip():
        return "en"
    if len(text.strip()) < _SHORT_TEXT_CHARS and letters_cyr + letters_lat > 0:
        return "ru" if letters_cyr > letters_lat else "en"
    import py3langid

    code, _score = py3langid.classify(text)
    return str(code)


def output_language(text: str, *, setting: str = "auto") -> tuple[str, str]:
    """Return the language an answer about ``text`` must be written in.

    Args:
        text: The post text (or the sample of a topic).
        setting: ``LLM_OUTPUT_LANGUAGE``: ``auto`` or an ISO 639-1 code.

    Returns:
        ``(code, name)``, e.g. ``("ru", "Russian")``.

    """
    code = detect_language(text) if setting == "auto" else setting
    return code, LANGUAGE_NAMES.get(code, code)
