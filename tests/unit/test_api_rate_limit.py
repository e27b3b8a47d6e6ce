"""Per-key rate limits of the HTTP API (in-process GCRA): 429 with Retry-After, IETF RateLimit headers."""

from __future__ import annotations

from pathlib import Path

from tests.api_helpers import make_api
from tg_parser.services.api_keys import Scope, create_api_key


def test_burst_over_the_limit_gets_429_with_retry_after_and_headers(sqlite_url: str, tmp_path: Path) -> None:
    """With 3 requests/min, three pass with falling RateLimit remaining, the fourth is a 429 problem."""
    api = make_api(sqlite_url, tmp_path, api_rate_limit_per_min=3)
    remaining = []
    for _ in range(3):
        resp = api.client.get("/api/v1/channels", headers=api.read)
        assert resp.status_code == 200
        assert resp.headers["ratelimit-policy"] == '"per-key";q=3;w=60'
        remaining.append(resp.headers["ratelimit"].split(";")[1])
    assert remaining == ["r=2", "r=1", "r=0"]
    resp = api.client.get("/api/v1/channels", headers=api.read)
    assert resp.status_code == 429
    assert resp.headers["content-type"] == "application/problem+json"
    assert 1 <= int(resp.headers["retry-after"]) <= 20
    assert resp.headers["ratelimit"].startswith('"per-key";r=0;t=')
    # Another key has its own bucket; liveness is never limited.
    assert api.client.get("/api/v1/channels", headers=api.write).status_code == 200
    assert all(api.client.get("/health").status_code == 200 for _ in range(10))


def test_a_keys_own_limit_overrides_the_default(sqlite_url: str, tmp_path: Path) -> None:
    """A key created with its own limit gets it (1/min here) while the default stays (5/min)."""
    api = make_api(sqlite_url, tmp_path, api_rate_limit_per_min=5)
    one = create_api_key(database_url=sqlite_url, name="slow", scope=Scope.READ, rate_limit_per_min=1).key
    headers = {"X-API-Key": one}
    first = api.client.get("/api/v1/runs", headers=headers)
    assert first.headers["ratelimit-policy"] == '"per-key";q=1;w=60'
    assert api.client.get("/api/v1/runs", headers=headers).status_code == 429
    assert api.client.get("/api/v1/runs", headers=api.read).status_code == 200


def test_requests_without_a_valid_key_are_limited_too(sqlite_url: str, tmp_path: Path) -> None:
    """Guessing keys is rate limited: anonymous requests share their address's bucket."""
    api = make_api(sqlite_url, tmp_path, api_rate_limit_per_min=2)
    statuses = [
        api.client.get("/api/v1/channels", headers={"X-API-Key": f"guess{i}"}).status_code for i in range(3)
    ]
    assert statuses == [401, 401, 429]
