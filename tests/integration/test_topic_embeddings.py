"""Provider embeddings in topicize (TOPIC_EMBEDDINGS), on SQLite and PostgreSQL.

The OpenAI SDK talks to the loopback server, whose embeddings are hashed bags
of words (similar posts, similar vectors). Real Russian posts of two channels
of ``shared/data/nktkln`` are topicized: vectors are stored once per post and
model, a re-run embeds nothing, new posts alone are embedded, every request is
an ``llm_calls`` row, and a change of embedding space re-fits the channel.
``auto`` falls back to the offline space when the provider keeps failing;
``provider`` fails the step.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select
from structlog.testing import capture_logs
from telethon.extensions import markdown

from tests.conftest import need
from tests.integration.llm_servers import EMBEDDING_DIM, FakeLLMServer
from tg_parser.config import Settings, load_settings
from tg_parser.domain import Message
from tg_parser.errors import ConfigurationError, PermanentError
from tg_parser.processing.text import clean_text
from tg_parser.services.topic_embeddings import EMBED_BATCH
from tg_parser.services.topicize import topicize
from tg_parser.storage import channels, dead_letters, messages, session_scope, topic_fits
from tg_parser.storage.tables import DocumentRow, LLMCallRow, MessageRow, PostEmbeddingRow
from tg_parser.topics.provider_block import MAX_PROVIDER_DIMS
from tg_parser.topics.stable import TopicModel

pytestmark = pytest.mark.integration

NKTKLN_DIR = Path(__file__).parents[2].parent / "shared" / "data" / "nktkln"
CHANNELS = ("1001000724666_messages.json", "1001394050290_messages.json")
KEY = "emb"
MODEL = "text-embedding-3-small"
POSTS = 150
"""Posts of the first topicize: three embeddings requests of at most 64 posts."""


@pytest.fixture(scope="module")
def real_posts() -> list[tuple[int, str]]:
    """``(message_id, clean text)`` of 160 posts with text of two real channels, ids made unique."""
    need(
        all((NKTKLN_DIR / name).exists() for name in CHANNELS),
        f"real channel posts {NKTKLN_DIR} are missing (see shared/data/README.md)",
    )
    out = []
    for n, name in enumerate(CHANNELS):
        for post in json.loads((NKTKLN_DIR / name).read_text(encoding="utf-8")):
            text = clean_text(markdown.parse(post.get("text") or "")[0])
            if text.strip():
                out.append((n * 1_000_000 + int(post["message_id"]), text))
    out.sort()
    picked = np.random.default_rng(7).choice(len(out), size=POSTS + 10, replace=False)
    return sorted(out[i] for i in picked.tolist())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of either kind."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def server() -> Any:
    """The loopback OpenAI server."""
    fake = FakeLLMServer("openai").start()
    yield fake
    fake.stop()


def _settings(url: str, server: FakeLLMServer, **overrides: Any) -> Settings:
    return load_settings(
        database_url=url,
        retry_topics_max_attempts=2,
        retry_topics_backoff_base=0.1,
        retry_topics_jitter=0.0,
        **overrides,
        llm={
            "llm_provider": "openai",
            "llm_model": "gpt-4o-mini",
            "openai_api_key": "sk-test",
            "openai_base_url": server.base_url,
            "llm_timeout_s": 5.0,
        },
    )


def _add_posts(url: str, posts: list[tuple[int, str]]) -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    with session_scope(url) as s:
        pk = channels.upsert_channel(
            s,
            key=KEY,
            telegram_id=1,
            username=None,
            title=KEY,
            chat_type=None,
            source_kind="export",
            source="{}",
        )
        messages.upsert_messages(
            s,
            channel_pk=pk,
            messages=[Message(channel_id=1, message_id=m, date=when, text=t) for m, t in posts],
        )
        wanted = {m for m, _t in posts}
        pks = {
            int(m): int(p)
            for m, p in s.execute(
                select(MessageRow.message_id, MessageRow.id).where(MessageRow.channel_id == pk)
            )
            if int(m) in wanted
        }
        s.execute(
            insert(DocumentRow),
            [
                {
                    "message_pk": pks[m],
                    "channel_id": pk,
                    "content_hash": hashlib.sha256(t.encode()).hexdigest(),
                    "processor": "offline",
                    "model": "m",
                    "prompt_version": "1",
                    "clean_text": t,
                    "keywords": [],
                }
                for m, t in posts
            ],
        )


def _embedding_requests(server: FakeLLMServer) -> list[list[str]]:
    return [r.body["input"] for r in server.requests if r.path.endswith("/embeddings")]


def _stored(url: str) -> list[tuple[int, str, int, bytes]]:
    with session_scope(url) as s:
        rows = s.execute(
            select(
                PostEmbeddingRow.message_pk,
                PostEmbeddingRow.model,
                PostEmbeddingRow.dims,
                PostEmbeddingRow.vector,
            )
        ).all()
    return [(int(a), str(b), int(c), bytes(d)) for a, b, c, d in rows]


def _fit(url: str) -> tuple[TopicModel, dict[str, Any]]:
    with session_scope(url) as s:
        stored = topic_fits.load_fit(s, channel_pk=channels.get_channel(s, key=KEY).pk)
    assert stored is not None
    return TopicModel.loads(stored.model), stored.drift


def test_vectors_are_stored_once_and_used_by_the_fit(
    db_url: str, server: FakeLLMServer, real_posts: list[tuple[int, str]]
) -> None:
    """Auto with OpenAI: posts embedded once in batches of 64, calls recorded, the fit in that space."""
    first, rest = real_posts[:POSTS], real_posts[POSTS:]
    _add_posts(db_url, first)
    settings = _settings(db_url, server)
    done = topicize(settings=settings, channel=KEY, run_id=None, dispatcher=None)
    assert done.fit == "full"
    sent = _embedding_requests(server)
    assert [len(batch) for batch in sent] == [EMBED_BATCH, EMBED_BATCH, POSTS - 2 * EMBED_BATCH]
    stored = _stored(db_url)
    assert len(stored) == POSTS
    assert {(model, dims, len(blob)) for _pk, model, dims, blob in stored} == {
        (MODEL, EMBEDDING_DIM, 4 * EMBEDDING_DIM)
    }
    with session_scope(db_url) as s:
        calls = s.execute(select(LLMCallRow.purpose, LLMCallRow.model, LLMCallRow.input_tokens)).all()
    embedding_calls = [c for c in calls if c[0] == "topic_embedding"]
    assert len(embedding_calls) == math.ceil(POSTS / EMBED_BATCH)
    assert {c[1] for c in embedding_calls} == {MODEL}
    assert all(c[2] > 0 for c in embedding_calls)
    model, drift = _fit(db_url)
    assert model.embedding_model == MODEL
    assert drift["embedding_model"] == MODEL
    assert model.provider is not None
    assert model.centroids.shape[1] > MAX_PROVIDER_DIMS  # offline blocks plus the reduced provider block

    server.reset()
    again = topicize(settings=settings, channel=KEY, run_id=None, dispatcher=None)
    assert again.fit == "incremental"
    assert _embedding_requests(server) == []  # nothing new: no embeddings call
    assert len(_stored(db_url)) == POSTS

    server.reset()
    _add_posts(db_url, rest)
    grown = topicize(settings=settings, channel=KEY, run_id=None, dispatcher=None)
    assert grown.fit == "incremental"
    assert grown.placed == len(rest)
    assert _embedding_requests(server) == [[t for _m, t in rest]]  # only the new posts

    offline = topicize(
        settings=_settings(db_url, server, topic_embeddings="offline"),
        channel=KEY,
        run_id=None,
        dispatcher=None,
    )
    assert (offline.fit, offline.reason) == ("full", "embedding_space")
    assert _fit(db_url)[0].embedding_model is None


def test_auto_falls_back_to_offline_when_the_provider_fails(
    db_url: str, server: FakeLLMServer, real_posts: list[tuple[int, str]]
) -> None:
    """Auto: embeddings that give up leave the run offline, with a dead letter and a warning."""
    _add_posts(db_url, real_posts[:POSTS])
    server.script("500", "503")  # both attempts of the first batch
    with capture_logs() as logs:
        done = topicize(settings=_settings(db_url, server), channel=KEY, run_id=None, dispatcher=None)
    assert done.fit == "full"
    assert done.topics > 1
    assert [e["event"] for e in logs if e["event"] == "topic_embeddings_fallback"] == [
        "topic_embeddings_fallback"
    ]
    assert len(_embedding_requests(server)) == 2  # no batch after the one that gave up
    assert _stored(db_url) == []
    assert _fit(db_url)[0].embedding_model is None
    with session_scope(db_url) as s:
        letters = dead_letters.list_dead_letters(s)
    assert [(d.task_name, d.args["model"], d.attempts) for d in letters] == [
        ("tg_parser.embed_posts", MODEL, 2)
    ]


def test_provider_mode_fails_the_step(
    db_url: str, server: FakeLLMServer, real_posts: list[tuple[int, str]]
) -> None:
    """TOPIC_EMBEDDINGS=provider: embeddings that give up, or a provider with none, fail topicize."""
    _add_posts(db_url, real_posts[:POSTS])
    server.script("500", "500")
    with pytest.raises(PermanentError, match="TOPIC_EMBEDDINGS=provider"):
        topicize(
            settings=_settings(db_url, server, topic_embeddings="provider"),
            channel=KEY,
            run_id=None,
            dispatcher=None,
        )
    with session_scope(db_url) as s:
        assert dead_letters.list_dead_letters(s) == []  # the failed topicize step writes the one letter
        assert topic_fits.load_fit(s, channel_pk=channels.get_channel(s, key=KEY).pk) is None
    offline = load_settings(database_url=db_url, topic_embeddings="provider")
    with pytest.raises(ConfigurationError, match="no embedding model"):
        topicize(settings=offline, channel=KEY, run_id=None, dispatcher=None)
