"""End to end: the real ``tg-parser api serve`` on a loopback port, embedded (SQLite), driven over HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.api_helpers import cli, served_api, wait_for_run
from tests.export_checks import check_chat_export, source_chats
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A running ``tg-parser api serve``, embedded (base URL, its environment, its folder)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "EXPORT_DIR": str(tmp_path / "exports"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PROCESS_CONCURRENCY": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    env.pop("REDIS_URL", None)
    with served_api(env, cwd=tmp_path, log=tmp_path / "server.log") as base:
        yield base, env, tmp_path


def test_served_api_runs_an_upload_to_faithful_documents(served, sample_export: Path) -> None:
    """Keys from the CLI; upload, run, poll, pull documents (faithful), 401/403/429, a verified webhook."""
    base, env, folder = served
    write_key = cli("api-keys", "create", "--name", "e2e", "--scope", "write", cwd=folder, env=env).strip()
    read_key = cli("api-keys", "create", "--name", "ro", "--scope", "read", cwd=folder, env=env).strip()
    burst_key = cli(
        "api-keys", "create", "--name", "burst", "--scope", "read", "--rate-limit", "3", cwd=folder, env=env
    ).strip()
    assert "e2e" in cli("api-keys", "list", cwd=folder, env=env)
    receiver = WebhookReceiver().start()
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            write = {"Authorization": f"Bearer {write_key}"}
            read = {"X-API-Key": read_key}
            assert client.get("/api/v1/channels").status_code == 401
            assert client.post("/api/v1/channels", headers=read, json={"source": "@x"}).status_code == 403
            hook = client.post(
                "/api/v1/webhooks", headers=write, json={"url": receiver.url, "events": ["run.succeeded"]}
            ).json()
            with sample_export.open("rb") as fh:
                resp = client.post("/api/v1/exports", headers=write, files={"file": ("result.json", fh)})
            assert resp.status_code == 201, resp.text
            (key,) = resp.json()["channels"]
            started = client.post(f"/api/v1/channels/{key}/runs", headers=write)
            assert started.status_code == 202
            run = wait_for_run(client, started.json()["run_id"], read)
            assert run["status"] == "succeeded", run
            with client.stream("GET", f"/api/v1/channels/{key}/documents", headers=read) as resp:
                assert resp.status_code == 200
                cursor = resp.headers["documents-cursor"]
                docs = [json.loads(line) for line in resp.iter_lines() if line]
            (chat,) = source_chats(sample_export)
            check_chat_export(chat, docs)
            assert (
                client.get(
                    f"/api/v1/channels/{key}/documents", headers=read, params={"since": "junk"}
                ).status_code
                == 422
            )
            again = client.get(f"/api/v1/channels/{key}/documents", headers=read, params={"since": cursor})
            assert again.status_code == 200
            statuses = [
                client.get("/api/v1/runs", headers={"X-API-Key": burst_key}).status_code for _ in range(5)
            ]
            assert statuses[:3] == [200, 200, 200]
            assert statuses[3:] == [429, 429]
            refused = client.get("/api/v1/runs", headers={"X-API-Key": burst_key})
            assert int(refused.headers["retry-after"]) >= 1
            (delivery,) = receiver.wait_for(1)
            payload = Webhook(hook["secret"]).verify(delivery.body, delivery.headers)
            assert payload["data"]["run_id"] == run["run_id"]
    finally:
        receiver.stop()
    server_log = (folder / "server.log").read_text()
    for secret in (write_key, read_key, burst_key):
        assert secret not in server_log
    assert '"logger": "uvicorn.access"' in server_log  # the log checked above is the real access log
