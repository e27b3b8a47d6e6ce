# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF002 - Cyrillic, Arabic and CJK text is the point of these tests
"""Tests of the offline processor: cleaning, language, summary, keywords, entities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telethon.extensions import markdown

from tests.conftest import need
from tg_parser.domain import Entity, EntityType, Message
from tg_parser.processing import Processor
from tg_parser.processing.language import detect_language
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.processing.stopwords import stop_words_for
from tg_parser.processing.summary import MAX_SUMMARY_CHARS
from tg_parser.processing.text import clean_text, split_sentences

ROOT = Path(__file__).parents[2]
NKTKLN_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "nktkln"

RU_TEXT = (
    "Московский метрополитен открыл новую станцию на Большой кольцевой линии.\n\n"
    "Станция «Нагатинский Затон» принимает пассажиров с шести утра. "
    "Строители метрополитена завершили отделку вестибюля раньше срока. "
    "Мэрия обещает, что новая станция разгрузит соседние линии метрополитена в часы пик. "
    "Подробности и схема пересадок на сайте https://mosmetro.ru/news #метро @mosmetro"
)
EN_TEXT = (
    "The Python Software Foundation released Python 3.13 with an experimental free-threaded build. "
    "The new interpreter also ships a just-in-time compiler that is disabled by default. "
    "Developers can try both features today and report regressions to the core team."
)


def _message(text: str, entities: tuple[Entity, ...] = (), message_id: int = 1) -> Message:
    return Message(
        channel_id=1,
        message_id=message_id,
        date=datetime(2024, 5, 1, tzinfo=UTC),
        text=text,
        entities=entities,
    )


def _entity(text: str, needle: str, kind: EntityType, url: str | None = None) -> Entity:
    offset = text.index(needle)
    return Entity(type=kind, offset=offset, length=len(needle), text=needle, url=url)


def _ru_message() -> Message:
    entities = (
        _entity(RU_TEXT, "Нагатинский Затон", EntityType.TEXT_LINK, url="https://example.org/station"),
        _entity(RU_TEXT, "https://mosmetro.ru/news", EntityType.LINK),
        _entity(RU_TEXT, "#метро", EntityType.HASHTAG),
        _entity(RU_TEXT, "@mosmetro", EntityType.MENTION),
    )
    return _message(RU_TEXT, entities)


def _require_nktkln() -> Path:
    need(
        NKTKLN_DIR.is_dir() and any(NKTKLN_DIR.glob("*.json")),
        f"real channel posts {NKTKLN_DIR} are missing (see shared/data/README.md)",
    )
    return NKTKLN_DIR


def test_satisfies_processor_protocol() -> None:
    """The offline processor is a Processor named "offline" with versioned rules."""
    processor = OfflineProcessor()
    assert isinstance(processor, Processor)
    assert processor.name == "offline"
    assert processor.model
    assert processor.prompt_version


def test_russian_post_gets_ru_language_and_russian_keywords() -> None:
    """A Russian post is 'ru' and its keywords are Russian content words, not stop words."""
    result = OfflineProcessor().process(_ru_message())
    analysis = result.analysis
    assert analysis.language == "ru"
    assert 3 <= len(analysis.keywords) <= 10
    assert any("метро" in kw.lower() for kw in analysis.keywords)
    assert sum(any("а" <= ch <= "я" for ch in kw.lower()) for kw in analysis.keywords) >= 3
    stop = stop_words_for("ru")
    assert not [kw for kw in analysis.keywords if kw.lower() in stop]
    assert result.usage == ()


def test_english_post_gets_en_language() -> None:
    """An English post is 'en' and gets English keywords."""
    analysis = OfflineProcessor().process(_message(EN_TEXT)).analysis
    assert analysis.language == "en"
    assert any("python" in kw.lower() for kw in analysis.keywords)


def test_keywords_have_no_urls_numbers_or_case_duplicates() -> None:
    """Keywords never hold URLs or bare numbers and are unique case-insensitively."""
    text = (
        "Курс доллара 2024: 104,5 рубля. Курс ДОЛЛАРА растёт, курс евро падает. https://cbr.ru/x 15:00 2024"
    )
    keywords = OfflineProcessor().process(_message(text)).analysis.keywords
    lowered = [kw.lower() for kw in keywords]
    assert len(lowered) == len(set(lowered))
    assert not [kw for kw in keywords if "http" in kw or "cbr.ru" in kw]
    assert not [kw for kw in keywords if kw.replace(",", "").replace(":", "").replace(" ", "").isdigit()]


def test_hashtags_become_keywords_without_hash() -> None:
    """The post's own hashtags are keywords, without the '#'."""
    keywords = OfflineProcessor().process(_ru_message()).analysis.keywords
    assert keywords[0] == "метро"
    assert not [kw for kw in keywords if kw.startswith("#")]


