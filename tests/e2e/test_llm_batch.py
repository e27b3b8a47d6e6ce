"""A real export through OpenAI's Batch API (Files + Batches) via the CLI and the real ``openai`` SDK.

The loopback server (:mod:`tests.integration.llm_batch_servers`) speaks the
Files and Batch protocol; the CLI (a separate process) reaches it through
``OPENAI_BASE_URL``, embedded, with ``LLM_BATCH=on``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_llm_pipeline import cli
from tests.export_checks import check_chat_export, read_ndjson, source_chats
from tests.integration.llm_batch_servers import FakeOpenAIBatchServer

pytestmark = pytest.mark.e2e

EXPORT = "cuda_supergroup_old_format.json"
MODEL = "gpt-5-mini"


def env_for(server: FakeOpenAIBatchServer, batch: str) -> dict[str, str]:
    """Variables of a CLI run against the loopback server."""
    return {
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": MODEL,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": server.base_url,
        "LLM_TIMEOUT_S": "10",
        "LLM_BATCH": batch,
        "LLM_BATCH_POLL_S": "0.05",
        "RETRY_BACKOFF_BASE": "0.1",
        "RETRY_BACKOFF_MAX": "1",
        # The batch server speaks no embeddings endpoint, and these tests count its requests:
        # topics stay in the offline space (provider embeddings: tests/integration/test_topic_embeddings.py).
        "TOPIC_EMBEDDINGS": "offline",
    }


def _post_calls(server: FakeOpenAIBatchServer) -> list[object]:
    """Synchronous post-analysis calls (topic labels are not per post)."""
    return [
        r
        for r in server.requests
        if r.path.endswith("/v1/responses") and r.body["text"]["format"]["name"] == "post_analysis"
    ]


def _batch_lines(server: FakeOpenAIBatchServer) -> list[dict[str, object]]:
    lines = []
    for batch in server.batches.values():
        data = server.files[str(batch["input_file_id"])]
        lines += [json.loads(x) for x in data.splitlines() if x.strip()]
    return lines


def _docs(tmp: Path, chat: dict[str, object]) -> list[dict[str, object]]:
    return read_ndjson(tmp / "out" / f"c{chat['id']}" / "documents.ndjson")


def _post_cost(tmp: Path) -> tuple[int, float]:
    """Calls and cost of post analyses (not topic labels), read from the run's SQLite database."""
    with sqlite3.connect(tmp / "tg_parser.db") as db:
        query = "SELECT count(*), sum(cost_usd) FROM llm_calls WHERE purpose = 'process'"
        n, cost = db.execute(query).fetchone()
    return int(n), float(cost)


