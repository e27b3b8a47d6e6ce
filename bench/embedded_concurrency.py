"""Embedded processing at several ``PROCESS_CONCURRENCY`` values, against a floor measured in the same run.

Two measurements, each a whole embedded run (``run_channel_embedded``: ingest →
process → topicize → export, SQLite) in this process; the figure is the
*processing phase*, from the end of ingest to the last post's progress call:

* ``offline``: N real Russian posts (``../shared/data/nktkln``, cycled) through
  the offline processor at concurrency 1 (the floor) and at each other value
  (worker processes); prints posts/s and the speed-up over concurrency 1.
* ``llm``: the 128-post sample (``samples/sample_channel/result.json``) through
  a provider's real SDK against a loopback server of that provider's protocol
  (``tests/integration/llm_servers.py``) answering after ``--latency-ms``;
  prints measured time / ideal, where ideal = posts x latency / concurrency.

* ``process``: ``tg-parser process`` (:func:`process_channel_embedded`)
  of N real posts imported once into ``--database`` (``sqlite`` or
  ``postgres``: a fresh ``offline_bench_*`` database at 127.0.0.1:5432,
  dropped afterwards); before each measurement the documents are deleted, so
  every post is processed again. Timed from the call to its return (worker
  start-up and the query for due posts included); prints posts/s, the
  speed-up over concurrency 1 and the CPU time of this process and its worker
  processes per post (not PostgreSQL's: on a shared machine the wall-clock
  ratio measures a share of the cores, the CPU time does not), and checks
  every post got exactly one document.

Each configuration runs ``--repeat`` times; medians are printed. With
``process``, the repeats of the concurrencies alternate (1, 2, 1, 2, …) so a
change of load on the machine hits both.

Usage:
    nice -n 10 .venv/bin/python bench/embedded_concurrency.py offline --posts 2000 --concurrency 1,2
    nice -n 10 .venv/bin/python bench/embedded_concurrency.py llm --latency-ms 500 --concurrency 1,8
    nice -n 10 .venv/bin/python bench/embedded_concurrency.py process --database postgres --posts 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._scale_steps import create_database, drop_database  # noqa: E402
from bench.pipeline_throughput import make_export  # noqa: E402
from tests.integration.llm_servers import FakeLLMServer  # noqa: E402
from tg_parser.config import load_settings  # noqa: E402
from tg_parser.logging import configure_logging  # noqa: E402
from tg_parser.services.channels import register_export  # noqa: E402
from tg_parser.services.embedded import process_channel_embedded, run_channel_embedded  # noqa: E402
from tg_parser.services.pipeline import ingest_channel  # noqa: E402
from tg_parser.services.processors import get_processor  # noqa: E402
from tg_parser.storage import session_scope  # noqa: E402
from tg_parser.storage.migrate import upgrade  # noqa: E402

SAMPLE = ROOT / "samples" / "sample_channel" / "result.json"
MODELS = {
    "openai": "gpt-5-mini",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2",
}


def processing_seconds(
    *, export: Path, tmp: Path, concurrency: int, llm: dict[str, Any], postgres: bool = False
) -> tuple[float, int]:
    """Run one embedded run of ``export``; return (processing-phase seconds, posts processed).

    The database is a new SQLite file, or with ``postgres`` a new PostgreSQL
    database at 127.0.0.1:5432 (dropped afterwards).
    """
    if postgres:
        db = create_database("bench_embedded")
        try:
            return _processing_seconds(db=db, export=export, tmp=tmp, concurrency=concurrency, llm=llm)
        finally:
            drop_database(db)
    db = f"sqlite:///{tmp}/bench-{concurrency}-{time.monotonic_ns()}.db"
    return _processing_seconds(db=db, export=export, tmp=tmp, concurrency=concurrency, llm=llm)


def _processing_seconds(
    *, db: str, export: Path, tmp: Path, concurrency: int, llm: dict[str, Any]
) -> tuple[float, int]:
    upgrade(db)
    settings = load_settings(
        _env_file=None,
        database_url=db,
        export_dir=str(tmp / "out"),
        process_concurrency=concurrency,
        log_level="WARNING",
        llm=llm,
    )
    (channel,) = register_export(database_url=db, path=export)
    marks: dict[str, float] = {}
    posts = 0

    def ingested(_run_id: str, total: int) -> None:
        nonlocal posts
        posts = total
        marks["start"] = time.perf_counter()

    def progress(_run_id: str, done: int, total: int) -> None:
        if done == total:
            marks["end"] = time.perf_counter()

    run_channel_embedded(settings=settings, channel=channel.key, on_ingested=ingested, on_progress=progress)
    return marks["end"] - marks["start"], posts


def bench_offline(args: argparse.Namespace, tmp: Path) -> None:
    """Print offline posts/s per concurrency, and the speed-up over concurrency 1."""
    pg = args.database == "postgres"
    export = tmp / "export.json"
    make_export(export, args.posts)
    results: dict[int, float] = {}
    print(f"offline, {args.posts} posts, {args.repeat} runs each (median)")
    print("| concurrency | processing s | posts/s | vs concurrency 1 |")
    print("|---:|---:|---:|---:|")
    for c in args.concurrency:
        runs = [
            processing_seconds(export=export, tmp=tmp, concurrency=c, llm={}, postgres=pg)[0]
            for _ in range(args.repeat)
        ]
        results[c] = statistics.median(runs)
        rate = args.posts / results[c]
        floor = results.get(1)
        ratio = f"{floor / results[c]:.2f}x" if floor else "-"
        print(f"| {c} | {results[c]:.2f} | {rate:.1f} | {ratio} |", flush=True)


def bench_llm(args: argparse.Namespace, tmp: Path) -> None:
    """Print processing time / ideal at a fixed provider latency, per concurrency."""
    pg = args.database == "postgres"
    latency_s = args.latency_ms / 1000
    server = FakeLLMServer(args.provider, default=f"slow:{latency_s}").start()
    endpoint = "ollama_host" if args.provider == "ollama" else f"{args.provider}_base_url"
    llm: dict[str, Any] = {
        "llm_provider": args.provider,
        "llm_model": MODELS[args.provider],
        endpoint: server.base_url,
        f"{args.provider}_api_key": "sk-bench",
        "llm_rpm": 0,
        "llm_tpm": 0,
    }
    if args.provider == "ollama":
        llm.pop("ollama_api_key")
    print(
        f"{args.provider}, sample ({SAMPLE.name}), {args.latency_ms} ms latency, {args.repeat} runs (median)"
    )
    print("| concurrency | posts | processing s | ideal s | measured / ideal |")
    print("|---:|---:|---:|---:|---:|")
    try:
        for c in args.concurrency:
            measured = [
                processing_seconds(export=SAMPLE, tmp=tmp, concurrency=c, llm=llm, postgres=pg)
                for _ in range(args.repeat)
            ]
            posts = measured[0][1]
            secs = statistics.median(m[0] for m in measured)
            ideal = posts * latency_s / c
            print(f"| {c} | {posts} | {secs:.2f} | {ideal:.2f} | {secs / ideal:.3f} |", flush=True)
            if args.json:
                fields = {"concurrency": c, "posts": posts, "processing_s": secs, "ideal_s": ideal}
                print(json.dumps(fields), flush=True)
    finally:
        server.stop()


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _count_documents(db: str) -> tuple[int, int]:
    """Return (documents, distinct posts with a document)."""
    from sqlalchemy import text

    with session_scope(db) as session:
        row = session.execute(text("SELECT count(*), count(DISTINCT message_pk) FROM documents")).one()
    return int(row[0]), int(row[1])


def _delete_documents(db: str) -> None:
    from sqlalchemy import text

    with session_scope(db) as session:
        session.execute(text("DELETE FROM documents"))


def bench_process(args: argparse.Namespace, tmp: Path) -> None:
    """Print ``tg-parser process`` posts/s per concurrency on one imported channel, and the speed-up."""
    from bench._scale_steps import create_database, drop_database

    export = tmp / "export.json"
    make_export(export, args.posts)
    db = create_database("offline_bench") if args.database == "postgres" else f"sqlite:///{tmp}/bench.db"
    try:
        upgrade(db)
        base = load_settings(
            _env_file=None, database_url=db, export_dir=str(tmp / "out"), log_level="WARNING"
        )
        (channel,) = register_export(database_url=db, path=export)
        report = ingest_channel(
            settings=base, channel=channel.key, run_id=None, processor=get_processor(base), dispatcher=None
        )
        posts = report.new
        print(f"process, {posts} posts on {args.database}, {args.repeat} runs each (median, alternating)")
        times: dict[int, list[float]] = {c: [] for c in args.concurrency}
        cpu: dict[int, list[float]] = {c: [] for c in args.concurrency}
        for _ in range(args.repeat):
            for c in args.concurrency:
                _delete_documents(db)
                settings = base.model_copy(update={"process_concurrency": c})
                cpu_before = _cpu_s()
                started = time.perf_counter()
                done = process_channel_embedded(settings=settings, channel=channel.key)
                times[c].append(time.perf_counter() - started)
                cpu[c].append(_cpu_s() - cpu_before)
                found = _count_documents(db)
                if done.posts != posts or found != (posts, posts) or done.failed:
                    msg = f"concurrency {c}: {done} and documents {found}, expected {posts} each"
                    raise SystemExit(msg)
        print("| concurrency | process s (runs) | posts/s | vs concurrency 1 | our CPU ms/post |")
        print("|---:|---:|---:|---:|---:|")
        floor = statistics.median(times[1]) if 1 in times else None
        for c, runs in times.items():
            secs = statistics.median(runs)
            ratio = f"{floor / secs:.2f}x" if floor else "-"
            each = ", ".join(f"{r:.1f}" for r in runs)
            cpu_ms = statistics.median(cpu[c]) * 1000 / posts
            print(f"| {c} | {secs:.2f} ({each}) | {posts / secs:.1f} | {ratio} | {cpu_ms:.2f} |", flush=True)
    finally:
        if args.database == "postgres":
            drop_database(db)


def main() -> None:
    """Parse the arguments and run the chosen benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["offline", "llm", "process"])
    parser.add_argument(
        "--database", choices=["sqlite", "postgres"], default="sqlite", help="a new database per run"
    )
    parser.add_argument("--posts", type=int, default=2000, help="offline: posts in the generated export")
    parser.add_argument("--latency-ms", type=float, default=500.0, help="llm: the server's answer delay")
    parser.add_argument("--provider", default="openai", choices=sorted(MODELS))
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="llm: also print each result as a JSON line")
    args = parser.parse_args()
    configure_logging(log_format="text", log_level="WARNING")
    if args.concurrency is None:
        args.concurrency = [1, 8] if args.mode == "llm" else [1, 2]
    modes = {"offline": bench_offline, "llm": bench_llm, "process": bench_process}
    with tempfile.TemporaryDirectory(prefix="tgp-bench-") as d:
        modes[args.mode](args, Path(d))


if __name__ == "__main__":
    main()
