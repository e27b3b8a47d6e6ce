"""Fault tolerance of the cluster, proven with real processes (issue "Cluster semantics", item 4).

Every test runs real ``celery -A tasks worker`` processes (and ``celery -A
tasks beat`` where the stuck-run sweeper is needed) against a throwaway
PostgreSQL database and Redis, feeds them a Telegram Desktop export of real
Russian posts, strikes while the run is processing, and then checks what a user
would check: the run succeeded, every post has exactly one document (or, for a
post that failed for good, exactly one dead letter), no run item is left
pending, and ``topicize``/``export`` happened once.

Processing is slowed down and made to fail on purpose by
:mod:`tests.integration.faulty_processor` (``PROCESSOR_FACTORY``). Retries and
the sweeper are tuned short (``RETRY_BACKOFF_BASE=0.1``, ``SWEEP_INTERVAL_S=2``,
``RUN_STALL_TIMEOUT_S=8``) so a test takes seconds, not the production hour of
the Redis visibility timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import redis
from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]  # kombu re-exports it lazily

from tasks.app import QUEUES, TASK_ROUTES
from tests.conftest import PG_ADMIN_URL, need
from tests.export_checks import check_chat_export, read_ndjson, source_chats
from tests.integration.cluster import ROOT, celery_workers, cluster_env
from tests.integration.faults import (
    BIN,
    Db,
    Post,
    PrivateRedis,
    build_export,
    celery_beat,
    log_events,
    private_redis,
    run_cli,
    start_cli_run,
    stop_group,
    terminate_backends,
    wait_until,
)
from tests.integration.faulty_processor import ATTEMPTS_KEY, fault_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration

TERMINAL_RUN = {"succeeded", "failed"}
SWEEPER_POSTS = 300
"""Posts of the SIGKILL test (the issue asks for at least 200)."""
POSTS = 200
"""Posts of the other tests."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    """Start a private ``redis-server`` (broker and attempt counters) on a free port, for this test only.

    The shared Redis database of ``redis_url`` is flushed by every other test
    session on the machine; a run whose queues vanish under it would test
    nothing but that.
    """
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    with private_redis(tmp_path / "redis") as server:
        yield server


def fault_env(
    *,
    database_url: str,
    broker_url: str,
    faulty_redis_url: str | None = None,
    delay_s: float,
    rate: float = 0.0,
    kind: str = "mixed",
) -> dict[str, str]:
    """Cluster environment with short retries, a fast sweeper and the faulty processor."""
    extra = {
        "PYTHONPATH": str(ROOT),
        "PROCESSOR_FACTORY": "tests.integration.faulty_processor:build",
        "FAULTY_DELAY_S": str(delay_s),
        "FAULTY_RATE": str(rate),
        "FAULTY_KIND": kind,
        "RETRY_BACKOFF_BASE": "0.1",
        "RETRY_BACKOFF_MAX": "1",
        "RETRY_MAX_ATTEMPTS": "3",
        "REDIS_VISIBILITY_TIMEOUT_S": "3600",
        "SWEEP_INTERVAL_S": "2",
        "RUN_STALL_TIMEOUT_S": "8",
    }
    if faulty_redis_url:
        extra["FAULTY_REDIS_URL"] = faulty_redis_url
    return cluster_env(database_url=database_url, broker_url=broker_url, **extra)


def wait_mid_run(db: Db, run_id: str, *, share: float) -> tuple[int, int]:
    """Wait until at least ``share`` of the run's items are terminal; return (terminal, total).

    Fails when the run got past processing before we could strike, since a
    fault injected after the work is done proves nothing.
    """

    def probe() -> tuple[int, int] | None:
        status = db.run(run_id)["status"]
        assert status in {"ingesting", "processing"}, f"run reached {status!r} before the fault was injected"
        done, total = db.progress(run_id)
        return (done, total) if status == "processing" and total and done >= share * total else None

    done, total = wait_until(
        probe,
        timeout_s=180,
        what=f"{share:.0%} of the run's items",
        interval_s=0.05,
        diagnose=lambda: db.describe(run_id),
    )
    assert done < total, "every item was already terminal when the fault was injected"
    return done, total


def wait_finished(db: Db, run_id: str, *, timeout_s: float) -> dict[str, Any]:
    """Wait until the run is terminal (succeeded or failed); return its row."""

    def probe() -> dict[str, Any] | None:
        run = db.run(run_id)
        return run if run["status"] in TERMINAL_RUN else None

    return wait_until(
        probe,
        timeout_s=timeout_s,
        what=f"run {run_id} to finish",
        interval_s=0.5,
        diagnose=lambda: db.describe(run_id),
    )


def assert_every_post_documented_once(db: Db, posts: list[Post], run_id: str) -> None:
    """Every post has exactly one document and the run has no pending or failed item."""
    per_post = db.documents_per_post()
    assert set(per_post) == {p.message_id for p in posts}
    undocumented = sorted(mid for mid, n in per_post.items() if n == 0)
    duplicated = sorted(mid for mid, n in per_post.items() if n > 1)
    assert not undocumented, f"{len(undocumented)} posts lost (no document): {undocumented[:20]}"
    assert not duplicated, f"{len(duplicated)} posts with several documents: {duplicated[:20]}"
    items = db.items(run_id)
    assert items == {"pending": 0, "done": len(posts), "failed": 0}, items


def assert_export_complete(export: Path, out: Path) -> None:
    """Assert the run's ``documents.ndjson`` holds every post of the export exactly once, as exported."""
    chat = source_chats(export)[0]
    (folder,) = list(out.iterdir())
    check_chat_export(chat, read_ndjson(folder / "documents.ndjson"))


