"""The streaming export: plain-column lines, streamed topics.json, umask file modes, sampled topicize."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from tests.export_data import fill_channel
from tg_parser.domain import Entity, EntityType, ForumTopic, Media, Message, Reaction, Topic
from tg_parser.export import atomic_writer, document_line, document_record, write_channel_export
from tg_parser.export.writer import entity_lists, write_topics_json
from tg_parser.storage import session_scope, topics
from tg_parser.topics import TopicInput, build_topics, build_topics_from
from tg_parser.topics import build as build_module
from tg_parser.topics.label import TermCounts, topic_terms
from tg_parser.topics.vectorize import Analyzer, tokenize


class _Row(NamedTuple):
    message_id: int
    date: datetime
    edited: datetime | None
    text: str
    entities: list[dict[str, Any]] | None
    author: str | None
    reply_to: int | None
    forwarded_from: str | None
    media_type: str | None
    language: str | None
    summary: str
    keywords: list[str] | None
    processor: str
    model: str
    topic_key: str | None
    topic_label: str | None
    media: dict[str, Any] | None = None
    views: int | None = None
    forwards: int | None = None
    reactions: list[dict[str, Any]] | None = None
    forum_topic_id: int | None = None
    forum_topic_title: str | None = None


def _random_depth(rng: random.Random) -> dict[str, Any]:
    """Issue-13 fields of a random post: media, counts, reactions, forum topic."""
    media = rng.choice(
        [
            None,
            Media(type="photo", width=10, height=20, size_bytes=5, path="photos/p 1.jpg"),
            Media(type="document"),
        ]
    )
    reactions = tuple(
        Reaction(emoji=e, count=rng.randint(0, 9)) for e in rng.sample(["👍", "custom:1", "paid", '"'], 2)
    )
    return {
        "media": media,
        "views": rng.choice([None, 7]),
        "forwards": rng.choice([None, 0]),
        "reactions": rng.choice([(), reactions]),
        "forum_topic": rng.choice([None, ForumTopic(id=3, title='Q&"A'), ForumTopic(id=4)]),
    }


def _random_entities(rng: random.Random) -> tuple[Entity, ...]:
    kinds = [EntityType.LINK, EntityType.TEXT_LINK, EntityType.HASHTAG, EntityType.MENTION, EntityType.BOLD]
    kinds.append(EntityType.MENTION_NAME)
    out = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.choice(kinds)
        text = rng.choice(["#a", "@b", "https://x.org", "", 'т"ек\\ст\n', "#a"])
        url = rng.choice([None, "https://y.org", "https://x.org"])
        out.append(Entity(type=kind, offset=0, length=len(text), text=text, url=url))
    return tuple(out)


def test_document_line_is_byte_identical_to_the_pydantic_record() -> None:
    """A line from plain columns equals json.dumps of document_record for random posts."""
    rng = random.Random(3)
    depth_rng = random.Random(4)
    for i in range(300):
        entities = _random_entities(rng)
        message = Message(
            channel_id=1001,
            message_id=i + 1,
            date=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            edited=rng.choice([None, datetime(2024, 5, 2, tzinfo=UTC)]),
            text=rng.choice(["", 'Привет \u2028 "мир"\t\x01', "plain"]),
            entities=entities,
            author=rng.choice([None, "Автор"]),
            **_random_depth(depth_rng),
        )
        common: dict[str, Any] = {
            "language": "ru",
            "summary": "s",
            "processor": "offline",
            "model": "m",
            "topic_id": rng.choice([None, "c:topic-1"]),
            "topic_label": None,
        }
        rec = document_record(
            channel_key="c1001",
            username=rng.choice([None, "durov"]),
            telegram_id=1001,
            message=message,
            keywords=["k", "ключ"],
            **common,
        )
        row = _Row(
            message_id=message.message_id,
            date=message.date,
            edited=message.edited,
            text=message.text,
            entities=[e.model_dump(mode="json", exclude_none=True) for e in entities],
            author=message.author,
            reply_to=None,
            forwarded_from=None,
            media_type=None,
            language="ru",
            summary="s",
            keywords=["k", "ключ"],
            processor="offline",
            model="m",
            topic_key=common["topic_id"],
            topic_label=None,
            # As the database gives them back: media keys in jsonb's own order, reactions as a list.
            media=dict(sorted(message.media.json_dict().items())) if message.media else None,
            views=message.views,
            forwards=message.forwards,
            reactions=[{"emoji": r.emoji, "count": r.count} for r in message.reactions],
            forum_topic_id=message.forum_topic.id if message.forum_topic else None,
            forum_topic_title=message.forum_topic.title if message.forum_topic else None,
        )
        username = "durov" if rec["metadata"]["source"].startswith("https://t.me/durov/") else None
        expected = json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"
        assert document_line(row, channel_key="c1001", username=username, telegram_id=1001) == expected
        links, tags, mentions = entity_lists(row.entities)
        assert (links, tags, mentions) == (message.links(), message.hashtags(), message.mentions())


@pytest.mark.parametrize("n_topics", [0, 1, 3])
def test_streamed_topics_json_matches_json_dump(tmp_path: Path, n_topics: int) -> None:
    """topics.json written member by member equals json.dump(indent=2) of the whole payload."""
    topics = [
        Topic(
            topic_id=f"c:topic-{i}",
            label='при"вет',
            keywords=[] if i == 1 else ["a", "б"],
            summary=None if i else "s",
            member_ids=list(range(i * 3)),
            fitted_at=datetime(2026, 12, 2, 15, i, tzinfo=UTC) if i else None,
            fit="incremental" if i == 2 else ("full" if i else None),
        )
        for i in range(n_topics)
    ]
    payload = {
        "format_version": 1,
        "channel": 'c"x',
        "title": "Т",
        "topics": [
            {
                "id": t.topic_id,
                "label": t.label,
                "keywords": t.keywords,
                "summary": t.summary,
                "size": t.size,
                "fitted_at": t.fitted_at.strftime("%Y-%m-%dT%H:%M:%SZ") if t.fitted_at else None,
                "fit": t.fit,
                "member_ids": [f'c"x:{m}' for m in t.member_ids],
            }
            for t in topics
        ],
    }
    path = tmp_path / "topics.json"
    with atomic_writer(path) as fh:
        assert write_topics_json(fh, channel_key='c"x', title="Т", topics=topics) == n_topics
    assert path.read_text(encoding="utf-8") == json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def test_export_files_get_the_umask_mode(tmp_path: Path) -> None:
    """Under umask 022 an exported file is 0644 (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        with atomic_writer(tmp_path / "documents.ndjson") as fh:
            fh.write("{}\n")
    finally:
        os.umask(old)
    assert (tmp_path / "documents.ndjson").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["documents.ndjson"]


_SUBJECTS = [
    "погода дождь ветер гроза прогноз синоптики",
    "футбол матч гол команда тренер чемпионат",
    "биржа акции доллар рубль инфляция банк",
]


def _corpus(n: int, seed: int) -> list[TopicInput]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        words = _SUBJECTS[i % 3].split()
        items.append(TopicInput(i * 7 + 1, " ".join(rng.choice(words) for _ in range(8)) + f" пост{i % 50}"))
    return items


def test_term_counts_equal_topic_terms() -> None:
    """Keywords counted batch by batch equal those of the all-at-once c-TF-IDF."""
    texts = [t.text for t in _corpus(120, 1)]
    labels = np.asarray([i % 3 for i in range(120)], dtype=np.int64)
    whole = topic_terms(tokenize(texts, analyzer=(a := Analyzer())).stems, labels, analyzer=a)
    counts, b = TermCounts(), Analyzer()
    for start in range(0, 120, 50):
        counts.add(tokenize(texts[start : start + 50], analyzer=b).stems, labels[start : start + 50])
    assert counts.terms(analyzer=b) == whole


def test_sampled_topicize_is_deterministic_and_order_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the fit sample, topics depend only on the posts and seed, and still split by subject."""
    monkeypatch.setattr(build_module, "FIT_SAMPLE", 150)
    monkeypatch.setattr(build_module, "ASSIGN_BATCH", 70)
    items = _corpus(600, 2)
    first = build_topics(items, channel_key="c", seed=5)
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    assert build_topics(shuffled, channel_key="c", seed=5) == first
    assert sum(t.size for t in first) == 600
    by_subject = {m: (m - 1) // 7 % 3 for m in (i.message_id for i in items)}
    purity = sum(max(sum(1 for m in t.member_ids if by_subject[m] == s) for s in range(3)) for t in first)
    assert purity / 600 > 0.9
    assert build_topics_from is not None


def test_topic_members_stream_equals_list_topics_in_any_order(sqlite_url: str) -> None:
    """Topics read in listed order (one shared query) or out of it give list_topics' members and sizes."""
    with session_scope(sqlite_url) as session:
        pk, _key = fill_channel(session, posts=200, seed=5, username=None)
    with session_scope(sqlite_url) as session:
        expected = [(t.topic_id, t.size, t.member_ids) for t in topics.list_topics(session, channel_pk=pk)]
        assert all(size for _, size, _ in expected)
        listed = topics.list_topic_summaries(session, channel_pk=pk)
        assert [(t.topic_id, t.size, list(t.member_ids)) for t in listed] == expected
        again = topics.list_topic_summaries(session, channel_pk=pk)
        backwards = [(t.topic_id, t.size, list(t.member_ids)) for t in reversed(again)]
        assert backwards[::-1] == expected
        skipping = topics.list_topic_summaries(session, channel_pk=pk)
        assert list(skipping[1].member_ids) == expected[1][2]
        assert list(skipping[0].member_ids) == expected[0][2]
        assert list(skipping[2].member_ids) == expected[2][2]


def test_byte_chunks_are_written_verbatim_and_counted(tmp_path: Path) -> None:
    """Chunks of whole lines (the PostgreSQL path) land as they are, and every line is counted."""
    chunks = [b'{"id":"c:1"}\n{"id":"c:2","t":"\xe2\x80\xa8"}\n', b'{"id":"c:3"}\n']
    old = os.umask(0o022)
    try:
        result = write_channel_export(out_dir=tmp_path, channel_key="c", title="t", records=chunks, topics=[])
    finally:
        os.umask(old)
    assert result.documents == 3
    assert result.documents_path.read_bytes() == b"".join(chunks)
    assert result.documents_path.stat().st_mode & 0o777 == 0o644
