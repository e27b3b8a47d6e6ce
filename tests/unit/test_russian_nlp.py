# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).

"""Russian models from installed wheels: slovnet NER in the offline processor, lemma labels of topics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telethon.extensions import markdown

from tests.conftest import need
from tg_parser.domain import Entity, EntityType, Message
from tg_parser.processing.offline import OFFLINE_NER_VERSION, OFFLINE_RULES_VERSION, OfflineProcessor
from tg_parser.processing.russian import morph
from tg_parser.processing.stopwords import topic_stop_words
from tg_parser.processing.text import clean_text
from tg_parser.topics import TopicInput, build_topics

NKTKLN_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "nktkln"
RIA = "1001101170442_messages.json"
NAKED_SCIENCE = "1001000724666_messages.json"
PYTHON_LIBRARY = "1001138587070_messages.json"


def _posts(name: str) -> list[dict[str, object]]:
    need(NKTKLN_DIR.is_dir(), f"real channel posts {NKTKLN_DIR} are missing (see shared/data/README.md)")
    return list(json.loads((NKTKLN_DIR / name).read_text(encoding="utf-8")))


def _message(post: dict[str, object], entities: tuple[Entity, ...] = ()) -> Message:
    text = clean_text(markdown.parse(str(post["text"]))[0])
    return Message(
        channel_id=1,
        message_id=int(str(post["message_id"])),
        date=datetime(2024, 12, 1, tzinfo=UTC),
        text=text,
        entities=entities,
    )


def _ria_post(message_id: int) -> dict[str, object]:
    return next(p for p in _posts(RIA) if p["message_id"] == message_id)


def test_ner_adds_people_and_places_of_a_real_post_after_its_own_entities() -> None:
    """RIA Novosti 270908: 'Максим Жук назначен прокурором Москвы, ... указ подписал Путин'."""
    post = _ria_post(270908)
    text = clean_text(markdown.parse(str(post["text"]))[0])
    link = Entity(type=EntityType.LINK, offset=0, length=6, text=text[:6], url="https://ria.ru/x")
    result = OfflineProcessor(named_entities=True).process(_message(post, (link,)))
    entities = [(e.type, e.text) for e in result.analysis.entities]
    assert entities[0] == ("link", "https://ria.ru/x")  # the message's own entity is kept, first
    assert ("person", "Максим Жук") in entities
    assert ("person", "Путин") in entities
    assert ("location", "Москвы") in entities
    assert len(entities) == len({(t, x.lower()) for t, x in entities})


def test_ner_finds_organisations_in_real_news() -> None:
    """Across 30 real RIA posts slovnet finds organisations, and every NER entity is in its post's text."""
    processor = OfflineProcessor(named_entities=True)
    kinds: set[str] = set()
    for post in [p for p in _posts(RIA) if len(str(p.get("text") or "")) > 80][:30]:
        message = _message(post)
        for entity in processor.process(message).analysis.entities:
            if entity.type in {"person", "location", "organization"}:
                kinds.add(entity.type)
                assert entity.text in message.text
    assert kinds == {"person", "location", "organization"}


def test_ner_is_opt_in_and_versioned() -> None:
    """Without named_entities no NER type appears; with it, prompt_version says so (a cache key part)."""
    post = _ria_post(270908)
    plain = OfflineProcessor().process(_message(post)).analysis.entities
    assert not [e for e in plain if e.type in {"person", "location", "organization"}]
    assert OfflineProcessor().prompt_version == OFFLINE_RULES_VERSION
    assert OfflineProcessor(named_entities=True).prompt_version.endswith(OFFLINE_NER_VERSION)


def test_ner_leaves_non_russian_posts_alone() -> None:
    """An English post gets no slovnet entities (the model is Russian only)."""
    message = Message(
        channel_id=1,
        message_id=5,
        date=datetime(2024, 12, 1, tzinfo=UTC),
        text="Vladimir Putin met Emmanuel Macron in Paris to discuss the situation in Ukraine and Syria.",
    )
    entities = OfflineProcessor(named_entities=True).process(message).analysis.entities
    assert not [e for e in entities if e.type in {"person", "location", "organization"}]


@pytest.fixture(scope="module")
def science_and_python_topics() -> list[object]:
    """Topics of 150 Naked Science and 150 Python library posts (real, one mixed channel)."""
    items = []
    for n, name in enumerate((NAKED_SCIENCE, PYTHON_LIBRARY)):
        posts = [p for p in _posts(name) if len(str(p.get("text") or "")) > 40]
        posts.sort(key=lambda p: int(str(p["message_id"])))
        for p in posts[:150]:
            text = clean_text(markdown.parse(str(p["text"]))[0])
            items.append(TopicInput(n * 1_000_000 + int(str(p["message_id"])), text))
    return list(build_topics(items, channel_key="mixed"))


def test_labels_are_lemmas_without_stop_words(science_and_python_topics: list[object]) -> None:
    """Every Russian label word is in dictionary form (a noun in the nominative), none a stop word."""
    stop = topic_stop_words()
    russian = 0
    for topic in science_and_python_topics:
        for word in topic.keywords:  # type: ignore[attr-defined]
            assert word.lower() not in stop, topic
            if any("а" <= ch <= "я" or ch == "ё" for ch in word.lower()):
                russian += 1
                plain = word.lower().replace("ё", "е")
                # A dictionary form: one of its parses has itself as lemma ("данные" may also be "дать").
                lemmas = {p.normal_form.replace("ё", "е") for p in morph().parse(plain)}
                assert plain in lemmas, word
    assert russian >= 5


def test_labels_show_the_nominative_of_inflected_words() -> None:
    """Posts that only say 'Луны' and 'космосе' get the label words 'луна' and 'космос'."""
    texts = [
        "Зонд сфотографировал обратную сторону Луны, данные о космосе передадут учёным.",
        "Новые снимки Луны: в космосе работает зонд, учёные изучают данные.",
        "Учёные получили данные зонда с орбиты Луны и рассказали о космосе.",
    ]
    topics = build_topics([TopicInput(i + 1, t) for i, t in enumerate(texts)], channel_key="c")
    words = {w.lower() for t in topics for w in t.keywords}
    assert {"луна", "космос", "зонд"} <= words
    assert not {"луны", "космосе", "учёным"} & words


def test_a_tie_between_parses_does_not_pick_an_imperative() -> None:
    """'нашли' is the past of 'найти' or the imperative of 'наслать' at equal scores: labels say 'найти'."""
    from tg_parser.processing.russian import display_lemma

    scores = {p.normal_form: p.score for p in morph().parse("нашли")}
    assert scores["наслать"] == scores["найти"]  # the tie the rule is for
    assert display_lemma("нашли") == "найти"
    assert display_lemma("найди") == "найти"  # an imperative without a tie stays what pymorphy3 says
    assert display_lemma("москвы") == "Москва"


def test_place_adjectives_stay_lower_case_and_short_unknown_words_as_written() -> None:
    """'украинские' -> 'украинский' (an adjective, not capitalised); 'бпла' is not guessed into 'бпнуть'."""
    from tg_parser.processing.russian import display_lemma

    assert "Geox" in morph().parse("украинские")[0].tag.grammemes  # tagged as of a place
    assert display_lemma("украинские") == "украинский"
    assert display_lemma("сша") == "США"
    assert display_lemma("трампа") == "Трамп"
    assert not morph().parse("бпла")[0].is_known
    assert display_lemma("бпла") == "бпла"
    # A longer unknown word still gets the guesser's lemma.
    assert display_lemma("загуглил").lower() == morph().parse("загуглил")[0].normal_form
