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
    return subprocess.run(
        [exe, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def counts(url: str) -> dict[str, int]:
    """Row counts of content tables."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(text(f"select count(*) from {t}")).scalar_one()  # noqa: S608
                for t in ("messages", "documents", "topics", "topic_members", "message_versions")
            }
    finally:
        engine.dispose()


def test_cluster_run_matches_embedded_and_celery_call_reruns(
    pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """A cluster run gives the embedded run's documents; `celery call` re-runs it, changing nothing."""
    embedded_dir = tmp_path / "embedded"
    embedded_dir.mkdir()
    emb_env = cluster_env(database_url=f"sqlite:///{embedded_dir / 'e.db'}", broker_url="")
    emb_env.pop("CELERY_BROKER_URL")
    proc = cli(
        "run", "-f", str(sample_export), "-o", str(embedded_dir / "out"), env=emb_env, cwd=embedded_dir
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    env = cluster_env(database_url=pg_url, broker_url=redis_url)
    out = tmp_path / "cluster"
    with celery_workers(env, count=2, log_dir=tmp_path):
        proc = cli(
            "run", "-f", str(sample_export), "-o", str(out), "--timeout-s", "300", env=env, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
        key = next(out.iterdir()).name
        docs_path = out / key / "documents.ndjson"
        assert docs_path.read_bytes() == (embedded_dir / "out" / key / "documents.ndjson").read_bytes()
        check_chat_export(source_chats(sample_export)[0], read_ndjson(docs_path))
        before = counts(pg_url)
        first_bytes = docs_path.read_bytes()

        celery = str(Path(sys.executable).with_name("celery"))
        call = subprocess.run(
            [celery, "-A", "tasks", "call", "tg_parser.run_pipeline", "--args", json.dumps([key])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
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


def _celery_call(env: dict[str, str], *args: str) -> str:
    """Run `celery -A tasks call …` as documented and return the task id it prints."""
    celery = str(Path(sys.executable).with_name("celery"))
    call = subprocess.run(
        [celery, "-A", "tasks", "call", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert call.returncode == 0, call.stderr
    return call.stdout.strip().splitlines()[-1]


def _wait_run(url: str, run_id: str, timeout_s: float = 120) -> str | None:
    engine = create_engine(url)
    deadline = time.monotonic() + timeout_s
    status = None
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                status = conn.execute(text("select status from runs where id = :i"), {"i": run_id}).scalar()
            if status in {"succeeded", "failed"}:
                return status
            time.sleep(0.5)
    finally:
        engine.dispose()
    return status


def test_json_logs_events_and_documented_celery_calls(
    pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """Worker logs are JSON with run/task/correlation ids; task events share the run id; docs' calls work."""
    from celery.events import EventReceiver

    from tasks.app import app as celery_app

    env = cluster_env(database_url=pg_url, broker_url=redis_url, LOG_LEVEL="INFO")
    events: list[dict[str, object]] = []
    celery_app.conf.broker_url = redis_url
    with celery_workers(env, count=2, log_dir=tmp_path), celery_app.connection_for_read() as conn:
        receiver = EventReceiver(conn, handlers={"*": events.append}, app=celery_app)
        stop = False

        def consume() -> None:
            while not stop:
                try:
                    receiver.capture(limit=None, timeout=1, wakeup=False)
                except TimeoutError:
                    continue
                except Exception:  # noqa: BLE001 - the receiver ends when the connection closes
                    return

        import threading

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        time.sleep(1)
        proc = cli(
            "run",
            "-f",
            str(sample_export),
            "-o",
            str(tmp_path / "out"),
            "--correlation-id",
            "cid-4242",
            env=env,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        run_id = proc.stderr.split("dispatched run ", 1)[1].split()[0]
        key = next((tmp_path / "out").iterdir()).name

        # Every example of docs/operations.md, as written.
        ingest_run = _celery_call(env, "tg_parser.ingest_channel", "--args", json.dumps([key]))
        assert _wait_run(pg_url, ingest_run) == "succeeded"
        _celery_call(
            env,
            "tg_parser.run_pipeline",
            "--args",
            json.dumps([key]),
            "--kwargs",
            json.dumps({"export_dir": str(tmp_path / "out2")}),
        )
        for task, args in (
            ("tg_parser.process_message", [None, 1]),
            ("tg_parser.topicize_channel", [key]),
            ("tg_parser.export_channel", [key]),
            ("tg_parser.schedule_due_channels", None),
            ("tg_parser.sweep_stalled_runs", None),
        ):
            extra = ["--args", json.dumps(args)] if args is not None else []
            _celery_call(env, task, *extra)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "out2" / key / "documents.ndjson").exists():
            time.sleep(0.5)
        assert (tmp_path / "out2" / key / "documents.ndjson").read_bytes() == (
            tmp_path / "out" / key / "documents.ndjson"
        ).read_bytes()
        time.sleep(2)
        stop = True
        thread.join(timeout=5)

    lines = [
        line for f in sorted(tmp_path.glob("worker*.log")) for line in f.read_text().splitlines() if line
    ]
    # Celery prints "worker: Warm shutdown (MainProcess)" to the console when stopped, outside logging;
    # every other line the workers wrote, the whole run long, is a JSON log record.
    parsed = [json.loads(line) for line in lines if not line.startswith("worker: Warm shutdown")]
    task_lines = [p for p in parsed if p.get("run_id") == run_id]
    assert {p.get("task_name") for p in task_lines} >= {
        "tg_parser.run_pipeline",
        "tg_parser.ingest_channel",
        "tg_parser.process_message",
        "tg_parser.topicize_channel",
        "tg_parser.export_channel",
    }
    assert all(p.get("task_id") for p in task_lines)
    assert all(p.get("correlation_id") == "cid-4242" for p in task_lines if p.get("task_name"))

    received = [e for e in events if e.get("type") == "task-received" and e.get("root_id") == run_id]
    names = {e.get("name") for e in received}
    assert names >= {
        "tg_parser.ingest_channel",
        "tg_parser.process_message",
        "tg_parser.topicize_channel",
        "tg_parser.export_channel",
    }
    assert all(e.get("args") for e in received)  # readable arguments: ids only
    _assert_whole_lives(events, received)


def _assert_whole_lives(events: list[dict[str, object]], received: list[dict[str, object]]) -> None:
    """Each post's task reports its whole life in order (task events are batched: tasks/consumer.py)."""
    lives: dict[object, list[object]] = {}
    for e in events:
        if e.get("type") in {"task-received", "task-started", "task-succeeded"}:
            lives.setdefault(e.get("uuid"), []).append(e.get("type"))
    posts = [e.get("uuid") for e in received if e.get("name") == "tg_parser.process_message"]
    assert posts
    assert all(lives[p] == ["task-received", "task-started", "task-succeeded"] for p in posts)
    # The fan-out's task-sent events travel in task.multi batches (tasks/dispatch.py): one per post still.
    sent = [e.get("uuid") for e in events if e.get("type") == "task-sent"]
    assert sorted(p for p in sent if p in set(posts)) == sorted(posts)
