# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The offline processor: deterministic enrichment of a post without any LLM.

It is honest about what it is (``processor: "offline"``): text cleaning,
language identification (py3langid), an extractive summary, YAKE keywords and
the entities the post itself carries (links, hashtags, mentions, e-mails,
cashtags). With ``named_entities=True`` (setting ``OFFLINE_NER``) it also adds
the people, places and organisations of Russian posts found by slovnet's news
NER, whose weights ship in natasha's wheel
(:func:`tg_parser.processing.russian.ner_spans`). That is opt-in because it
costs far more than the rest of the processor: on 300 real nktkln posts, one
thread, 43 posts per CPU-second with NER against 871 without (about 85 posts/s
on 2 cores, under the 300 posts/s of the embedded throughput goal).
"""

from __future__ import annotations

import re

from tg_parser.domain import EntityType, Message, NamedEntity, PostAnalysis
from tg_parser.processing.base import ProcessingResult
from tg_parser.processing.keywords import extract_keywords
from tg_parser.processing.language import detect_language
from tg_parser.processing.summary import summarize
from tg_parser.processing.text import EMAIL_RE, HASHTAG_RE, MENTION_RE, URL_RE, clean_text, trim_url

__all__ = [
    "OFFLINE_MODEL",
    "OFFLINE_NER_VERSION",
    "OFFLINE_RULES_VERSION",
    "OfflineProcessor",
    "message_entities",
    "russian_named_entities",
]

OFFLINE_MODEL = "offline-extractive-1"
"""Algorithm version recorded as the document's ``model``."""
OFFLINE_RULES_VERSION = "offline-rules-2"
"""Rules version recorded as ``prompt_version``; bump it when any output may change.

``offline-rules-2``: keywords from the Rust port of YAKE (:mod:`tg_parser.processing.keywords`).
"""

OFFLINE_NER_VERSION = "ner-slovnet-news-v1"
"""Appended to ``prompt_version`` when named entities are on (their output differs)."""

_ENTITY_KIND: dict[EntityType, str] = {
    EntityType.HASHTAG: "hashtag",
    EntityType.MENTION: "mention",
    EntityType.MENTION_NAME: "mention",
    EntityType.EMAIL: "other",
    EntityType.CASHTAG: "other",
}
_CASHTAG_RE = re.compile(r"(?<![\w$])\$[A-Z]{1,8}\b")


def _entity_of(ent_type: EntityType, text: str, url: str | None) -> NamedEntity | None:
    if ent_type == EntityType.TEXT_LINK:
        return NamedEntity(text=url, type="link") if url else None
    if ent_type == EntityType.LINK:
        target = url or text
        return NamedEntity(text=target, type="link") if target else None
    kind = _ENTITY_KIND.get(ent_type)
    if kind is None or not text.strip():
        return None
    return NamedEntity(text=text.strip(), type=kind)


def _found_in_text(text: str) -> list[tuple[int, NamedEntity]]:
    """Links, e-mails, mentions, hashtags and cashtags written in plain text, with their offsets."""
    found: list[tuple[int, NamedEntity]] = []
    emails = list(EMAIL_RE.finditer(text))
    found.extend((m.start(), NamedEntity(text=m.group(0), type="other")) for m in emails)
    found.extend(
        (m.start(), NamedEntity(text=trim_url(m.group(0)), type="link")) for m in URL_RE.finditer(text)
    )

    def in_email(pos: int) -> bool:
        return any(m.start() <= pos < m.end() for m in emails)

    found.extend(
        (m.start(), NamedEntity(text=m.group(0), type="mention"))
        for m in MENTION_RE.finditer(text)
        if not in_email(m.start())
    )
    found.extend((m.start(), NamedEntity(text=m.group(0), type="hashtag")) for m in HASHTAG_RE.finditer(text))
    found.extend((m.start(), NamedEntity(text=m.group(0), type="other")) for m in _CASHTAG_RE.finditer(text))
    return sorted(found, key=lambda pair: (pair[0], pair[1].type, pair[1].text))