def test_entities_come_from_the_message() -> None:
    """Links (text_link targets and plain links), hashtags and mentions become named entities."""
    entities = OfflineProcessor().process(_ru_message()).analysis.entities
    pairs = {(e.type, e.text) for e in entities}
    assert ("link", "https://example.org/station") in pairs
    assert ("link", "https://mosmetro.ru/news") in pairs
    assert ("hashtag", "#метро") in pairs
    assert ("mention", "@mosmetro") in pairs
    assert len(entities) == len(pairs)


def test_entities_found_in_plain_text_without_entities() -> None:
    """A post without entity data still yields its written links, e-mails, mentions and hashtags."""
    text = "Пишите на press@example.com или @press_bot, читайте https://example.com/a. #новости $TSLA"
    pairs = {(e.type, e.text) for e in OfflineProcessor().process(_message(text)).analysis.entities}
    assert pairs == {
        ("other", "press@example.com"),
        ("mention", "@press_bot"),
        ("link", "https://example.com/a"),
        ("hashtag", "#новости"),
        ("other", "$TSLA"),
    }


def test_formatting_entities_are_not_named_entities() -> None:
    """Bold, code and phone entities are left out of the named entities."""
    text = "Важно: звоните +7 999 000-00-00, код `x=1`."
    entities = (
        _entity(text, "Важно", EntityType.BOLD),
        _entity(text, "+7 999 000-00-00", EntityType.PHONE),
        _entity(text, "`x=1`", EntityType.CODE),
    )
    assert OfflineProcessor().process(_message(text, entities)).analysis.entities == []


def test_summary_is_made_of_post_sentences_and_capped() -> None:
    """A long post's summary is one or two of its own sentences, at most 300 characters."""
    result = OfflineProcessor().process(_ru_message())
    summary = result.analysis.summary
    assert summary
    assert len(summary) <= MAX_SUMMARY_CHARS
    pieces = split_sentences(summary)
    assert 1 <= len(pieces) <= 2
    for piece in pieces:
        assert piece.rstrip(".").rstrip("…") in result.clean_text
    assert "https://" not in summary


def test_summary_of_a_very_long_sentence_is_cut_at_a_word() -> None:
    """A single sentence over the cap is cut at a word boundary and ends with an ellipsis."""
    text = " ".join(f"слово{i}" for i in range(200))
    summary = OfflineProcessor().process(_message(text)).analysis.summary
    assert len(summary) <= MAX_SUMMARY_CHARS
    assert summary.endswith("…")
    assert summary[:-1].split(" ")[-1] in text.split(" ")


def test_short_post_is_its_own_summary_without_urls() -> None:
    """A short post is summarised by itself, on one line, minus its bare URLs."""
    text = "Доллар упал ниже 104 рублей.\nПодробнее: https://example.com/rates"
    summary = OfflineProcessor().process(_message(text)).analysis.summary
    assert summary == "Доллар упал ниже 104 рублей. Подробнее:"


def test_clean_text_normalises_whitespace_and_strips_invisible_characters() -> None:
    """NUL, control and zero-width characters go; spaces collapse; paragraphs stay apart."""
    raw = (
        "  Первый\u00a0абзац\x00 с\u200bтекстом\t\t и\x07 пробелами.  "
        "\r\n\r\n\r\n\r\nВторой  абзац.\u2028Строка\ufeff"
    )
    assert clean_text(raw) == "Первый абзац стекстом и пробелами.\n\nВторой абзац.\nСтрока"


def test_clean_text_keeps_persian_zwnj_and_emoji_zwj() -> None:
    """ZWNJ (Persian spelling) and ZWJ (emoji sequences) are meaningful and kept."""
    assert clean_text("می\u200cخواهم 👨\u200d💻") == "می\u200cخواهم 👨\u200d💻"


