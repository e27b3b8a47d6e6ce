"""OpenAI and Gemini batch mode on a real cluster: PostgreSQL, Redis, a `celery -A tasks worker`, real SDKs.

``tg_parser.submit_llm_batch`` uploads the run's posts and creates the batch;
``tg_parser.poll_llm_batch`` re-sends itself with a countdown until the batch
is applied; requests that failed inside the batch go through
``tg_parser.process_message`` (the synchronous path).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.export_checks import check_chat_export, read_ndjson, source_chats
from tests.integration.cluster import celery_workers, cluster_env
from tests.integration.llm_batch_servers import FakeOpenAIBatchServer

pytestmark = pytest.mark.integration

MODELS = {"openai": "gpt-4.1-mini", "gemini": "gemini-2.5-flash"}  # gpt-4.1: Chat Completions in the batch


def _provider_env(provider: str, server: FakeOpenAIBatchServer) -> dict[str, str]:
    if provider == "gemini":
        return {"GEMINI_API_KEY": "g-test", "GOOGLE_GEMINI_BASE_URL": server.base_url.removesuffix("/v1")}
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url}


def _is_sync_post(provider: str, request: Any) -> bool:
    if provider == "gemini":
        return bool(
            request.path.endswith(":generateContent")
            and "entities" in request.body["generationConfig"]["responseJsonSchema"]["properties"]
        )
    return bool(
        request.path.endswith("/chat/completions")
        and request.body["response_format"]["json_schema"]["name"] == "post_analysis"
    )


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_cluster_batch_run_with_failed_requests(
    provider: str, pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """Every post is done, through the batch or (two scripted failures) the sync path; polls never block."""
    server = FakeOpenAIBatchServer().start()
    server.fail_requests({0: "500", 5: "error"})
    model = MODELS[provider]
    env = cluster_env(
        database_url=pg_url,
        broker_url=redis_url,
        LLM_PROVIDER=provider,
        LLM_MODEL=model,
        **_provider_env(provider, server),
        LLM_BATCH="on",
        LLM_BATCH_POLL_S="0.2",
        LLM_TIMEOUT_S="10",
        # The batch server speaks no embeddings endpoint: topics stay in the offline space
        # (provider embeddings: tests/integration/test_topic_embeddings.py).
        TOPIC_EMBEDDINGS="offline",
    )
    out = tmp_path / "out"
    exe = str(Path(sys.executable).with_name("tg-parser"))
    try:
        with celery_workers(env, count=1, concurrency=2, log_dir=tmp_path):
            proc = subprocess.run(
                [exe, "run", "-f", str(sample_export), "-o", str(out), "--timeout-s", "300"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
        key = next(out.iterdir()).name
        docs = read_ndjson(out / key / "documents.ndjson")
        check_chat_export(source_chats(sample_export)[0], docs)
        assert all(d["metadata"]["model"] == model for d in docs if d["text"].strip())
        sync_posts = [r for r in server.requests if _is_sync_post(provider, r)]
        assert len(sync_posts) == 2
        polls = [r for r in server.requests if r.method == "GET" and "/batches/" in r.path]
        # OpenAI: validating, in_progress, finalizing, completed; Gemini: RUNNING, SUCCEEDED; one task each
        assert len(polls) >= (4 if provider == "openai" else 2)
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            batch = conn.execute(
                text("select status, request_count, provider_batch_id from llm_batches")
            ).one()
            calls = dict(
                conn.execute(
                    text("select batch, count(*) from llm_calls where purpose='process' group by batch")
                ).all()
            )
            items = dict(conn.execute(text("select status, count(*) from run_items group by status")).all())
        engine.dispose()
        assert batch[0] == "applied"
        assert batch[2].removeprefix("batches/") in server.batches  # Gemini: the job name "batches/<id>"
        assert calls[True] == batch[1] - 2
        assert calls[False] == 2
        assert set(items) == {"done"}
        logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("worker*.log"))
        assert "tg_parser.poll_llm_batch" in logs
        assert json.dumps("tg_parser.submit_llm_batch")[1:-1] in logs
    finally:
        server.stop()
