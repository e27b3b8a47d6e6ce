"""Shared helpers of the HTTP API tests: an app on a fresh SQLite database, keys, polling."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


EXE = Path(sys.executable).with_name("tg-parser")


def cli(*args: str, cwd: Path, env: dict[str, str]) -> str:
    """Run the installed ``tg-parser`` and return its standard output (it must succeed)."""
    proc = subprocess.run([str(EXE), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_api(env: dict[str, str], *, cwd: Path, log: Path) -> Iterator[str]:
    """Run ``tg-parser api serve`` on a free loopback port until the block ends; yield its base URL."""
    import httpx

    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(EXE), "api", "serve", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)