def test_cjk_sentences_split_on_full_width_stops() -> None:
    """Chinese sentences end at 。！？ without spaces."""
    assert split_sentences("你好。世界！再见？好") == ["你好。", "世界！", "再见？", "好"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Привет", "ru"),
        ("Hello", "en"),
        ("你好世界", "zh"),
        ("سلام", "ar"),
        ("پیام", "fa"),
        ("Їжак", "uk"),
        ("👍👍👍 123", "und"),
        ("Нефть Brent упала на 3,5%. @banksta", "ru"),
    ],
)
def test_short_text_language_falls_back_to_script(text: str, expected: str) -> None:
    """Text too short for the model is identified by its script (with tell-tale letters)."""
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", "   \n\t ", "\u200b\u200b", "\x00"])
def test_invisible_post_gets_an_empty_document(text: str) -> None:
    """A post with no visible text still gets a document: language und, empty summary, no keywords."""
    result = OfflineProcessor().process(_message(text))
    assert result.clean_text == ""
    assert (result.analysis.language, result.analysis.summary, result.analysis.keywords) == ("und", "", [])


def test_same_post_gives_identical_results() -> None:
    """Processing is deterministic: twice, and with a fresh processor."""
    message = _ru_message()
    first = OfflineProcessor().process(message)
    assert OfflineProcessor().process(message) == first
    processor = OfflineProcessor()
    assert processor.process(message) == processor.process(message) == first


_SUBPROCESS = """
import json, sys
from datetime import UTC, datetime
from tg_parser.domain import Message
from tg_parser.processing.offline import OfflineProcessor
out = []
for i, text in enumerate(json.loads(sys.stdin.read())):
    msg = Message(channel_id=1, message_id=i, date=datetime(2024, 1, 1, tzinfo=UTC), text=text)
    r = OfflineProcessor().process(msg)
    out.append([r.clean_text, r.analysis.model_dump(mode="json")])
print(json.dumps(out, ensure_ascii=False, sort_keys=True))
"""


def test_results_do_not_depend_on_hash_seed() -> None:
    """Two processes with different PYTHONHASHSEED give byte-identical results."""
    texts = json.dumps([RU_TEXT, EN_TEXT, "Курс ДОЛЛАРА растёт, курс евро падает, курс юаня стоит."])
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS],
            input=texts,
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])[0][1]["language"] == "ru"


def _nktkln_posts(limit_per_file: int | None) -> list[str]:
    texts = []
    for path in sorted(_require_nktkln().glob("*.json")):
        posts = json.loads(path.read_text(encoding="utf-8"))[:limit_per_file]
        texts.extend(markdown.parse(post.get("text") or "")[0] for post in posts)
    return texts


def test_real_russian_channels_are_identified_as_russian() -> None:
    """At least 95 % of non-trivial posts of the Russian channels are 'ru' (measured: over 99.9 %)."""
    texts = [clean_text(t) for t in _nktkln_posts(limit_per_file=300)]
    languages = [detect_language(t) for t in texts if sum(ch.isalpha() for ch in t) >= 20]  # non-trivial
    assert len(languages) > 3000
    assert languages.count("ru") / len(languages) >= 0.95


def test_real_posts_process_end_to_end() -> None:
    """Real posts of every channel get 'ru', a summary from the post and keywords."""
    processor = OfflineProcessor()
    for i, text in enumerate(_nktkln_posts(limit_per_file=15)):
        if sum(ch.isalpha() for ch in clean_text(text)) < 20:
            continue
        result = processor.process(_message(text, message_id=i + 1))
        assert result.analysis.language == "ru", text
        assert result.analysis.summary
        assert result.analysis.keywords
        assert len(result.analysis.summary) <= MAX_SUMMARY_CHARS


def test_rust_yake_keywords_agree_with_python_yake_on_real_posts() -> None:
    """offline-rules-2 keywords (Rust YAKE) overlap the Python YAKE ones on real posts (measured 0.84)."""
    _require_nktkln()
    from bench.keyword_overlap import overlap, real_posts

    found = overlap(real_posts(800))
    assert found.posts == 800
    assert found.jaccard >= 0.75
    assert found.top3 >= 0.75
    assert found.identical < 1.0  # the comparison really ran two rankers
