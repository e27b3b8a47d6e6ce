# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
# ruff: noqa: RUF002 - Cyrillic text is the point of these tests
"""Topicize at scale: per-word n-gram counts, assignment in the fitted space, bounded memory."""

from __future__ import annotations

import random
import tracemalloc
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from tg_parser.topics import TopicInput, build_topics, build_topics_from
from tg_parser.topics import build as build_module
from tg_parser.topics.vectorize import (
    CHAR_FEATURES,
    MAX_CHARS_PER_POST,
    Analyzer,
    Tokens,
    WordGrams,
    fit_embedding,
    tokenize,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

_SUBJECTS = (
    "снег ветер гололед синоптики мороз метель погода прогноз температура осадки",
    "python код тесты библиотека интерпретатор функция модуль типизация asyncio pandas",
    "рубль доллар биржа нефть инфляция ставка банк кредит акции облигации",
)


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = _SUBJECTS[i % 3].split()
        out.append(
            " ".join(rng.choice(words) for _ in range(8)) + f" пост{i % 50} Ёлка https://t.me/x/{i} @user_{i}"
        )
    return out


def _reference_counts(tokens: Tokens) -> sparse.csr_matrix:
    """What the first version computed: char_wb hashing of the joined words, cut to MAX_CHARS_PER_POST."""
    vectorizer = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        n_features=CHAR_FEATURES,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )
    return sparse.csr_matrix(vectorizer.transform([" ".join(w)[:MAX_CHARS_PER_POST] for w in tokens.words]))


def _same(a: sparse.csr_matrix, b: sparse.csr_matrix) -> bool:
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def test_word_grams_equal_hashing_of_the_whole_post() -> None:
    """Per-word n-gram counts equal HashingVectorizer on the joined post, long posts cut mid-word included."""
    texts = [*_texts(60, 1), "", "длинноеслово " * 400, "и в на"]
    tokens = tokenize(texts, analyzer=Analyzer())
    assert len(" ".join(tokens.words[61])) > MAX_CHARS_PER_POST
    counts, table = WordGrams.empty().post_counts(tokens)
    assert _same(counts, _reference_counts(tokens))
    # A table that already knows some words (the fit sample's) gives the same counts.
    _, known = WordGrams.empty().post_counts(Tokens(words=tokens.words[:10], stems=tokens.stems[:10]))
    assert 0 < len(known.index) < len(table.index)
    assert _same(known.post_counts(tokens)[0], counts)
    assert _same(table.post_counts(tokens)[0], counts)


def test_analyzer_drops_links_mentions_mail_and_stop_words() -> None:
    """Content words only: no URL, e-mail or @mention pieces, no stop words, ё read as е."""
    words = Analyzer().words(
        "Ёлка и ЁЖИК: https://t.me/chan/1 www.site.ru mail@host.com @username котором Python"
    )
    assert words == ["елка", "ежик", "python"]
    assert Analyzer().words("снег без ссылок") == ["снег", "ссылок"]


def test_assignment_gives_the_vectors_of_the_fit() -> None:
    """Posts mapped by the fitted model land where the fit put them (assignment equals a full transform)."""
    texts = _texts(300, 2)
    vectors, model = fit_embedding(tokenize(texts, analyzer=Analyzer()), seed=3)
    assert model is not None
    again = np.concatenate(
        [model.transform(tokenize(texts[s : s + 70], analyzer=Analyzer())) for s in range(0, 300, 70)]
    )
    np.testing.assert_allclose(again, vectors, atol=1e-5)


