"""Webhooks on loopback: a run's events arrive signed per Standard Webhooks; failures dead-letter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.api_helpers import Api, make_api, wait_for_run
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A loopback webhook receiver."""
    server = WebhookReceiver().start()
    try:
        yield server
    finally:
        server.stop()


def _run_sample(api: Api, sample_export: Path) -> tuple[str, dict[str, object]]:
    with sample_export.open("rb") as fh:
        resp = api.client.post("/api/v1/exports", headers=api.write, files={"file": ("result.json", fh)})
    (key,) = resp.json()["channels"]
    run_id = api.client.post(f"/api/v1/channels/{key}/runs", headers=api.write).json()["run_id"]
    return key, wait_for_run(api.client, run_id, api.read)


def test_run_succeeded_and_documents_updated_arrive_signed(
    sqlite_url: str, tmp_path: Path, sample_export: Path, receiver: WebhookReceiver
) -> None:
    """A subscribed URL gets run.succeeded and documents.updated, verified by the reference library."""
    api = make_api(sqlite_url, tmp_path)
    resp = api.client.post(
        "/api/v1/webhooks",
        headers=api.write,
        json={"url": receiver.url, "events": ["run.succeeded", "documents.updated"]},
    )
    assert resp.status_code == 201
    secret = resp.json()["secret"]
    assert secret.startswith("whsec_")
    listed = api.client.get("/api/v1/webhooks", headers=api.read).json()
    assert [w["id"] for w in listed] == [resp.json()["id"]]
    assert "secret" not in listed[0]
    key, run = _run_sample(api, sample_export)
    assert run["status"] == "succeeded"
    deliveries = receiver.wait_for(2)
    verifier = Webhook(secret)
    events = {}
    for d in deliveries:
        payload = verifier.verify(d.body, d.headers)  # raises on a bad signature or stale timestamp
        events[payload["type"]] = payload
        assert d.headers["webhook-id"].startswith("msg_")
    assert set(events) == {"run.succeeded", "documents.updated"}
    data = events["run.succeeded"]["data"]
    assert (data["run_id"], data["channel"], data["status"]) == (run["run_id"], key, "succeeded")
    assert data["items"] == run["items"]
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook("whsec_" + "A" * 32).verify(deliveries[0].body, deliveries[0].headers)


def test_failed_delivery_retries_with_one_id_then_dead_letters_and_replays(
    sqlite_url: str, tmp_path: Path, sample_export: Path, receiver: WebhookReceiver
) -> None:
    """500s are retried (RETRY_WEBHOOK_*) with one webhook-id; giving up dead-letters; replay re-sends it."""
    api = make_api(
        sqlite_url,
        tmp_path,
        retry_webhook_max_attempts=2,
        retry_webhook_backoff_base=0.1,
        retry_webhook_jitter=0,
    )
    receiver.statuses.extend([500, 503])
    secret = api.client.post(
        "/api/v1/webhooks", headers=api.write, json={"url": receiver.url, "events": ["run.succeeded"]}
    ).json()["secret"]
    _key, run = _run_sample(api, sample_export)
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    letters = api.client.get("/api/v1/dead-letters", headers=api.read).json()
    (letter,) = [d for d in letters if d["task"] == "tg_parser.deliver_webhook"]
    assert letter["attempts"] == 2
    assert letter["args"]["payload"]["data"]["run_id"] == run["run_id"]
    resp = api.client.post("/api/v1/dead-letters/replay", headers=api.write, json={"ids": [letter["id"]]})
    assert resp.status_code == 200, resp.text
    third = receiver.wait_for(3)[2]
    assert third.headers["webhook-id"] == first.headers["webhook-id"]
    assert (
        json.loads(Webhook(secret).verify(third.body, third.headers) and third.body)["type"]
        == "run.succeeded"
    )
    assert api.client.get("/api/v1/dead-letters", headers=api.read).json() == []


def test_webhook_bodies_are_validated_and_deletes_404_when_unknown(sqlite_url: str, tmp_path: Path) -> None:
    """Unknown events and non-HTTP URLs are 422 problems; deleting an unknown webhook is 404."""
    api = make_api(sqlite_url, tmp_path)
    for body in (
        {"url": "http://x.test/h", "events": ["run.exploded"]},
        {"url": "ftp://x", "events": ["run.failed"]},
    ):
        resp = api.client.post("/api/v1/webhooks", headers=api.write, json=body)
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
    assert api.client.delete("/api/v1/webhooks/wh_nope", headers=api.write).status_code == 404
