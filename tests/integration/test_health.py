"""`tg-parser health` and the `tg_parser.health` task against real PostgreSQL, Redis and a real worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis

from tests.integration.cluster import ROOT, celery_workers, cluster_env
from tests.integration.ops_cli import ops_cli
from tg_parser.services.health import record_beat_tick
from tg_parser.storage import migrate

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration

HEALTH_REDIS_URL = os.environ.get("TEST_HEALTH_REDIS_URL", "redis://127.0.0.1:6379/12")


@pytest.fixture
def broker_url(redis_url: str) -> Iterator[str]:
    """Give these tests a Redis database of their own (flushed before and after).

    Workers are counted per broker: other tests' workers on the shared test
    database would answer ``ping`` too and hide a queue nobody consumes here.
    """
    client = redis.Redis.from_url(HEALTH_REDIS_URL)
    client.flushdb()
    try:
        yield HEALTH_REDIS_URL
    finally:
        client.flushdb()
        client.close()


def health(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, Any]]:
    """Run `tg-parser health --json`; return the exit code and the report."""
    proc = ops_cli("health", "--json", env=env, cwd=cwd, timeout_s=120)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def by_component(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Key the report's components by name."""
    return {c["component"]: c for c in report["components"]}


def closed_port() -> int:
    """Return a local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthy_cluster_exits_zero_and_a_stale_beat_does_not(
    pg_url: str, broker_url: str, tmp_path: Path
) -> None:
    """Database, broker, a worker on every queue, a fresh Beat tick: exit 0; a 10-minute-old tick: exit 1."""
    env = cluster_env(database_url=pg_url, broker_url=broker_url)
    assert record_beat_tick(broker_url)
    with celery_workers(env, count=1, concurrency=1, log_dir=tmp_path):
        code, report = health(env, tmp_path)
        parts = by_component(report)
        assert code == 0, report
        assert report["healthy"] is True
        assert report["mode"] == "cluster"
        for name in ("database", "broker", "workers", "queues", "beat"):
            assert parts[name]["status"] == "ok", parts[name]
        assert f"w0-{os.getpid()}@localhost" in parts["workers"]["detail"]

        table = ops_cli("health", env=env, cwd=tmp_path, timeout_s=120)
        assert table.returncode == 0, table.stderr[-3000:]
        assert "healthy" in table.stdout

        assert record_beat_tick(broker_url, now=time.time() - 600)
        code, report = health(env, tmp_path)
        assert code == 1
        beat = by_component(report)["beat"]
        assert beat["status"] == "fail"
        assert "stale" in beat["detail"]
        assert [c["component"] for c in report["components"] if c["status"] != "ok"] == ["beat"]


def test_closed_broker_port_exits_non_zero_naming_the_broker(pg_url: str, tmp_path: Path) -> None:
    """CELERY_BROKER_URL pointing at a closed port: exit 1, the broker reported unreachable by address."""
    port = closed_port()
    env = cluster_env(database_url=pg_url, broker_url=f"redis://127.0.0.1:{port}/0")
    code, report = health(env, tmp_path)
    parts = by_component(report)
    assert code == 1
    assert parts["database"]["status"] == "ok"
    assert parts["broker"]["status"] == "fail"
    assert f"127.0.0.1:{port}" in parts["broker"]["detail"]
    assert "unreachable" in parts["broker"]["detail"]

    table = ops_cli("health", env=env, cwd=tmp_path, timeout_s=120)
    assert table.returncode == 1
    assert "unhealthy" in table.stderr
    assert "broker" in table.stderr


def test_queue_without_a_consumer_is_named(pg_url: str, broker_url: str, tmp_path: Path) -> None:
    """A worker consuming only `celery,ingest`: exit 1 and the unconsumed queues are named."""
    env = cluster_env(database_url=pg_url, broker_url=broker_url)
    record_beat_tick(broker_url)
    with celery_workers(env, count=1, concurrency=1, log_dir=tmp_path, queues="celery,ingest"):
        code, report = health(env, tmp_path)
    queues = by_component(report)["queues"]
    assert code == 1, report
    assert by_component(report)["workers"]["status"] == "ok"
    assert queues["status"] == "fail"
    assert "process, topics, export" in queues["detail"]


def test_embedded_mode_needs_only_a_migrated_database(pg_empty_url: str, tmp_path: Path) -> None:
    """Without a broker only the database counts: unmigrated exits 1 (asks for `db upgrade`), migrated 0."""
    env = cluster_env(database_url=pg_empty_url, broker_url="")
    env.pop("CELERY_BROKER_URL")
    code, report = health(env, tmp_path)
    assert code == 1
    assert report["mode"] == "embedded"
    assert "db upgrade" in by_component(report)["database"]["detail"]

    migrate.upgrade(pg_empty_url)
    code, report = health(env, tmp_path)
    assert code == 0, report
    assert [c["component"] for c in report["components"] if c["required"]] == ["database"]


def test_health_task_answers_from_inside_the_cluster(pg_url: str, broker_url: str, tmp_path: Path) -> None:
    """`tg_parser.health` sent to the cluster returns the worker's own report: its database and node name."""
    env = cluster_env(database_url=pg_url, broker_url=broker_url, CELERY_RESULT_BACKEND=broker_url)
    call = (
        "import json\n"
        "from tasks.app import app\n"
        "print(json.dumps(app.send_task('tg_parser.health').get(timeout=60)))\n"
    )
    with celery_workers(env, count=1, concurrency=1, log_dir=tmp_path):
        proc = subprocess.run(
            [sys.executable, "-c", call],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    parts = by_component(report)
    assert report["healthy"] is True
    assert report["mode"] == "worker"
    assert parts["database"]["status"] == "ok"
    assert parts["worker"]["detail"] == f"w0-{os.getpid()}@localhost"
