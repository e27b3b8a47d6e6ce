# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).

"""Readable topic labels: channel boilerplate (signature lines, footers) never names a topic."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from telethon.extensions import markdown

from tests.conftest import need
from tg_parser.processing.text import clean_text
from tg_parser.topics import TopicInput, build_topics
from tg_parser.topics import boilerplate as boilerplate_module
from tg_parser.topics import build as build_module
from tg_parser.topics.boilerplate import MIN_POSTS, MIN_SHARE, Boilerplate, normalise
from tg_parser.topics.label import TermCounts, label_stems, topic_terms
from tg_parser.topics.vectorize import Analyzer, tokenize

if TYPE_CHECKING:
    from tg_parser.domain import Topic

NKTKLN_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "nktkln"
MASH = "1001117628569_messages.json"
SHOT = "1001100158992_messages.json"
TOPOR = "1001237513492_messages.json"
MOSCOW_LIVE = "1001747110091_messages.json"
PYTHON_LIBRARY = "1001138587070_messages.json"
RIA = "1001101170442_messages.json"
FOOTER_CHANNELS = (MASH, SHOT, TOPOR, MOSCOW_LIVE, PYTHON_LIBRARY)
# Words of those channels' signature lines; before boilerplate removal they named topics
# ("подписываться, mash, shot", "топор, подписаться, отмечаться").
FOOTER_WORDS = {
    "подписаться",
    "подписываться",
    "mash",
    "shot",
    "топор",
    "зеркало",
    "кибертопор",
}

SPACE = "ракета запуск орбита спутник космос станция астронавт луна марс телескоп"
FOOD = "рецепт тесто духовка сахар мука масло пирог сковорода соль варенье"
CARS = "мотор колесо бензин трасса водитель руль скорость шина кузов гараж"


def _channel_texts(name: str) -> list[str]:
    need(NKTKLN_DIR.is_dir(), f"real channel posts {NKTKLN_DIR} are missing (see shared/data/README.md)")
    posts = json.loads((NKTKLN_DIR / name).read_text(encoding="utf-8"))
    texts = (clean_text(markdown.parse(p.get("text") or "")[0]) for p in posts)
    return [t for t in texts if t]


def _letters(i: int) -> str:
    """A word made of letters only that differs for every ``i`` (digits are normalised away)."""
    out = ""
    while True:
        out += "абвгдежзиклмнопрстуф"[i % 20]
        i //= 20
        if not i:
            return out


def _unique_posts(n: int) -> list[str]:
    return [f"Новость {_letters(i)} про {_letters(i + 7)} и {_letters(i + 13)}." for i in range(n)]


@pytest.mark.parametrize(
    ("name", "footers"),
    [
        (MASH, ["❗️ Подписывайся на Mash", "❗ Подписывайся на Mash"]),
        (SHOT, ["🎯 Подписывайся на SHOT", "📩 Прислать новость"]),
        (TOPOR, ["👉 Топор +18. Подписаться", "🕹Кибертопор — Подписаться", "👉 Топор Live. Подписаться"]),
        (MOSCOW_LIVE, ["😄— Подписаться"]),
        (PYTHON_LIBRARY, ["🔗 Зеркало", "🔗 Читать статью"]),
    ],
)
def test_real_channel_footers_are_boilerplate(name: str, footers: list[str]) -> None:
    """The signature lines of real channels are found from their posts alone."""
    found = Boilerplate.detect(_channel_texts(name))
    for footer in footers:
        assert footer in found, footer


@pytest.mark.parametrize("name", [MASH, SHOT, TOPOR, MOSCOW_LIVE])
def test_real_news_headlines_are_not_boilerplate(name: str) -> None:
    """No first line of a multi-line news post is boilerplate, though the channel signs every post.

    (Библиотека питониста is left out: it reposts whole promotional posts 13-21 times, and
    their lines are boilerplate by the rule.)
    """
    texts = _channel_texts(name)
    found = Boilerplate.detect(texts)
    assert found.hashes
    headlines = [t.split("\n", 1)[0] for t in texts if "\n" in t]
    assert len(headlines) >= 600
    assert [h for h in headlines if h in found] == []
    kept = [found.remove(t) for t in texts]
    assert all(
        h in k
        for h, k in zip(headlines, (k for t, k in zip(texts, kept, strict=True) if "\n" in t), strict=True)
    )


def test_news_channel_without_signature_has_no_boilerplate() -> None:
    """РИА Новости signs nothing: no line of its 1,000 posts recurs often enough to count."""
    texts = _channel_texts(RIA)
    assert len(texts) >= 900
    assert Boilerplate.detect(texts).hashes == frozenset()


def test_split_removes_footer_lines_and_keeps_the_news() -> None:
    """A footer line leaves the label text; the rest of the post stays, in order."""
    posts = [
        f"{t}\nВторая строка {_letters(i)}.\n\n❗️ Подписывайся на Mash"
        for i, t in enumerate(_unique_posts(40))
    ]
    found = Boilerplate.detect(posts)
    kept, removed = found.split(posts[3])
    assert kept == posts[3].split("\n\n", 1)[0]
    assert removed == "❗️ Подписывайся на Mash"
    assert found.remove("Новость без подписи.") == "Новость без подписи."


def test_final_sentence_of_a_post_is_boilerplate() -> None:
    """A signature glued to the post's last line as its final sentence is found and cut off."""
    posts = [f"{t} Подписаться на канал: https://t.me/+x{i}" for i, t in enumerate(_unique_posts(50))]
    found = Boilerplate.detect(posts)
    assert "Подписаться на канал" in found
    assert found.split(posts[7]) == (_unique_posts(50)[7], f"Подписаться на канал: https://t.me/+x{7}")