def finish_cli(cli: subprocess.Popen[bytes], work_dir: Path) -> None:
    """Wait for ``tg-parser run`` and assert it reported success."""
    try:
        code = cli.wait(timeout=120)
    except subprocess.TimeoutExpired:
        stop_group(cli)
        code = None
    log = (work_dir / "cli.log").read_text(errors="replace")[-3000:]
    assert code == 0, f"tg-parser run exited with {code}:\n{log}"


def celery_sender(broker_url: str) -> Celery:
    """Return a bare Celery client with the cluster's queues and routes (sends by task name only)."""
    app = Celery("fault-tests", broker=broker_url)
    app.conf.update(
        task_queues=[Queue(q) for q in QUEUES],  # type: ignore[no-untyped-call]
        task_default_queue="celery",
        task_routes=TASK_ROUTES,
        task_serializer="json",
    )
    return app


@pytest.mark.timeout(600)
def test_sigkill_of_a_worker_mid_run_loses_no_post_and_duplicates_no_document(
    pg_url: str, broker: PrivateRedis, shared_data: Path, tmp_path: Path
) -> None:
    """SIGKILL of one of two workers mid-run: the sweeper re-drives, every post gets exactly one document."""
    export, posts = build_export(shared_data=shared_data, out_dir=tmp_path / "src", count=SWEEPER_POSTS)
    out = tmp_path / "out"
    env = fault_env(database_url=pg_url, broker_url=broker.url, delay_s=0.1)
    db = Db(pg_url)
    try:
        with celery_workers(env, count=2, log_dir=tmp_path) as workers, celery_beat(env, work_dir=tmp_path):
            cli = start_cli_run(export=export, out=out, env=env, work_dir=tmp_path)
            run_id = wait_until(db.only_run_id, timeout_s=120, what="the run to be recorded")
            wait_mid_run(db, run_id, share=0.2)

            victim = workers[0]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=30)
            assert victim.returncode == -signal.SIGKILL

            run = wait_finished(db, run_id, timeout_s=180)
            finish_cli(cli, tmp_path)
        assert run["status"] == "succeeded", db.describe(run_id)
        assert_every_post_documented_once(db, posts, run_id)
        # The killed worker held unacknowledged messages that Redis keeps for the
        # visibility timeout (an hour); only the sweeper can have brought them back.
        assert run["redrives"] >= 1, "the run finished without the sweeper, so the kill hit no work"
        assert_export_complete(export, out)
    finally:
        db.close()


