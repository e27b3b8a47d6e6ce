"""The pipeline on a real cluster: PostgreSQL, Redis and two `celery -A tasks worker` processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.export_checks import check_chat_export, read_ndjson, source_chats
from tests.integration.cluster import ROOT, celery_workers, cluster_env

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the tg-parser CLI."""
    exe = str(Path(sys.executable).with_name("tg-parser"))
    return subprocess.run([exe, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def counts(url: str) -> dict[str, int]:
    """Row counts of content tables."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"select count(*) from {t}")).scalar_one()  # noqa: S608
                    for t in ("messages", "documents", "topics", "topic_members", "message_versions")}
    finally:
        engine.dispose()


def test_cluster_run_matches_embedded_and_celery_call_reruns(
    pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """`tg-parser run` on the cluster gives the embedded run's documents; `celery call` re-runs without changes."""
    embedded_dir = tmp_path / "embedded"
    embedded_dir.mkdir()
    emb_env = cluster_env(database_url=f"sqlite:///{embedded_dir / 'e.db'}", broker_url="")
    emb_env.pop("CELERY_BROKER_URL")
    proc = cli("run", "-f", str(sample_export), "-o", str(embedded_dir / "out"), env=emb_env, cwd=embedded_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]

    env = cluster_env(database_url=pg_url, broker_url=redis_url)
    out = tmp_path / "cluster"
    with celery_workers(env, count=2, log_dir=tmp_path):
        proc = cli("run", "-f", str(sample_export), "-o", str(out), "--timeout-s", "300", env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
        key = next(out.iterdir()).name
        docs_path = out / key / "documents.ndjson"
        assert docs_path.read_bytes() == (embedded_dir / "out" / key / "documents.ndjson").read_bytes()
        check_chat_export(source_chats(sample_export)[0], read_ndjson(docs_path))
        before = counts(pg_url)
        first_bytes = docs_path.read_bytes()

        celery = str(Path(sys.executable).with_name("celery"))
        call = subprocess.run([celery, "-A", "tasks", "call", "tg_parser.run_pipeline", "--args", json.dumps([key])],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert call.returncode == 0, call.stderr
        run_id = call.stdout.strip().splitlines()[-1]
        engine = create_engine(pg_url)
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                status = conn.execute(text("select status from runs where id = :i"), {"i": run_id}).scalar()
            if status in {"succeeded", "failed"}:
                break
            time.sleep(0.5)
        engine.dispose()
        assert status == "succeeded"
        assert counts(pg_url) == before
        assert docs_path.read_bytes() == first_bytes
