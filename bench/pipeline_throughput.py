"""Throughput of the whole pipeline on the Celery cluster against a fixed-latency LLM.

N posts go ingest → process (each an OpenAI-protocol call to a loopback server
answering after a fixed latency) → topicize → export, on 1, 2 and 4 worker
processes (``--concurrency=1`` each), against the local PostgreSQL and Redis.
In the same run, the same N tasks as bare Celery no-ops (a fan-out group plus
a chained tail, on the same broker and worker flags) give the baseline
orchestration cost.

Printed figures:
* posts/s for each worker count, and the ratio 4-vs-1;
* run time / ideal, where ideal = N x latency / total concurrency (the
  processing phase alone, and the whole run including ingest/topicize/export);
* per-post orchestration overhead = (processing time x concurrency / N) -
  latency, next to the no-op baseline's per-task time x concurrency (the
  median of ``--noop-bursts`` bursts sent to the same workers).

Usage:
    .venv/bin/python bench/pipeline_throughput.py --posts 600 --latency-ms 200

Needs PostgreSQL (127.0.0.1:5432, user postgres) and Redis (127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.llm_servers import FakeLLMServer  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
"""Broker, rate limiter and no-op result backend (``--redis-url`` or ``BENCH_REDIS_URL``)."""
BIN = Path(sys.executable).parent


def make_export(path: Path, n: int) -> None:
    """Write a single-chat export of ``n`` posts built from real Russian posts when available."""
    texts: list[str] = []
    data = ROOT.parent / "shared" / "data" / "nktkln"
    for f in sorted(data.glob("*.json")) if data.is_dir() else []:
        texts += [
            r["text"] for r in json.loads(f.read_text(encoding="utf-8")) if (r.get("text") or "").strip()
        ]
    if not texts:
        texts = [f"Post number {i} about science and technology." for i in range(n)]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    messages = []
    for i in range(n):
        when = t0 + timedelta(minutes=i)
        body = texts[i % len(texts)] + ("" if i < len(texts) else f" ({i})")
        messages.append(
            {
                "id": i + 1,
                "type": "message",
                "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
                "date_unixtime": str(int(when.timestamp())),
                "text": body,
                "text_entities": [{"type": "plain", "text": body}],
            }
        )
    path.write_text(
        json.dumps(
            {"name": "bench", "type": "public_channel", "id": 777000 + n, "messages": messages},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )


def create_db() -> str:
    """Create a throwaway PostgreSQL database and return its URL."""
    name = f"tgp_bench_{uuid.uuid4().hex[:8]}"
    eng = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_db(url: str) -> None:
    """Drop a database made by :func:`create_db`."""
    eng = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    eng.dispose()


POOL = "prefork"
CONCURRENCY = 1


def start_workers(app: str, count: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` workers of ``app`` (:data:`POOL`, :data:`CONCURRENCY` slots each); wait for pings."""
    procs = []
    for i in range(count):
        log = (logs / f"{app.replace('.', '_')}_{count}_{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    app,
                    "worker",
                    "-n",
                    f"b{i}-{os.getpid()}@localhost",
                    f"--concurrency={CONCURRENCY}",
                    f"--pool={POOL}",
                    "--prefetch-multiplier=1",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel=WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = subprocess.run(
            [str(BIN / "celery"), "-A", app, "inspect", "ping", "--timeout=2"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if out.count("pong") >= count:
            return procs
        time.sleep(0.5)
    stop_workers(procs)
    msg = f"{count} workers of {app} did not start; see {logs}"
    raise RuntimeError(msg)


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop worker process groups."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def run_pipeline(workers: int, latency_s: float, export: Path, tmp: Path) -> dict[str, float]:
    """One cluster run of the pipeline on ``workers`` worker processes; returns timings in seconds."""
    db = create_db()
    server = FakeLLMServer("openai", default=f"slow:{latency_s}").start()
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "CELERY_BROKER_URL": REDIS,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "PROCESSOR_FACTORY": "bench.llm_processor:build",
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": server.base_url,
        "LLM_MODEL": "gpt-5-mini",
        "LLM_RPM": "1000000",
        "LLM_TPM": "1000000000",
        # The per-post path: above LLM_BATCH_MIN_POSTS a run would go through the batch API (LLM_BATCH=auto).
        "LLM_BATCH": "off",
        "PYTHONPATH": str(ROOT),
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [str(BIN / "tg-parser"), "db", "upgrade"], env=env, cwd=tmp, check=True, capture_output=True
        )
        procs = start_workers("tasks", workers, env, tmp)
        started = time.monotonic()
        proc = subprocess.run(
            [
                str(BIN / "tg-parser"),
                "run",
                "-f",
                str(export),
                "-o",
                str(tmp / f"out{workers}"),
                "--timeout-s",
                "3600",
            ],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        if proc.returncode != 0:
            msg = f"run failed: {proc.stderr[-2000:]}"
            raise RuntimeError(msg)
        eng = create_engine(db)
        with eng.connect() as c:
            row = c.execute(
                text(
                    "select extract(epoch from ingested_at - created_at),"
                    " extract(epoch from processed_at - ingested_at),"
                    " extract(epoch from finished_at - created_at), items_total from runs"
                )
            ).one()
            lat = c.execute(text("select avg(latency_ms) from llm_calls")).scalar_one()
        eng.dispose()
        return {
            "workers": workers,
            "ingest_s": float(row[0]),
            "process_s": float(row[1]),
            "run_s": float(row[2]),
            "cli_wall_s": wall,
            "items": float(row[3]),
            "calls": float(len(server.requests)),
            "provider_latency_ms": float(lat or 0),
        }
    finally:
        stop_workers(procs)
        server.stop()
        drop_db(db)


def run_noop(workers: int, n: int, tmp: Path, bursts: int = 1) -> float:
    """Seconds for a no-op fan-out of ``n`` tasks then a 2-task chained tail, on ``workers`` processes.

    The burst is sent ``bursts`` times to the same workers and the median is
    returned: one burst lasts about a second, and its time moved between 3 and
    7 ms a task from one run to the next on an idle machine (2026-12-08).
    """
    env = {**os.environ, "CELERY_BROKER_URL": REDIS, "CELERY_RESULT_BACKEND": REDIS, "PYTHONPATH": str(ROOT)}
    procs = start_workers("bench.noop_app", workers, env, tmp)
    try:
        os.environ.setdefault("CELERY_BROKER_URL", REDIS)
        sys.path.insert(0, str(ROOT))
        from celery import chain, group

        from bench.noop_app import app, noop

        app.conf.update(broker_url=REDIS, result_backend=REDIS)
        times = []
        for _ in range(bursts):
            started = time.monotonic()
            chain(noop.si(), group(noop.si(i) for i in range(n)), noop.si(), noop.si()).apply_async().get(
                timeout=600
            )
            times.append(time.monotonic() - started)
        return statistics.median(times)
    finally:
        stop_workers(procs)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=600)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--concurrency", type=int, default=1, help="slots per worker process (-c)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count; medians are printed")
    parser.add_argument(
        "--noop-bursts", type=int, default=5, help="no-op bursts per run, sent to the same workers; median"
    )
    parser.add_argument("--redis-url", default=None, help="broker and rate limiter (default BENCH_REDIS_URL)")
    args = parser.parse_args()
    global POOL, CONCURRENCY, REDIS  # noqa: PLW0603 - command-line choices for the whole run
    POOL, CONCURRENCY = args.pool, args.concurrency
    REDIS = args.redis_url or REDIS
    n, latency = args.posts, args.latency_ms / 1000
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(os.environ.get("BENCH_KEEP_DIR") or d)
        tmp.mkdir(parents=True, exist_ok=True)
        export = tmp / "result.json"
        make_export(export, n)
        results = []
        for w in counts:
            repeats = []
            for _ in range(args.repeat):
                r = run_pipeline(w, latency, export, tmp)
                r["noop_s"] = run_noop(w, n, tmp, args.noop_bursts)
                repeats.append(r)
                print(json.dumps(r), flush=True)
            # Median of each figure over the repeats (pipeline and no-op alternate: the same load).
            results.append({k: statistics.median(r[k] for r in repeats) for k in repeats[0]})
    print()
    print(
        f"pipeline throughput: {n} posts, {args.latency_ms:.0f} ms provider latency, "
        f"{CONCURRENCY} {POOL} slot(s) per worker process, median of {args.repeat} run(s)"
    )
    print(
        "ideal = posts x latency / workers; 'nominal' uses the configured latency, 'observed' the mean"
        " latency"
    )
    print("the SDK measured (llm_calls.latency_ms: the loopback server's own time included)")
    print(
        f"{'workers':>7} {'posts/s':>8} {'observed':>9} {'process/ideal':>14} {'run/ideal':>10} "
        f"{'run/ideal':>10} {'overhead/post':>14} {'noop/task':>10} {'overhead/noop':>14}"
    )
    print(
        f"{'':>7} {'':>8} {'latency':>9} {'(observed)':>14} {'(nominal)':>10} {'(observed)':>10} "
        f"{'(observed)':>14} {'':>10}"
    )
    for r in results:
        w = r["workers"] * CONCURRENCY
        observed = r["provider_latency_ms"] / 1000
        ideal_nominal = n * latency / w
        ideal_observed = n * observed / w
        pps = n / r["process_s"]
        overhead_ms = (r["process_s"] * w / n - observed) * 1000
        noop_ms = r["noop_s"] * w / (n + 3) * 1000
        print(
            f"{r['workers']:>7} {pps:>8.2f} {observed * 1000:>6.0f} ms "
            f"{r['process_s'] / ideal_observed:>14.3f} "
            f"{r['run_s'] / ideal_nominal:>10.3f} {r['run_s'] / ideal_observed:>10.3f} "
            f"{overhead_ms:>11.1f} ms {noop_ms:>7.1f} ms {overhead_ms / noop_ms:>13.2f}x"
        )
    by_w = {r["workers"]: r for r in results}
    if 1 in by_w and 4 in by_w:
        print(
            f"\nspeed-up 4 vs 1 workers: processing {by_w[1]['process_s'] / by_w[4]['process_s']:.2f}x, "
            f"whole run {by_w[1]['run_s'] / by_w[4]['run_s']:.2f}x"
        )


if __name__ == "__main__":
    main()