@pytest.mark.timeout(600)
def test_redis_restart_mid_run_completes_the_run(
    pg_url: str, broker: PrivateRedis, shared_data: Path, tmp_path: Path
) -> None:
    """Stopping the broker (a private redis-server) mid-run and starting it again: the run completes."""
    export, posts = build_export(shared_data=shared_data, out_dir=tmp_path / "src", count=POSTS)
    out = tmp_path / "out"
    db = Db(pg_url)
    try:
        env = fault_env(database_url=pg_url, broker_url=broker.url, delay_s=0.05)
        with celery_workers(env, count=2, log_dir=tmp_path), celery_beat(env, work_dir=tmp_path):
            cli = start_cli_run(export=export, out=out, env=env, work_dir=tmp_path)
            run_id = wait_until(db.only_run_id, timeout_s=120, what="the run to be recorded")
            wait_mid_run(db, run_id, share=0.2)

            broker.stop()
            time.sleep(2)
            broker.start()

            run = wait_finished(db, run_id, timeout_s=240)
            finish_cli(cli, tmp_path)
        assert broker.starts == 2
        assert run["status"] == "succeeded", db.describe(run_id)
        assert_every_post_documented_once(db, posts, run_id)
        assert_export_complete(export, out)
    finally:
        db.close()


@pytest.mark.timeout(600)
def test_pg_terminate_backend_mid_run_is_absorbed_by_retries(
    pg_url: str, broker: PrivateRedis, shared_data: Path, tmp_path: Path
) -> None:
    """Killing every database connection three times mid-run: no post lost, retries absorb the disconnects."""
    export, posts = build_export(shared_data=shared_data, out_dir=tmp_path / "src", count=POSTS)
    out = tmp_path / "out"
    env = fault_env(database_url=pg_url, broker_url=broker.url, delay_s=0.05)
    database = pg_url.rsplit("/", 1)[1]
    db = Db(pg_url)
    try:
        with celery_workers(env, count=2, log_dir=tmp_path), celery_beat(env, work_dir=tmp_path):
            imported = run_cli("import", "-f", str(export), "-o", str(out), env=env, cwd=tmp_path)
            assert imported.returncode == 0, imported.stderr[-3000:]
            (key,) = [k for (k,) in db.query("select key from channels")]
            call = subprocess.run(
                [
                    str(BIN / "celery"),
                    "-A",
                    "tasks",
                    "call",
                    "tg_parser.run_pipeline",
                    "--args",
                    f'["{key}"]',
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert call.returncode == 0, call.stderr[-3000:]
            run_id = call.stdout.strip().splitlines()[-1]
            wait_mid_run(db, run_id, share=0.2)

            terminated = 0
            for _ in range(3):
                terminated += terminate_backends(admin_url=PG_ADMIN_URL, database=database)
                time.sleep(1)
            assert terminated > 0, "no connection was open to terminate: the fault hit nothing"

            run = wait_finished(db, run_id, timeout_s=240)
        assert run["status"] == "succeeded", db.describe(run_id)
        per_post = db.documents_per_post()
        failed = db.failed_message_ids(run_id)
        letters = db.dead_letters("tg_parser.process_message")
        lost = sorted(mid for mid, n in per_post.items() if n == 0 and mid not in failed)
        assert not lost, f"posts neither documented nor dead-lettered: {lost[:20]}"
        assert max(per_post.values()) == 1
        assert sorted(int(d["message_id"]) for d in letters) == sorted(failed)
        assert not failed, f"disconnects were not absorbed by retries; dead letters: {letters[:5]}"
        assert_every_post_documented_once(db, posts, run_id)
        assert_export_complete(export, out)
    finally:
        db.close()


@pytest.mark.timeout(600)
def test_injected_failures_are_dead_lettered_exactly_and_replay_completes_the_run(
    pg_url: str, broker: PrivateRedis, shared_data: Path, tmp_path: Path
) -> None:
    """20 % injected failures: permanent ones dead-lettered once each, none lost; `dlq replay --all` heals."""
    export, posts = build_export(shared_data=shared_data, out_dir=tmp_path / "src", count=POSTS)
    out = tmp_path / "out"
    faults = {p.message_id: fault_for(p.text, rate=0.2, kind="mixed") for p in posts}
    permanent = {mid for mid, f in faults.items() if f == "permanent"}
    retryable = {mid for mid, f in faults.items() if f == "retryable"}
    assert permanent, "the hash rule must pick some permanent faults among these posts"
    assert retryable, "the hash rule must pick some retryable faults among these posts"
    db = Db(pg_url)
    try:
        env = fault_env(
            database_url=pg_url,
            broker_url=broker.url,
            faulty_redis_url=broker.counters_url,
            delay_s=0.02,
            rate=0.2,
            kind="mixed",
        )
        with celery_workers(env, count=2, log_dir=tmp_path):
            cli = start_cli_run(export=export, out=out, env=env, work_dir=tmp_path)
            run_id = wait_until(db.only_run_id, timeout_s=120, what="the run to be recorded")
            run = wait_finished(db, run_id, timeout_s=240)
            finish_cli(cli, tmp_path)

        assert run["status"] == "succeeded", db.describe(run_id)
        per_post = db.documents_per_post()
        documented = {mid for mid, n in per_post.items() if n == 1}
        failed = db.failed_message_ids(run_id)
        letters = [int(d["message_id"]) for d in db.dead_letters("tg_parser.process_message")]
        assert max(per_post.values()) == 1
        assert documented | failed == {p.message_id for p in posts}, (
            "some posts were neither processed nor failed"
        )
        assert not documented & failed
        assert failed == permanent
        assert sorted(letters) == sorted(permanent), "one dead letter per permanently failing post"
        assert db.items(run_id)["pending"] == 0
        assert_retried(counters_url=broker.counters_url, chat_id=posts_chat_id(db), message_ids=retryable)
        assert retryable <= documented

        healthy = fault_env(database_url=pg_url, broker_url=broker.url, delay_s=0.0, rate=0.0)
        replay_logs = tmp_path / "replay"
        replay_logs.mkdir()
        with celery_workers(healthy, count=2, log_dir=replay_logs):
            replay = run_cli("dlq", "replay", "--all", env=healthy, cwd=tmp_path)
            assert replay.returncode == 0, replay.stderr[-3000:]
            assert replay.stdout.count("re-sent post") == len(permanent), replay.stdout[-3000:]

            def healed() -> dict[str, Any] | None:
                run = db.run(run_id)
                return run if run["status"] in TERMINAL_RUN and db.items(run_id)["failed"] == 0 else None

            run = wait_until(
                healed,
                timeout_s=180,
                what="the replayed run to finish",
                interval_s=0.5,
                diagnose=lambda: db.describe(run_id),
            )
        assert run["status"] == "succeeded", db.describe(run_id)
        assert_every_post_documented_once(db, posts, run_id)
        assert db.dead_letters("tg_parser.process_message") == []
        assert_export_complete(export, out)
    finally:
        db.close()


def assert_retried(*, counters_url: str, chat_id: int, message_ids: set[int]) -> None:
    """Assert the faulty processor saw at least two attempts of each post (its Redis counters)."""
    attempts = redis.Redis.from_url(counters_url)
    try:
        for mid in message_ids:
            key = ATTEMPTS_KEY.format(channel_id=chat_id, message_id=mid)
            assert int(attempts.get(key) or 0) >= 2, f"retryable post {mid} was not retried"
    finally:
        attempts.close()


def posts_chat_id(db: Db) -> int:
    """Return the Telegram id of the test channel (the faulty processor keys attempts by it)."""
    return int(db.scalar("select telegram_id from channels"))


@pytest.mark.timeout(600)
def test_duplicate_delivery_topicizes_and_exports_once(
    pg_url: str, broker: PrivateRedis, shared_data: Path, tmp_path: Path
) -> None:
    """Each process_message delivered 3 times mid-run: processing_done, topicize and export happen once."""
    export, posts = build_export(shared_data=shared_data, out_dir=tmp_path / "src", count=POSTS)
    out = tmp_path / "out"
    env = fault_env(database_url=pg_url, broker_url=broker.url, delay_s=0.05)
    db = Db(pg_url)
    sender = celery_sender(broker.url)
    try:
        with celery_workers(env, count=2, log_dir=tmp_path):
            cli = start_cli_run(export=export, out=out, env=env, work_dir=tmp_path)
            run_id = wait_until(db.only_run_id, timeout_s=120, what="the run to be recorded")
            wait_mid_run(db, run_id, share=0.1)

            pks = sorted(
                int(pk)
                for (pk,) in db.query(
                    "select message_pk from run_items where run_id = :i and status = 'pending'", i=run_id
                )
            )
            # One copy through the ``celery`` queue, which workers poll in turn
            # with ``process``: it races the original of the same post. One copy
            # behind the originals in ``process``: it races the run's last posts
            # and the claim of the processing -> topicizing transition.
            sent = []
            with sender.producer_or_acquire() as producer:
                for queue in ("celery", "process"):
                    for pk in pks:
                        task_id = f"dup-{uuid.uuid4()}"
                        sender.send_task(
                            "tg_parser.process_message",
                            args=[run_id, pk],
                            task_id=task_id,
                            queue=queue,
                            producer=producer,
                        )
                        sent.append(task_id)

            run = wait_finished(db, run_id, timeout_s=240)
            finish_cli(cli, tmp_path)
            assert run["status"] == "succeeded", db.describe(run_id)
            topicized_at = run["topicized_at"]

            key = db.scalar("select key from channels")
            for name in ("tg_parser.topicize_channel", "tg_parser.export_channel"):
                task_id = f"dup-{uuid.uuid4()}"
                sender.send_task(name, args=[key, run_id], task_id=task_id)
                sent.append(task_id)

            def consumed() -> bool:
                seen = {r.get("task_id") for r in log_events(tmp_path, "task_done")}
                return all(t in seen for t in sent)

            wait_until(
                consumed,
                timeout_s=240,
                what=f"the {len(sent)} duplicate messages to be consumed",
                interval_s=1.0,
            )

        (processing_done,) = [r for r in log_events(tmp_path, "processing_done") if r.get("run_id") == run_id]
        raced = [
            r
            for r in log_events(tmp_path, "task_done")
            if str(r.get("task_id")).startswith("dup-") and r["timestamp"] < processing_done["timestamp"]
        ]
        assert raced, "no duplicate was consumed while the run was processing; the test raced nothing"
        for event in ("processing_done", "topicize_done", "export_done"):
            lines = [r for r in log_events(tmp_path, event) if r.get("run_id") == run_id]
            assert len(lines) == 1, f"{event} logged {len(lines)} times for run {run_id}"
        run = db.run(run_id)
        assert run["status"] == "succeeded"
        assert run["topicized_at"] == topicized_at
        assert_every_post_documented_once(db, posts, run_id)
        assert_export_complete(export, out)
    finally:
        sender.close()
        db.close()


@pytest.mark.timeout(120)
def test_worker_refuses_a_visibility_timeout_shorter_than_retries_plus_time_limit(
    broker: PrivateRedis, tmp_path: Path
) -> None:
    """A worker with REDIS_VISIBILITY_TIMEOUT_S=100, TASK_TIME_LIMIT_S=600 exits non-zero, naming it."""
    env = cluster_env(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        broker_url=broker.url,
        REDIS_VISIBILITY_TIMEOUT_S="100",
        TASK_TIME_LIMIT_S="600",
    )
    log_path = tmp_path / "refused.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "tasks",
                "worker",
                "-n",
                f"refused-{os.getpid()}@localhost",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stop_group(proc, sig=signal.SIGKILL)
            pytest.fail(f"the worker kept running:\n{log_path.read_text(errors='replace')[-3000:]}")
    output = log_path.read_text(errors="replace")
    assert code != 0, output[-3000:]
    assert "REDIS_VISIBILITY_TIMEOUT_S" in output, output[-3000:]
