"""How close the offline keywords of ``offline-rules-2`` (Rust YAKE) are to those of ``offline-rules-1``.

``offline-rules-1`` ranked keyword candidates with the Python ``yake``
package; ``offline-rules-2`` with ``yake-rust`` (same algorithm and settings:
bigrams, stop words, de-duplication at 0.7, 30 candidates). Everything around
the ranker (hashtags first, filters, sub-phrase de-duplication, frequent-word
fill-in) is the same code. On real posts (``../shared/data/nktkln``) this
prints, per post averaged: the Jaccard overlap of the two keyword lists, the
share of the Python list's first 3 keywords found in the Rust list's first 3,
the share of identical lists, and the time per post of each ranker.

Usage:
    nice -n 10 .venv/bin/python bench/keyword_overlap.py --posts 3000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yake

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tg_parser.processing import keywords  # noqa: E402
from tg_parser.processing.language import detect_language  # noqa: E402
from tg_parser.processing.text import clean_text  # noqa: E402

NKTKLN = ROOT.parent / "shared" / "data" / "nktkln"


class PythonYake:
    """The ``offline-rules-1`` ranker: the Python ``yake`` package with the same settings."""

    def __init__(self, stop_words: frozenset[str]) -> None:
        """Build the extractor (``top`` = the candidates the filters read)."""
        self._extractor = yake.KeywordExtractor(
            n=keywords.MAX_NGRAM,
            dedup_lim=keywords.DEDUP_LIMIT,
            top=keywords._CANDIDATES,  # noqa: SLF001 - the same setting on both sides
            stopwords=set(stop_words),
        )

    def get_n_best(self, text: str, *, n: int) -> list[tuple[str, float]]:  # noqa: ARG002 - top is set above
        """Return the ranked candidates as ``yake_rust.Yake.get_n_best`` does."""
        return [(str(kw), float(score)) for kw, score in self._extractor.extract_keywords(text)]


@contextmanager
def python_yake() -> Iterator[None]:
    """Rank keywords with the Python ``yake`` package inside the block."""
    cache: dict[str, PythonYake] = {}

    def extractor(language: str, stop_words: frozenset[str]) -> PythonYake:
        if language not in cache:
            cache[language] = PythonYake(stop_words)
        return cache[language]

    original = keywords._extractor  # noqa: SLF001
    keywords._extractor = extractor  # type: ignore[assignment]  # noqa: SLF001
    try:
        yield
    finally:
        keywords._extractor = original  # noqa: SLF001


def real_posts(limit: int) -> list[tuple[str, str]]:
    """Return up to ``limit`` cleaned real posts with text, with their language."""
    out: list[tuple[str, str]] = []
    for path in sorted(NKTKLN.glob("*.json")):
        for post in json.loads(path.read_text(encoding="utf-8")):
            text = clean_text(post.get("text") or "")
            if text:
                out.append((text, detect_language(text)))
    return out[:limit]


@dataclass(frozen=True)
class Overlap:
    """Agreement of the Rust keyword lists with the Python ones, averaged per post."""

    posts: int
    jaccard: float
    top3: float
    identical: float
    python_ms: float
    rust_ms: float


def _lists(posts: list[tuple[str, str]]) -> tuple[list[list[str]], float]:
    started = time.perf_counter()
    lists = [keywords.extract_keywords(text, language=lang) for text, lang in posts]
    return lists, (time.perf_counter() - started) * 1000 / max(1, len(posts))


def overlap(posts: list[tuple[str, str]]) -> Overlap:
    """Extract every post's keywords with both rankers and compare the lists."""
    with python_yake():
        old, python_ms = _lists(posts)
    new, rust_ms = _lists(posts)
    n = max(1, len(posts))
    jaccard = sum(len(set(a) & set(b)) / max(1, len(set(a) | set(b))) for a, b in zip(old, new, strict=True))
    top3 = sum(len(set(a[:3]) & set(b[:3])) / max(1, min(3, len(a))) for a, b in zip(old, new, strict=True))
    same = sum(a == b for a, b in zip(old, new, strict=True))
    return Overlap(len(posts), jaccard / n, top3 / n, same / n, python_ms, rust_ms)


def main() -> None:
    """Print the overlap on ``--posts`` real posts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    args = parser.parse_args()
    found = overlap(real_posts(args.posts))
    print(f"{found.posts} real posts (nktkln)")
    print(f"mean Jaccard of the keyword lists: {found.jaccard:.3f}")
    print(f"first 3 of Python YAKE found in the first 3 of Rust YAKE: {found.top3:.3f}")
    print(f"identical lists: {found.identical:.3f}")
    print(f"ms per post: Python YAKE {found.python_ms:.2f}, Rust YAKE {found.rust_ms:.2f}")


if __name__ == "__main__":
    main()