def message_entities(message: Message) -> list[NamedEntity]:
    """Return the named entities a post carries itself, in text order, without duplicates.

    Links (a ``text_link``'s target, a ``link``'s URL) become ``link``;
    hashtags ``hashtag``; ``@mentions`` and named mentions ``mention``;
    e-mails and cashtags ``other``. Formatting, phone numbers and bank cards
    are not named entities and are left out. A message with no entities at
    all (old exports, plain text) is scanned for the same kinds in its text.

    Args:
        message: The post.

    Returns:
        Unique ``(type, text)`` entities in order of first appearance.
    """
    candidates: list[NamedEntity | None]
    if message.entities:
        ordered = sorted(message.entities, key=lambda e: (e.offset, e.length))
        candidates = [_entity_of(e.type, e.text, e.url) for e in ordered]
    else:
        candidates = [ne for _pos, ne in _found_in_text(message.text)]
    out: list[NamedEntity] = []
    seen: set[tuple[str, str]] = set()
    for ne in candidates:
        if ne is None:
            continue
        key = (ne.type, ne.text.lower() if ne.type != "link" else ne.text)
        if key not in seen:
            seen.add(key)
            out.append(ne)
    return out


def russian_named_entities(text: str) -> list[NamedEntity]:
    """Return the people, places and organisations of a Russian text, unique, in text order.

    Args:
        text: Clean Russian text.

    Returns:
        ``person``, ``location`` and ``organization`` entities as written
        (first spelling kept; repeats differing only in case dropped).
    """
    from tg_parser.processing.russian import ner_spans

    out: list[NamedEntity] = []
    seen: set[tuple[str, str]] = set()
    for surface, kind in ner_spans(text):
        key = (kind, surface.lower())
        if key not in seen:
            seen.add(key)
            out.append(NamedEntity(text=surface, type=kind))
    return out


class OfflineProcessor:
    """Deterministic processor that needs no LLM, no network and no model download.

    Same post in, same result out, in any process. Satisfies
    :class:`tg_parser.processing.base.Processor`.

    Attributes:
        name: Always ``"offline"``.
        model: :data:`OFFLINE_MODEL`.
        prompt_version: :data:`OFFLINE_RULES_VERSION`.
    """

    name: str = "offline"
    model: str = OFFLINE_MODEL
    prompt_version: str = OFFLINE_RULES_VERSION

    def __init__(self, *, named_entities: bool = False) -> None:
        """Make a processor.

        Args:
            named_entities: Add slovnet's PER, LOC and ORG entities to Russian
                posts (after the post's own entities); ``prompt_version`` then
                ends in ``+`` :data:`OFFLINE_NER_VERSION`. The model loads on
                the first Russian post (once per process, about 200 MB).
        """
        self.named_entities = named_entities
        if named_entities:
            self.prompt_version = f"{OFFLINE_RULES_VERSION}+{OFFLINE_NER_VERSION}"

    def process(self, message: Message) -> ProcessingResult:
        """Clean a post and derive language, summary, keywords and entities.

        Args:
            message: A post with non-empty text.

        Returns:
            The analysis and the cleaned text; ``usage`` is empty (no provider call).

        A post of invisible characters only gets language ``und`` and an
        empty summary rather than an error, so every post with text has a document.
        """
        text = clean_text(message.text)
        if not text:
            # Only invisible characters (zero-width, control): the post still
            # gets its document, with nothing derived from it.
            empty = PostAnalysis(language="und", summary="", keywords=[], entities=message_entities(message))
            return ProcessingResult(analysis=empty, clean_text="", usage=())
        language = detect_language(text)
        entities = message_entities(message)
        hashtags = tuple(e.text for e in entities if e.type == "hashtag")
        if self.named_entities and language == "ru":
            entities = [*entities, *russian_named_entities(text)]
        analysis = PostAnalysis(
            language=language,
            summary=summarize(text, language=language),
            keywords=extract_keywords(text, language=language, hashtags=hashtags),
            entities=entities,
        )
        return ProcessingResult(analysis=analysis, clean_text=text, usage=())
