"""Permalinks, channel keys and the atomic, deterministic export writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tg_parser.domain import Entity, EntityType, Message, Topic, channel_key, normalise_username, permalink
from tg_parser.domain.export_keys import METADATA_KEYS
from tg_parser.export import atomic_writer, document_record, write_channel_export


def test_permalink_public_and_private_forms() -> None:
    """Public posts link by username; private ones by /c/<id> without the -100 prefix."""
    assert permalink(username="durov", channel_id=1, message_id=5) == "https://t.me/durov/5"
    assert permalink(username=None, channel_id=-1001878264527, message_id=9) == "https://t.me/c/1878264527/9"
    assert permalink(username=None, channel_id=1878264527, message_id=9) == "https://t.me/c/1878264527/9"


def test_username_forms_are_normalised_and_bad_ones_refused() -> None:
    """@name, t.me links and bare names give one username; junk is refused."""
    assert normalise_username("@Durov") == "Durov"
    assert normalise_username("https://t.me/durov/") == "durov"
    assert channel_key(username="Durov", telegram_id=1) == "durov"
    assert channel_key(username=None, telegram_id=-1001878264527) == "c1878264527"
    with pytest.raises(ValueError, match="not a Telegram username"):
        normalise_username("no spaces allowed")


def _post() -> Message:
    text = "See https://x.org and docs #python @guido"
    return Message(
        channel_id=42,
        message_id=7,
        date=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        text=text,
        entities=(
            Entity(type=EntityType.LINK, offset=4, length=15, text="https://x.org"),
            Entity(type=EntityType.TEXT_LINK, offset=24, length=4, text="docs", url="https://docs.x.org"),
            Entity(type=EntityType.HASHTAG, offset=29, length=7, text="#python"),
            Entity(type=EntityType.MENTION, offset=37, length=6, text="@guido"),
        ),
    )


def test_document_record_carries_entities_and_permalink() -> None:
    """Links (text_link hrefs too), hashtags, mentions, UTC date and the permalink are in metadata."""
    rec = document_record(
        channel_key="c42",
        username=None,
        telegram_id=42,
        message=_post(),
        language="en",
        summary="s",
        keywords=["k"],
        processor="offline",
        model="m",
        topic_id=None,
        topic_label=None,
    )
    meta = rec["metadata"]
    assert rec["id"] == "c42:7"
    assert meta["links"] == ["https://x.org", "https://docs.x.org"]
    assert meta["hashtags"] == ["#python"]
    assert meta["mentions"] == ["@guido"]
    assert meta["date"] == "2024-05-01T10:00:00Z"
    assert meta["source"] == "https://t.me/c/42/7"
    # LlamaIndex reads id_ (docs/export-format.md); its exclusions name every other metadata key.
    assert rec["id_"] == rec["id"]
    assert list(rec) == [
        "id",
        "id_",
        "text",
        "metadata",
        "excluded_embed_metadata_keys",
        "excluded_llm_metadata_keys",
    ]
    assert tuple(meta) == METADATA_KEYS
    assert set(meta) - set(rec["excluded_embed_metadata_keys"]) == {"channel", "date", "topic_label"}
    assert set(meta) - set(rec["excluded_llm_metadata_keys"]) == {
        "source",
        "channel",
        "date",
        "author",
        "topic_label",
    }


def test_content_hash_changes_with_text_not_with_reactions() -> None:
    """An edit changes the content hash; a new view count does not."""
    post = _post()
    assert post.model_copy(update={"views": 99}).content_hash() == post.content_hash()
    assert post.model_copy(update={"text": post.text + "!"}).content_hash() != post.content_hash()


def test_export_is_deterministic_and_topics_list_document_ids(tmp_path: Path) -> None:
    """The same input writes byte-identical files; topics.json lists document ids."""
    topic = Topic(topic_id="c42:topic-1", label="python", keywords=["python"], member_ids=[7])
    rec = document_record(
        channel_key="c42",
        username=None,
        telegram_id=42,
        message=_post(),
        language="en",
        summary="s",
        keywords=[],
        processor="offline",
        model="m",
        topic_id=topic.topic_id,
        topic_label=topic.label,
    )
    a = write_channel_export(
        out_dir=tmp_path / "a", channel_key="c42", title="t", records=[rec], topics=[topic]
    )
    b = write_channel_export(
        out_dir=tmp_path / "b", channel_key="c42", title="t", records=[rec], topics=[topic]
    )
    assert a.documents_path.read_bytes() == b.documents_path.read_bytes()
    assert json.loads(a.topics_path.read_text())["topics"][0]["member_ids"] == ["c42:7"]


def test_atomic_writer_leaves_the_old_file_on_error(tmp_path: Path) -> None:
    """A write that fails half-way leaves the previous file intact and no temporary file."""
    target = tmp_path / "documents.ndjson"
    target.write_text("old\n")

    def write_half() -> None:
        with atomic_writer(target) as fh:
            fh.write("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_half()
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["documents.ndjson"]
