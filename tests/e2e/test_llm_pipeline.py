"""A real export through the whole pipeline with each LLM provider, via the CLI and its real SDKs.

Each provider's loopback server speaks the provider's wire protocol; the CLI
(a separate process) reaches it through the SDK's standard variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export_checks import check_chat_export, read_ndjson, source_chats
from tests.integration.llm_servers import FakeLLMServer

pytestmark = pytest.mark.e2e

CONFIGS = {
    "openai-gpt5": ("openai", "gpt-5-mini"),
    "openai-chat": ("openai", "gpt-4.1-mini"),
    "anthropic": ("anthropic", "claude-haiku-4-5"),
    "gemini": ("gemini", "gemini-2.5-flash"),
    "ollama": ("ollama", "llama3.1"),
}
EXPORT = "cuda_supergroup_old_format.json"


def provider_env(server: FakeLLMServer, model: str) -> dict[str, str]:
    """The SDK's standard variables pointing at the loopback server."""
    endpoint = {
        "openai": {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url},
        "anthropic": {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": server.base_url},
        "gemini": {"GEMINI_API_KEY": "g-test", "GOOGLE_GEMINI_BASE_URL": server.base_url},
        "ollama": {"OLLAMA_HOST": server.base_url},
    }[server.provider]
    return {
        "LLM_PROVIDER": server.provider,
        "LLM_MODEL": model,
        "LLM_TIMEOUT_S": "10",
        "RETRY_BACKOFF_BASE": "0.1",
        "RETRY_BACKOFF_MAX": "2",
        "RETRY_PROCESS_MAX_ATTEMPTS": "5",
        **endpoint,
    }


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI embedded (no broker)."""
    full = {**os.environ, "LOG_FORMAT": "json", **env}
    full.pop("CELERY_BROKER_URL", None)
    exe = str(Path(sys.executable).with_name("tg-parser"))
    return subprocess.run(
        [exe, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_real_export_through_each_provider(config: str, shared_data: Path, tmp_path: Path) -> None:
    """Every post gets a document naming provider and model; 429s are retried; a re-run calls nothing."""
    provider, model = CONFIGS[config]
    src = shared_data / "exports" / EXPORT
    server = FakeLLMServer(provider).start()
    try:
        server.script("429", "ok", "500", "ok", "429:1")
        env = provider_env(server, model)
        proc = cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        chat = source_chats(src)[0]
        docs = read_ndjson(tmp_path / "out" / f"c{chat['id']}" / "documents.ndjson")
        check_chat_export(chat, docs)
        for doc in docs:
            assert (doc["metadata"]["processor"], doc["metadata"]["model"]) == (provider, model)
            assert doc["metadata"]["summary"]
        requests = list(server.requests)
        failures = [r for r in requests if r.behaviour != "ok"]
        assert len(failures) == 3  # the two 429s and the 500 were answered, then retried
        # TOPIC_EMBEDDINGS=auto: topics use the provider's embeddings (Anthropic has none).
        embeds = [r for r in requests if r.path.endswith(("/embeddings", "EmbedContents", "/api/embed"))]
        assert bool(embeds) == (provider != "anthropic")
        if config == "openai-gpt5":
            analysis = [r for r in requests if r.path.endswith("/responses")]
            assert len(analysis) == len(requests) - len(embeds)
            for r in analysis:
                assert "temperature" not in r.body
                assert r.body["reasoning"]["effort"]
        topics = json.loads((tmp_path / "out" / f"c{chat['id']}" / "topics.json").read_text(encoding="utf-8"))
        assert all(t["summary"] for t in topics["topics"])  # labelled by the provider

        usage = cli("usage", "--json", cwd=tmp_path, env=env)
        rows = json.loads(usage.stdout)
        assert sum(r["calls"] for r in rows) == len(requests) - len(failures)

        first = (tmp_path / "out" / f"c{chat['id']}" / "documents.ndjson").read_bytes()
        again = cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.requests) == len(requests)  # zero provider calls the second time
        assert (tmp_path / "out" / f"c{chat['id']}" / "documents.ndjson").read_bytes() == first
    finally:
        server.stop()


def test_changing_the_model_reprocesses_every_post_once(shared_data: Path, tmp_path: Path) -> None:
    """A new LLM_MODEL re-processes exactly the posts once; offline documents are replaced."""
    src = shared_data / "exports" / EXPORT
    assert cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env={}).returncode == 0
    chat = source_chats(src)[0]
    n_docs = len(read_ndjson(tmp_path / "out" / f"c{chat['id']}" / "documents.ndjson"))
    server = FakeLLMServer("ollama").start()
    try:
        env = provider_env(server, "llama3.1")
        assert cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env).returncode == 0
        analysis = [r for r in server.requests if r.path.endswith("/api/chat")]
        topics = json.loads((tmp_path / "out" / f"c{chat['id']}" / "topics.json").read_text(encoding="utf-8"))
        assert len(analysis) == n_docs + len(topics["topics"])
        env2 = {**env, "LLM_MODEL": "qwen2.5"}
        before = len(server.requests)
        assert cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env2).returncode == 0
        new_posts = [r for r in server.requests[before:] if "Post:" in json.dumps(r.body, ensure_ascii=False)]
        assert len(new_posts) == n_docs
    finally:
        server.stop()