def test_normalisation_ignores_case_emoji_links_and_digits() -> None:
    """Variants of one footer compare equal after normalisation."""
    assert (
        normalise("❗️ Подписывайся на Mash")
        == normalise("❗ подписывайся  на MASH!")
        == "подписывайся на mash"
    )
    assert normalise("🔍 Подписывайся https://t.me/+7_4at4epQ7tjNjYy") == "подписывайся"
    assert normalise("👉 Топор +18. Подписаться") == "топор подписаться"
    assert normalise("📩 🔗 123 https://example.com") == ""


@pytest.mark.parametrize(
    ("posts", "with_footer", "found"),
    [
        (2000, MIN_POSTS, True),  # 10 posts = 0.5 %: both rules hold
        (2000, MIN_POSTS - 1, False),  # 9 posts: under MIN_POSTS though over 0.45 %
        (400, MIN_POSTS, True),  # 2.5 %, 10 posts
        (400, MIN_POSTS - 1, False),  # 2.25 % but 9 posts
        (4000, 20, True),  # exactly 0.5 %
        (4000, 19, False),  # 0.475 %: under MIN_SHARE though 19 >= 10 posts
    ],
)
def test_thresholds_share_and_posts(posts: int, with_footer: int, found: bool) -> None:  # noqa: FBT001
    """A line is boilerplate only in >= MIN_SHARE of the posts and in >= MIN_POSTS posts."""
    assert MIN_SHARE == 0.005
    assert MIN_POSTS == 10
    texts = _unique_posts(posts)
    step = posts // with_footer
    for i in range(with_footer):
        texts[i * step] += "\n📩 Прислать новость"
    detected = Boilerplate.detect(texts)
    assert ("📩 Прислать новость" in detected) is found
    assert detected.hashes == ({boilerplate_module.line_hash("прислать новость")} if found else set())


def test_words_mostly_in_boilerplate_are_no_label_words() -> None:
    """A word in more posts' boilerplate than own text is dropped; one mostly in own text stays."""
    analyzer = Analyzer()
    texts = ["подписчик ракета запуск", "подписчик ракета орбита", "ракета запуск орбита"]
    stems = tokenize(texts, analyzer=analyzer).stems
    labels = np.zeros(3, dtype=np.int64)
    subscriber = analyzer.stem("подписчик")
    assert "подписчик" in topic_terms(stems, labels, analyzer=analyzer)[0]
    kept = topic_terms(stems, labels, analyzer=analyzer, boilerplate={subscriber: 2})[0]
    dropped = topic_terms(stems, labels, analyzer=analyzer, boilerplate={subscriber: 3})[0]
    assert "подписчик" in kept
    assert "подписчик" not in dropped
    assert "ракета" in dropped


def test_label_stems_drop_footer_and_footer_keywords() -> None:
    """Label stems skip footer lines and keywords drawn from them; posts without a footer keep theirs."""
    texts = [f"{t}\n👉 Топор +18. Подписаться" for t in _unique_posts(30)] + ["Ракета ушла на орбиту."]
    keywords = [("Подписаться", "Новость")] * 30 + [("Ракета",)]
    analyzer = Analyzer()
    whole = tokenize(["\n".join([t, *kw]) for t, kw in zip(texts, keywords, strict=True)], analyzer=analyzer)
    stems, in_boilerplate = label_stems(
        list(zip(texts, keywords, strict=True)),
        whole.stems,
        boilerplate=Boilerplate.detect(texts),
        analyzer=analyzer,
    )
    footer = {analyzer.stem("топор"), analyzer.stem("подписаться")}
    assert in_boilerplate == dict.fromkeys(footer, 30)
    assert all(not footer & set(s) for s in stems)
    assert all(analyzer.stem("новость") in s for s in stems[:30])
    assert stems[30] is whole.stems[30]


