"""About 50 real channel posts through every provider's loopback server, with injected 429s."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from tests.conftest import need
from tests.integration.llm_servers import FakeLLMServer
from tests.integration.test_llm_providers import CONFIGS, settings_for
from tg_parser.domain import Message, PostAnalysis
from tg_parser.errors import RetryableError
from tg_parser.llm import LLMProcessor, build_processor

POSTS_WANTED = 50
EVERY_NTH_IS_429 = 7


@pytest.fixture(scope="module")
def real_posts(shared_data):
    """Up to 50 posts with text from the nktkln channel files, a few from each channel."""
    folder = shared_data / "nktkln"
    need(folder.is_dir(), f"{folder} is missing")
    posts: list[Message] = []
    files = sorted(folder.glob("*.json"))
    per_file = max(1, POSTS_WANTED // max(1, len(files)) + 1)
    for path in files:
        rows = json.loads(path.read_text(encoding="utf-8"))
        taken = 0
        for row in rows:
            if not (row.get("text") or "").strip():
                continue
            posts.append(
                Message(
                    channel_id=int(path.name.split("_", 1)[0]),
                    message_id=int(row["message_id"]),
                    date=datetime.fromisoformat(row["date"]),
                    text=row["text"],
                )
            )
            taken += 1
            if taken >= per_file:
                break
    assert len(posts) >= 30, "the shared data should hold enough posts"
    return posts[:POSTS_WANTED]


def process_with_retries(processor: LLMProcessor, post: Message, *, attempts: int = 5):
    """Call again after a RetryableError, honouring its wait, like the task layer does."""
    for _ in range(attempts - 1):
        try:
            return processor.process(post)
        except RetryableError as exc:
            time.sleep(min(exc.retry_after_s or 0.05, 1.0))
    return processor.process(post)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_post_gets_an_analysis_despite_429s(config, real_posts):
    """Every real post gets a valid PostAnalysis naming provider and model; injected 429s lose nothing."""
    provider, model = CONFIGS[config]
    server = FakeLLMServer(provider).start()
    try:
        script = [
            "429ms:20" if i % EVERY_NTH_IS_429 == EVERY_NTH_IS_429 - 1 else "ok"
            for i in range(len(real_posts) * 2)
        ]
        server.script(*script)
        processor = build_processor(settings_for(server, model), redis_url=None)
        results = {}
        for post in real_posts:
            results[post.message_id, post.channel_id] = process_with_retries(processor, post)
        assert len(results) == len(real_posts)
        for result in results.values():
            assert isinstance(result.analysis, PostAnalysis)
            assert result.analysis.summary.strip()
            assert result.usage
            assert {(u.provider, u.model) for u in result.usage} == {(provider, model)}
        throttled = [r for r in server.requests if r.behaviour.startswith("429")]
        assert throttled, "429s were injected"
        assert len(server.requests) == len(real_posts) + len(throttled)
        # the channel is Russian-language: its posts come back as Russian
        russian = [r for r in results.values() if r.analysis.language == "ru"]
        assert russian
    finally:
        server.stop()
