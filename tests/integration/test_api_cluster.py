"""The real ``tg-parser api serve`` against the cluster: PostgreSQL, Redis and a real celery worker."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.api_helpers import cli, served_api, wait_for_run
from tests.export_checks import check_chat_export, source_chats
from tests.integration.cluster import celery_workers, cluster_env
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def test_cluster_api_runs_an_upload_on_a_worker(
    pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """Upload and run through the API; a worker runs it; documents are faithful; the worker signs the hook."""
    env = cluster_env(
        database_url=pg_url, broker_url=redis_url, EXPORT_DIR=str(tmp_path / "exports"), LOG_LEVEL="INFO"
    )
    key = cli("api-keys", "create", "--name", "cluster", "--scope", "write", cwd=tmp_path, env=env).strip()
    burst = cli(
        "api-keys", "create", "--name", "b", "--scope", "read", "--rate-limit", "2", cwd=tmp_path, env=env
    )
    receiver = WebhookReceiver().start()
    try:
        with (
            celery_workers(env, count=1, log_dir=tmp_path) as _workers,
            served_api(env, cwd=tmp_path, log=tmp_path / "server.log") as base,
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            hook = client.post(
                "/api/v1/webhooks", headers=headers, json={"url": receiver.url, "events": ["run.succeeded"]}
            ).json()
            with sample_export.open("rb") as fh:
                resp = client.post("/api/v1/exports", headers=headers, files={"file": ("result.json", fh)})
            assert resp.status_code == 201, resp.text
            (channel,) = resp.json()["channels"]
            started = client.post(f"/api/v1/channels/{channel}/runs", headers=headers)
            assert started.status_code == 202
            run_id = started.json()["run_id"]
            first = client.get(f"/api/v1/runs/{run_id}", headers=headers)
            assert first.status_code == 200  # recorded before the answer, whatever the worker did yet
            run = wait_for_run(client, run_id, headers, timeout_s=300)
            assert (run["status"], run["mode"]) == ("succeeded", "celery"), run
            lines = client.get(f"/api/v1/channels/{channel}/documents", headers=headers).text.splitlines()
            (chat,) = source_chats(sample_export)
            check_chat_export(chat, [json.loads(line) for line in lines])
            (delivery,) = receiver.wait_for(1)
            assert Webhook(hook["secret"]).verify(delivery.body, delivery.headers)["data"]["run_id"] == run_id
            statuses = [
                client.get("/api/v1/runs", headers={"X-API-Key": burst.strip()}).status_code for _ in range(3)
            ]
            assert statuses == [200, 200, 429]
            detailed = client.get("/status/detailed", headers=headers)
            assert detailed.status_code in (200, 503)
            body = detailed.json()
            report = body if detailed.status_code == 200 else body["report"]
            assert report["mode"] == "cluster"
            assert {c["component"]: c["status"] for c in report["components"]}["workers"] == "ok"
    finally:
        receiver.stop()
