"""Per-key API rate limits shared through Redis by every server process."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import make_api
from tg_parser.api import create_app

pytestmark = pytest.mark.integration


def test_two_servers_share_one_keys_budget_in_redis(sqlite_url: str, tmp_path: Path, redis_url: str) -> None:
    """A key's 4 requests/min are counted across two app instances on one Redis: the fifth is refused."""
    api = make_api(sqlite_url, tmp_path, api_rate_limit_per_min=4, redis_url=redis_url)
    other = TestClient(create_app(api.settings), raise_server_exceptions=False)
    statuses = [
        client.get("/api/v1/channels", headers=api.read).status_code
        for client in (api.client, other, api.client, other, api.client)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    refused = other.get("/api/v1/channels", headers=api.read)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
