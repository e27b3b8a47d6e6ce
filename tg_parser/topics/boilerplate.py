# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).

"""Channel boilerplate: signature lines and footers that recur across a channel's posts.

Channels sign their posts: "❗️ Подписывайся на Mash", "👉 Топор +18.
Подписаться", "📩 Прислать новость", "🔗 Зеркало". Such a line says nothing
about its post, yet it is in hundreds of the channel's posts, so its words would
name topics ("подписаться, mash, shot"). A line, or the final sentence of a
post, is boilerplate when after :func:`normalise` it recurs in at least
:data:`MIN_SHARE` of the channel's posts and in at least :data:`MIN_POSTS`
posts.

Only topic labels and keywords read posts without their boilerplate
(:meth:`Boilerplate.split`); clustering sees the posts as they are, so the
topics themselves do not change.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tg_parser.processing.text import URL_RE

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["HASH_BYTES", "MIN_POSTS", "MIN_SHARE", "Boilerplate", "line_hash", "normalise"]

MIN_SHARE = 0.005
"""A line is boilerplate from this share of the channel's posts on (0.5 %: on nktkln the footers of
Mash, SHOT, Топор+ and Москва Live are in 57-97 % of their posts, "🔗 Зеркало" of Библиотека
питониста in 12 %, while the most repeated news line of РИА Новости is in 0.4 %)."""
MIN_POSTS = 10
"""... and in at least this many posts (on a small channel a few chance repeats are not a signature)."""
HASH_BYTES = 8
"""Size of the BLAKE2b digest a normalised line is counted by: 8 bytes a line, whatever its length
(a collision between two lines is about one in 2**64 per pair)."""

_LETTERS_RE = re.compile(r"[^\W\d_]+")
_SENTENCE_END_RE = re.compile(r"[.!?…]+\s+")


def normalise(line: str) -> str:
    """Return the form a line is compared in: lower case, links out, letters only, single spaces.

    Links, digits, punctuation, emoji and other symbols become spaces, so
    "❗️ Подписывайся на Mash" and "❗ подписывайся на Mash" compare equal, and so
    do "🔍 Подписывайся https://t.me/+a" and "Подписывайся https://t.me/+b".

    Args:
        line: One line (or sentence) of a post.

    Returns:
        Its words, lower-cased, joined by single spaces; ``""`` when it has no letters.
    """
    lowered = line.lower()
    if "://" in lowered or "www." in lowered or "t.me/" in lowered or "tg://" in lowered:
        lowered = URL_RE.sub(" ", lowered)
    return " ".join(_LETTERS_RE.findall(lowered))


def line_hash(normalised: str) -> int:
    """Return the :data:`HASH_BYTES`-byte BLAKE2b digest of a normalised line as an unsigned integer.

    Args:
        normalised: A line from :func:`normalise`.

    Returns:
        An integer in ``[0, 2**64)`` (fits a ``uint64``).
    """
    digest = hashlib.blake2b(normalised.encode("utf-8"), digest_size=HASH_BYTES).digest()
    return int.from_bytes(digest, "little")


def _final_sentence(line: str) -> int:
    """Return where the last sentence of a line starts (0 when the line is one sentence)."""
    start = 0
    for match in _SENTENCE_END_RE.finditer(line):
        if match.end() < len(line):
            start = match.end()
    return start


def _candidates(text: str) -> set[int]:
    """Hashes of a post's normalised non-empty lines and of the final sentence of its last line."""
    out: set[int] = set()
    last = ""
    for line in text.split("\n"):
        norm = normalise(line)
        if norm:
            out.add(line_hash(norm))
            last = line
    start = _final_sentence(last)
    if start:
        sentence = normalise(last[start:])
        if sentence:
            out.add(line_hash(sentence))
    return out


@dataclass(frozen=True)
class Boilerplate:
    """The boilerplate lines of a channel, as hashes of their normalised form.

    Attributes:
        hashes: :func:`line_hash` of every boilerplate line or final sentence.
        posts: Posts the detection counted.
    """

    hashes: frozenset[int]
    posts: int = 0

    @classmethod
    def detect(cls, texts: Iterable[str]) -> Boilerplate:
        """Find the lines and final sentences that recur in a channel's posts.

        Each post contributes each distinct normalised line once, plus the
        final sentence of its last line, as an 8-byte hash in one array (memory
        is 8 bytes per distinct line of a post, not the lines themselves).

        Args:
            texts: The channel's post texts (or a seeded sample of them, as
                :mod:`tg_parser.topics.build` passes above its fit sample).

        Returns:
            The lines in at least ``max(MIN_POSTS, MIN_SHARE * posts)`` posts.
        """
        seen = array("Q")
        posts = 0
        for text in texts:
            seen.extend(_candidates(text))
            posts += 1
        if not seen:
            return cls(frozenset(), posts)
        values, counts = np.unique(np.frombuffer(seen, dtype=np.uint64), return_counts=True)
        keep = (counts >= MIN_POSTS) & (counts >= MIN_SHARE * posts)
        return cls(frozenset(int(v) for v in values[keep].tolist()), posts)

    def __contains__(self, line: object) -> bool:
        """Whether a line (any text) is boilerplate after :func:`normalise`."""
        if not isinstance(line, str):
            return False
        norm = normalise(line)
        return bool(norm) and line_hash(norm) in self.hashes

    def split(self, text: str) -> tuple[str, str]:
        """Split a post into its own text and its boilerplate.

        Every boilerplate line goes; then, when the final sentence of the last
        line left is boilerplate ("… задержали нападавших. Подписаться"), it
        goes too.

        Args:
            text: A post's text.

        Returns:
            ``(kept, removed)``: the post without its boilerplate (lines kept
            in order) and the removed lines and sentence, both joined by newlines;
            ``(text, "")`` when nothing is boilerplate.
        """
        if not self.hashes:
            return text, ""
        kept: list[str] = []
        removed: list[str] = []
        last = -1
        for line in text.split("\n"):
            norm = normalise(line)
            if norm and line_hash(norm) in self.hashes:
                removed.append(line)
                continue
            if norm:
                last = len(kept)
            kept.append(line)
        if last >= 0 and (start := _final_sentence(kept[last])) and kept[last][start:] in self:
            removed.append(kept[last][start:])
            kept[last] = kept[last][:start].rstrip()
        if not removed:
            return text, ""
        return "\n".join(kept).strip(), "\n".join(removed)

    def remove(self, text: str) -> str:
        """Return a post's text without its boilerplate (:meth:`split`'s ``kept``)."""
        return self.split(text)[0]