def test_streamed_counts_equal_topic_terms_with_boilerplate() -> None:
    """Batch-by-batch keywords with boilerplate counts equal the all-at-once ones."""
    texts = [
        f"{' '.join([SPACE, FOOD, CARS][i % 3].split()[i % 4 : i % 4 + 5])} новость {_letters(i)}"
        + ("\n❗️ Подписывайся на Mash" if i % 5 < 2 else "")
        for i in range(120)
    ]
    labels = np.asarray([i % 3 for i in range(120)], dtype=np.int64)
    found = Boilerplate.detect(texts)
    a = Analyzer()
    stems, in_boilerplate = label_stems(
        [(t, ()) for t in texts], tokenize(texts, analyzer=a).stems, boilerplate=found, analyzer=a
    )
    whole = topic_terms(stems, labels, analyzer=a, boilerplate=in_boilerplate)
    counts, b = TermCounts(), Analyzer()
    for start in range(0, 120, 50):
        part = texts[start : start + 50]
        batch, batch_boilerplate = label_stems(
            [(t, ()) for t in part], tokenize(part, analyzer=b).stems, boilerplate=found, analyzer=b
        )
        counts.add(batch, labels[start : start + 50], boilerplate=batch_boilerplate)
    assert counts.terms(analyzer=b) == whole
    assert not {"mash", "подписываться"} & {w for words in whole.values() for w in words}


@pytest.mark.parametrize("sampled", [False, True])
def test_footer_words_never_label_synthetic_topics(monkeypatch: pytest.MonkeyPatch, sampled: bool) -> None:  # noqa: FBT001
    """On both the whole-channel and the sampled path, a footer in 40 % of posts names no topic."""
    if sampled:
        monkeypatch.setattr(build_module, "FIT_SAMPLE", 150)
        monkeypatch.setattr(build_module, "ASSIGN_BATCH", 70)
    rng = np.random.default_rng(3)
    items = []
    for i in range(300):
        words = " ".join(rng.choice([SPACE, FOOD, CARS][i % 3].split(), size=6, replace=False))
        footer = "\n\n❗️ Подписывайся на Mash" if i % 5 < 2 else ""
        items.append(TopicInput(i + 1, f"{words}{footer}", keywords=("Mash",) if footer else ()))
    topics = build_topics(items, channel_key="c", seed=5)
    words = {w for t in topics for w in [*t.label.split(", "), *t.keywords]}
    assert not {"mash", "подписываться"} & words
    assert {"ракета", "пирог", "мотор"} <= words or len(topics) < 3


@pytest.fixture(scope="module")
def footer_channel_topics() -> tuple[list[Topic], list[Topic]]:
    """Five real channels with footers as one channel: topics with and without boilerplate removal."""
    items = [
        TopicInput(n * 1_000_000 + i, text)
        for n, name in enumerate(FOOTER_CHANNELS)
        for i, text in enumerate(_channel_texts(name))
    ]
    with_removal = build_topics(items, channel_key="real")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Boilerplate, "detect", classmethod(lambda cls, _texts: cls(frozenset())))
        without = build_topics(items, channel_key="real")
    return with_removal, without


def test_real_labels_have_no_channel_footer_words(
    footer_channel_topics: tuple[list[Topic], list[Topic]],
) -> None:
    """Labels of real footer-signing channels hold no footer word ("подписаться", "mash", "топор", …)."""
    topics, without = footer_channel_topics
    before = Counter(w for t in without for w in t.label.split(", ") if w.lower() in FOOTER_WORDS)
    assert before, "the footers named topics before their removal (else this test proves nothing)"
    for topic in topics:
        assert not FOOTER_WORDS & {w.lower() for w in topic.label.split(", ")}, topic.label
        assert not FOOTER_WORDS & {w.lower() for w in topic.keywords}, topic.keywords
        assert len(topic.label.split(", ")) == 3


def test_boilerplate_changes_labels_only(footer_channel_topics: tuple[list[Topic], list[Topic]]) -> None:
    """Removing boilerplate for labels leaves every topic's ids and members as they were."""
    topics, without = footer_channel_topics
    assert [(t.topic_id, t.member_ids) for t in topics] == [(t.topic_id, t.member_ids) for t in without]
    assert [t.label for t in topics] != [t.label for t in without]