def _usage(tmp: Path, env: dict[str, str]) -> list[dict[str, object]]:
    proc = cli("usage", "--json", cwd=tmp, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [r for r in json.loads(proc.stdout) if r["model"] == MODEL]


def test_batch_run_costs_half_and_rerun_calls_nothing(shared_data: Path, tmp_path: Path) -> None:
    """LLM_BATCH=on: posts go by batch, no per-post call, half the sync cost; a re-run calls nothing."""
    src = shared_data / "exports" / EXPORT
    chat = source_chats(src)[0]
    server = FakeOpenAIBatchServer(cached_tokens=200).start()
    try:
        env = env_for(server, "on")
        batch_dir, sync_dir = tmp_path / "batch", tmp_path / "sync"
        batch_dir.mkdir()
        sync_dir.mkdir()
        proc = cli("run", "-f", str(src), "-o", "out", cwd=batch_dir, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        docs = _docs(batch_dir, chat)
        check_chat_export(chat, docs)
        for doc in docs:
            assert (doc["metadata"]["processor"], doc["metadata"]["model"]) == ("openai", MODEL)
        assert _post_calls(server) == []
        lines = _batch_lines(server)
        assert len(lines) == len([d for d in docs if d["text"].strip()])
        assert {line["url"] for line in lines} == {"/v1/responses"}
        batch_usage = _usage(batch_dir, env)
        assert sum(r["batch_calls"] for r in batch_usage) == len(lines)
        assert sum(r["cached_input_tokens"] for r in batch_usage) > 0

        before = len(server.requests)
        again = cli("run", "-f", str(src), "-o", "out", cwd=batch_dir, env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.requests) == before  # no provider call at all

        sync = cli("run", "-f", str(src), "-o", "out", cwd=sync_dir, env=env_for(server, "off"))
        assert sync.returncode == 0, sync.stderr[-3000:]
        assert len(_post_calls(server)) == len(lines)
        sync_usage = _usage(sync_dir, env)
        # Per post: the batch price is half the synchronous one, to the token.
        batch_posts, sync_posts = _post_cost(batch_dir), _post_cost(sync_dir)
        assert batch_posts[0] == sync_posts[0] == len(lines)
        assert batch_posts[1] == pytest.approx(sync_posts[1] / 2, rel=1e-9)
        # In `usage`: the topic labels (synchronous in both runs) cost the same, and the
        # batch discount is exactly the difference.
        batch_total = sum(r["cost_usd"] for r in batch_usage)
        sync_total = sum(r["cost_usd"] for r in sync_usage)
        savings = sum(r["batch_savings_usd"] for r in batch_usage)
        assert savings == pytest.approx(sync_posts[1] / 2, rel=1e-9)
        assert batch_total == pytest.approx(sync_total - savings, rel=1e-9)
        assert sum(r["cache_savings_usd"] for r in batch_usage) > 0
    finally:
        server.stop()


@pytest.mark.parametrize("outcome", ["completed", "expired", "cancelled", "failed"])
def test_failed_requests_go_through_the_sync_path(outcome: str, shared_data: Path, tmp_path: Path) -> None:
    """Per-request errors, an expired, a cancelled and a failed batch: those posts go sync, none is lost."""
    src = shared_data / "exports" / EXPORT
    chat = source_chats(src)[0]
    server = FakeOpenAIBatchServer(outcome=outcome).start()
    server.fail_requests({0: "500", 1: "error", 2: "invalid", 3: "missing"})
    try:
        proc = cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env_for(server, "on"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        docs = _docs(tmp_path, chat)
        check_chat_export(chat, docs)
        assert all(d["metadata"]["model"] == MODEL for d in docs if d["text"].strip())
        total = len(_batch_lines(server))
        if outcome == "completed":
            expected_sync = 4
        elif outcome == "failed":
            expected_sync = total
        else:
            expected_sync = total - total // 2 + 4  # the unanswered half and the four scripted errors
        assert len(_post_calls(server)) == expected_sync
        with sqlite3.connect(tmp_path / "tg_parser.db") as db:
            ((run_id, status),) = db.execute("SELECT id, status FROM runs").fetchall()
            items = dict(db.execute("SELECT status, count(*) FROM run_items GROUP BY status").fetchall())
        assert status == "succeeded"
        assert set(items) == {"done"}  # none lost, none failed
        show = cli("runs", "show", run_id, cwd=tmp_path, env=env_for(server, "on"))
        view = json.loads(show.stdout)
        assert view["batch"]["total"] == total
        assert view["batch"]["status"] == "done"
    finally:
        server.stop()


def test_resume_picks_up_a_submitted_batch(shared_data: Path, tmp_path: Path) -> None:
    """A CLI run killed mid-batch: `runs resume` polls the same batch and sends none again."""
    src = shared_data / "exports" / EXPORT
    chat = source_chats(src)[0]
    server = FakeOpenAIBatchServer().start()
    server.hold = True
    env = env_for(server, "on")
    full = {**os.environ, "LOG_FORMAT": "json", **env}
    full.pop("CELERY_BROKER_URL", None)
    exe = str(Path(sys.executable).with_name("tg-parser"))
    try:
        proc = subprocess.Popen(
            [exe, "run", "-f", str(src), "-o", "out"],
            cwd=tmp_path,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        polls = 0
        while time.monotonic() < deadline and polls < 3:
            polls = sum(r.method == "GET" and "/batches/" in r.path for r in server.requests)
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        assert len(server.batches) == 1
        with sqlite3.connect(tmp_path / "tg_parser.db") as db:
            ((run_id, status),) = db.execute("SELECT id, status FROM runs").fetchall()
        assert status == "processing"
        shown = json.loads(cli("runs", "show", run_id, cwd=tmp_path, env=env).stdout)
        assert shown["status_text"].startswith("processing (batch: in_progress / ")

        server.hold = False
        resumed = cli("runs", "resume", run_id, cwd=tmp_path, env=env)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert len(server.batches) == 1  # the same batch, polled, not sent again
        assert _post_calls(server) == []
        check_chat_export(chat, _docs(tmp_path, chat))
        with sqlite3.connect(tmp_path / "tg_parser.db") as db:
            assert db.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"
    finally:
        server.stop()


def test_dry_run_estimates_without_calling_or_writing(shared_data: Path, tmp_path: Path) -> None:
    """`run --dry-run`: one row per chat, batch half the sync estimate, no request, no database."""
    src = shared_data / "exports" / EXPORT
    server = FakeOpenAIBatchServer().start()
    try:
        env = {**env_for(server, "auto"), "COLUMNS": "200"}
        proc = cli("run", "--dry-run", "-f", str(src), cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert server.requests == []
        assert not (tmp_path / "tg_parser.db").exists()
        row = next(line for line in proc.stdout.splitlines() if f"openai/{MODEL}" in line)
        cells = [c.strip() for c in row.split("│") if c.strip()]
        posts, sync, batch = int(cells[1].replace(",", "")), float(cells[5]), float(cells[6])
        assert posts == 184  # the export's posts with text (the batch run above sends 184 requests)
        assert batch == pytest.approx(sync / 2, abs=1e-4)
        assert cells[7] == "sync"  # 184 posts < LLM_BATCH_MIN_POSTS
    finally:
        server.stop()


@pytest.mark.parametrize("outcome", ["completed", "expired"])
def test_anthropic_message_batches(outcome: str, shared_data: Path, tmp_path: Path) -> None:
    """Anthropic through messages.batches: failed and expired requests go through the sync path, none lost."""
    src = shared_data / "exports" / EXPORT
    chat = source_chats(src)[0]
    server = FakeOpenAIBatchServer(outcome=outcome).start()
    server.fail_requests({0: "error", 1: "invalid", 2: "missing"})
    env = {
        **env_for(server, "on"),
        "LLM_PROVIDER": "anthropic",
        "LLM_MODEL": "claude-haiku-4-5",
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": server.base_url.removesuffix("/v1"),
    }
    try:
        proc = cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        docs = _docs(tmp_path, chat)
        check_chat_export(chat, docs)
        assert all(d["metadata"]["model"] == "claude-haiku-4-5" for d in docs if d["text"].strip())
        (batch,) = server.batches.values()
        total = len(batch["requests"])
        assert batch["requests"][0]["params"]["system"][0]["cache_control"] == {"type": "ephemeral"}
        sync = [
            r
            for r in server.requests
            if r.path == "/v1/messages" and r.body["tool_choice"]["name"] == "post_analysis"
        ]
        assert len(sync) == (3 if outcome == "completed" else total - total // 2 + 3)
        with sqlite3.connect(tmp_path / "tg_parser.db") as db:
            assert db.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"
            items = dict(db.execute("SELECT status, count(*) FROM run_items GROUP BY status").fetchall())
            batch_calls = db.execute("SELECT count(*) FROM llm_calls WHERE batch").fetchone()[0]
        assert set(items) == {"done"}
        assert batch_calls == total - 2 - (0 if outcome == "completed" else total - total // 2)
    finally:
        server.stop()


def _gemini_env(server: FakeOpenAIBatchServer) -> dict[str, str]:
    return {
        **env_for(server, "on"),
        "LLM_PROVIDER": "gemini",
        "LLM_MODEL": "gemini-2.5-flash",
        "GEMINI_API_KEY": "g-test",
        "GOOGLE_GEMINI_BASE_URL": server.base_url.removesuffix("/v1"),
    }


def _gemini_post_calls(server: FakeOpenAIBatchServer) -> list[Any]:
    return [
        r
        for r in server.requests
        if r.path.endswith(":generateContent")
        and "entities" in r.body["generationConfig"]["responseJsonSchema"]["properties"]
    ]


@pytest.mark.parametrize("outcome", ["completed", "expired", "failed"])
def test_gemini_batch_mode(outcome: str, shared_data: Path, tmp_path: Path) -> None:
    """Gemini through batches.create/get (inline): failed, invalid, unkeyed, missing and expired go sync."""
    src = shared_data / "exports" / EXPORT
    chat = source_chats(src)[0]
    server = FakeOpenAIBatchServer(outcome=outcome).start()
    server.fail_requests({0: "error", 1: "invalid", 2: "nokey", 3: "missing"})
    env = _gemini_env(server)
    try:
        proc = cli("run", "-f", str(src), "-o", "out", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        docs = _docs(tmp_path, chat)
        check_chat_export(chat, docs)
        assert all(d["metadata"]["model"] == "gemini-2.5-flash" for d in docs if d["text"].strip())
        (batch,) = server.batches.values()
        requests = batch["requests"]
        total = len(requests)
        assert total == len([d for d in docs if d["text"].strip()])
        keys = [r["metadata"]["tg_parser_key"] for r in requests]
        assert len(set(keys)) == total
        sync = _gemini_post_calls(server)
        # The batch request is the synchronous one: same system prompt and generation config.
        assert sync
        assert requests[0]["request"]["generationConfig"] == sync[0].body["generationConfig"]
        assert requests[0]["request"]["systemInstruction"] == sync[0].body["systemInstruction"]
        assert len(sync) == (4 if outcome == "completed" else total)
        with sqlite3.connect(tmp_path / "tg_parser.db") as db:
            ((run_id, status),) = db.execute("SELECT id, status FROM runs").fetchall()
            items = dict(db.execute("SELECT status, count(*) FROM run_items GROUP BY status").fetchall())
            batch_calls = db.execute("SELECT count(*) FROM llm_calls WHERE batch").fetchone()[0]
            sync_calls = db.execute(
                "SELECT count(*) FROM llm_calls WHERE NOT batch AND purpose = 'process'"
            ).fetchone()[0]
        assert status == "succeeded"
        assert set(items) == {"done"}  # none lost, none failed
        # Answered in the batch: every request but the errored and missing ones (the invalid and the
        # unkeyed answers were paid for, but only the invalid one can be matched to its post).
        assert batch_calls == (total - 3 if outcome == "completed" else 0)
        assert sync_calls == len(sync)
        view = json.loads(cli("runs", "show", run_id, cwd=tmp_path, env=env).stdout)
        assert view["batch"]["total"] == total
        assert view["batch"]["status"] == "done"
    finally:
        server.stop()


def test_gemini_batch_costs_half(shared_data: Path, tmp_path: Path) -> None:
    """A Gemini post answered in batch costs exactly half the same post answered synchronously."""
    src = shared_data / "exports" / EXPORT
    server = FakeOpenAIBatchServer().start()
    try:
        batch_dir, sync_dir = tmp_path / "batch", tmp_path / "sync"
        batch_dir.mkdir()
        sync_dir.mkdir()
        env = _gemini_env(server)
        proc = cli("run", "-f", str(src), "-o", "out", cwd=batch_dir, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert _gemini_post_calls(server) == []
        sync = cli("run", "-f", str(src), "-o", "out", cwd=sync_dir, env={**env, "LLM_BATCH": "off"})
        assert sync.returncode == 0, sync.stderr[-3000:]
        batch_posts, sync_posts = _post_cost(batch_dir), _post_cost(sync_dir)
        assert batch_posts[0] == sync_posts[0] == len(_gemini_post_calls(server)) > 0
        assert batch_posts[1] == pytest.approx(sync_posts[1] / 2, rel=1e-9)
        rows = json.loads(cli("usage", "--json", cwd=batch_dir, env=env).stdout)
        assert sum(r["batch_calls"] for r in rows) == batch_posts[0]
        assert sum(r["batch_savings_usd"] for r in rows) == pytest.approx(sync_posts[1] / 2, rel=1e-9)
    finally:
        server.stop()