class _GeneratedSource:
    """A channel of ``n`` generated posts read lazily, like the database source (nothing held per post)."""

    def __init__(self, n: int) -> None:
        self._n = n

    def message_ids(self) -> Sequence[int]:
        return range(1, self._n + 1)

    def _text(self, mid: int) -> str:
        rng = random.Random(mid)
        words = _SUBJECTS[mid % 3].split()
        return " ".join(rng.choice(words) for _ in range(8)) + f" пост{mid}"

    def batches(
        self, *, wanted: Collection[int] | None, size: int
    ) -> Iterator[Sequence[tuple[int, str, Sequence[str]]]]:
        batch: list[tuple[int, str, Sequence[str]]] = []
        for mid in range(1, self._n + 1):
            if wanted is None or mid in wanted:
                batch.append((mid, self._text(mid), ()))
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def _peak_bytes(n: int) -> int:
    tracemalloc.start()
    try:
        topics = build_topics_from(_GeneratedSource(n), channel_key="c", seed=1)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(t.size for t in topics) == n
    return peak


def test_sampled_topicize_memory_does_not_grow_with_the_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the fit sample, 8x the posts peak within 1.3x the memory (measured +1.4%; vectors held: +50%)."""
    monkeypatch.setattr(build_module, "FIT_SAMPLE", 300)
    monkeypatch.setattr(build_module, "ASSIGN_BATCH", 200)
    _peak_bytes(1_000)  # first use: one-time caches (stop words, imports) are not the channel's
    small = _peak_bytes(1_000)
    large = _peak_bytes(8_000)
    assert large < 1.3 * small, (small, large)


def test_sampled_topicize_keeps_every_post_once_and_splits_by_subject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fit on a sample, assign the rest: every post in exactly one topic, topics follow the subjects."""
    monkeypatch.setattr(build_module, "FIT_SAMPLE", 200)
    monkeypatch.setattr(build_module, "ASSIGN_BATCH", 90)
    source = _GeneratedSource(900)
    topics = build_topics_from(source, channel_key="c", seed=4)
    members = sorted(m for t in topics for m in t.member_ids)
    assert members == list(range(1, 901))
    purity = sum(max(sum(1 for m in t.member_ids if m % 3 == s) for s in range(3)) for t in topics)
    assert purity / 900 > 0.9
    assert 3 <= len(topics) <= 40


def test_database_source_gives_the_topics_of_the_list(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Topicize read from the database (sample by id, then all) equals topicize of the posts as a list."""
    from sqlalchemy import insert, select

    from tg_parser.domain import Message
    from tg_parser.storage import channels, documents, messages
    from tg_parser.storage.session import session_scope
    from tg_parser.storage.tables import DocumentRow, MessageRow

    monkeypatch.setattr(build_module, "FIT_SAMPLE", 150)
    monkeypatch.setattr(build_module, "ASSIGN_BATCH", 80)
    monkeypatch.setattr(documents, "WANTED_IDS_PER_QUERY", 40)
    texts = _texts(500, 5)
    when = datetime(2024, 5, 1, tzinfo=UTC)
    with session_scope(sqlite_url) as s:
        pk = channels.upsert_channel(
            s,
            key="c",
            telegram_id=1,
            username=None,
            title="c",
            chat_type=None,
            source_kind="export",
            source="{}",
        )
        batch = [Message(channel_id=1, message_id=3 * i + 1, date=when, text=t) for i, t in enumerate(texts)]
        messages.upsert_messages(s, channel_pk=pk, messages=batch)
        pks = {int(m): int(p) for m, p in s.execute(select(MessageRow.message_id, MessageRow.id))}
        rows = [
            {
                "message_pk": pks[3 * i + 1],
                "channel_id": pk,
                "content_hash": "h",
                "processor": "offline",
                "model": "m",
                "prompt_version": "1",
                "clean_text": t,
                "keywords": ["марс"] if i % 50 == 0 else [],
            }
            for i, t in enumerate(texts)
        ]
        s.execute(insert(DocumentRow), rows)
    items = [TopicInput(3 * i + 1, t, keywords=("марс",) if i % 50 == 0 else ()) for i, t in enumerate(texts)]
    with session_scope(sqlite_url) as s:
        from_db = build_topics_from(documents.TopicPosts(s, channel_pk=pk), channel_key="c", seed=2)
    assert from_db == build_topics(items, channel_key="c", seed=2)
    assert sum(t.size for t in from_db) == 500
