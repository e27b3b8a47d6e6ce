"""Shared helpers of the HTTP API tests: an app on a fresh SQLite database, keys, polling."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tg_parser.api import create_app
from tg_parser.config import Settings, load_settings
from tg_parser.services.api_keys import Scope, create_api_key

TERMINAL = ("succeeded", "failed")


@dataclass
class Api:
    """A test client with one key per scope."""

    client: TestClient
    settings: Settings
    read: dict[str, str]
    write: dict[str, str]
    admin: dict[str, str]


def make_api(database_url: str, tmp_path: Path, **overrides: Any) -> Api:
    """Build the app on ``database_url`` with exports under ``tmp_path`` and a key of each scope."""
    settings = load_settings(
        database_url=database_url, export_dir=str(tmp_path / "exports"), process_concurrency=1, **overrides
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    keys = {
        scope: create_api_key(database_url=database_url, name=f"test {scope.value}", scope=scope).key
        for scope in Scope
    }
    return Api(
        client=client,
        settings=settings,
        read={"Authorization": f"Bearer {keys[Scope.READ]}"},
        write={"X-API-Key": keys[Scope.WRITE]},
        admin={"Authorization": f"Bearer {keys[Scope.ADMIN]}"},
    )


def wait_for_run(
    client: Any, run_id: str, headers: dict[str, str], *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Poll ``GET /api/v1/runs/{run_id}`` until the run is terminal; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        resp = client.get(f"/api/v1/runs/{run_id}", headers=headers)
        assert resp.status_code == 200, resp.text
        run: dict[str, Any] = resp.json()
        if run["status"] in TERMINAL:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.1)
