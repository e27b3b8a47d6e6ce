"""Scale of one channel: each CLI step on N posts against PostgreSQL, next to its floor.

An N-post Telegram Desktop export is built from the real posts under
``../shared/data/nktkln`` (``bench/_scale_export.py``, streamed to disk). Then,
on a fresh PostgreSQL database per repeat, each asked step runs as a
subprocess of the real CLI, embedded (``tg-parser import -f result.json``,
``process``, ``topicize``, ``export``), and its wall time and peak RSS are
recorded. Right after a step that has one, its *floor* is measured in the
same database:

* import: ``COPY`` of the same rows (read back from ``messages``) into
  ``CREATE TABLE … (LIKE messages INCLUDING ALL)``, i.e. with the same indexes;
* export: a raw JSON-lines dump of the same rows (``COPY (SELECT
  json_build_object(…) FROM messages JOIN documents …) TO STDOUT``) to a file.

Printed: per step the median wall time, peak RSS, peak PSS of the process tree, the floor's median time and
the ratio floor / step (1.0 = as fast as PostgreSQL alone moves the same
rows), and items/s where a step counts them (posts for import and process).

Usage:
    nice -n 10 .venv/bin/python bench/scale.py --posts 20000 --steps import
    nice -n 10 .venv/bin/python bench/scale.py --posts 100000 --steps import,export --repeat 3

Steps are pluggable: add one in ``bench/_scale_steps.py`` with ``register(Step(...))``.
Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth); databases are
named ``scale_import_*`` and dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._scale_export import ExportFile, write_export  # noqa: E402
from bench._scale_steps import (  # noqa: E402
    BIN,
    STEPS,
    Context,
    Measurement,
    create_database,
    drop_database,
    run_child,
    run_step,
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--posts",
        type=int,
        default=20_000,
        help="posts in the generated export (with --export: how many that file holds, for the report)",
    )
    p.add_argument("--steps", default="import", help=f"comma-separated, of: {','.join(STEPS)}")
    p.add_argument("--repeat", type=int, default=1, help="runs (fresh database each); medians are printed")
    p.add_argument("--keep", action="store_true", help="keep the last database and the scratch folder")
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temp folder)")
    p.add_argument("--export", type=Path, default=None, help="reuse this result.json instead of building one")
    p.add_argument(
        "--process-floor-posts",
        type=int,
        default=10_000,
        help="posts processed at PROCESS_CONCURRENCY=1 for the process step's floor",
    )
    args = p.parse_args(argv)
    unknown = [s for s in args.steps.split(",") if s not in STEPS]
    if unknown:
        p.error(f"unknown steps {unknown}; known: {list(STEPS)}")
    return args


def _child_env(database_url: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env |= {
        "DATABASE_URL": database_url,
        "EXPORT_DIR": str(workdir / "out"),
        "LOG_FORMAT": "json",
        "LLM_PROVIDER": "offline",
    }
    env.pop("CELERY_BROKER_URL", None)
    return env


def one_run(
    steps: list[str], *, export: ExportFile, workdir: Path, keep: bool, facts: dict[str, str]
) -> dict[str, tuple[Measurement, Measurement | None]]:
    """Run ``steps`` in order on a fresh database; return each step's measurement and floor."""
    url = create_database()
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        database_url=url,
        export=export,
        workdir=workdir,
        env=_child_env(url, workdir),
        logs=logs,
        facts=dict(facts),
    )
    results = {}
    try:
        run_child([str(BIN / "tg-parser"), "db", "upgrade"], env=ctx.env, log=logs / "db_upgrade.log")
        for name in steps:
            results[name] = run_step(STEPS[name], ctx)
            m, floor = results[name]
            extra = f", floor {floor.wall_s:.2f} s" if floor else ""
            rss = f", peak RSS {m.rss_mb:.0f} MB" if m.rss_mb is not None else ""
            if m.tree_pss_mb is not None:
                rss += f", peak tree PSS {m.tree_pss_mb:.0f} MB"
            print(f"  {name}: {m.wall_s:.2f} s{rss}{extra}", flush=True)
    finally:
        if keep:
            print(f"  kept database {url}")
        else:
            drop_database(url)
    return results


def _ratio(step: Measurement, floor: Measurement) -> float:
    """Floor time / step time, per item when both counted theirs (1.0 = as fast as the floor)."""
    if step.count and floor.count:
        return (floor.wall_s / floor.count) / (step.wall_s / step.count)
    return floor.wall_s / step.wall_s


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(runs: list[dict[str, tuple[Measurement, Measurement | None]]], *, export: ExportFile) -> None:
    """Print one line per step: medians of time, RSS, floor, ratio and rate over ``runs``."""
    print(
        f"\n{export.posts:,} posts, export {export.size_bytes / 2**20:,.0f} MiB, {len(runs)} run(s), medians:"
    )
    cols = (
        ("time s", 8),
        ("peak RSS MB", 12),
        ("tree PSS MB", 12),
        ("floor s", 8),
        ("floor/step", 10),
        ("items/s", 9),
    )
    head = f"{'step':<10} " + " ".join(f"{c:>{w}}" for c, w in cols) + "  floor"
    print(head)
    print("-" * len(head))
    for name in runs[0]:
        ms = [r[name][0] for r in runs]
        floors = [f for r in runs if (f := r[name][1]) is not None]
        wall = _median([m.wall_s for m in ms])
        rsss = [m.rss_mb for m in ms if m.rss_mb is not None]
        rss = f"{_median(rsss):.0f}" if rsss else "-"
        psss = [m.tree_pss_mb for m in ms if m.tree_pss_mb is not None]
        pss = f"{_median(psss):.0f}" if psss else "-"
        floor_s = ratio = ""
        if floors:
            floor_s = f"{_median([f.wall_s for f in floors]):.2f}"
            ratios = [_ratio(r[name][0], f) for r, f in zip(runs, floors, strict=True)]
            ratio = f"{_median(ratios):.2f}x"
        rate = ""
        if ms[0].count is not None:
            rate = f"{_median([(m.count or 0) / m.wall_s for m in ms]):,.0f}"
        print(
            f"{name:<10} {wall:>8.2f} {rss:>12} {pss:>12} {floor_s:>8} {ratio:>10} {rate:>9}"
            f"  {STEPS[name].floor_name}"
        )


def main(argv: list[str] | None = None) -> None:
    """Build the export, run the steps ``--repeat`` times, print the medians."""
    args = _parse(argv)
    steps = args.steps.split(",")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="scale_import_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.export:
            from bench._scale_export import CHAT_ID

            export = ExportFile(
                path=args.export, posts=args.posts, size_bytes=args.export.stat().st_size, chat_id=CHAT_ID
            )
        else:
            export = write_export(workdir / "export" / "result.json", posts=args.posts)
        print(f"export: {export.path} ({export.size_bytes / 2**20:,.0f} MiB, {export.posts:,} posts)")
        runs = []
        for i in range(args.repeat):
            print(f"run {i + 1}/{args.repeat}:", flush=True)
            runs.append(
                one_run(
                    steps,
                    export=export,
                    workdir=workdir,
                    keep=args.keep and i == args.repeat - 1,
                    facts={"process_floor_posts": str(args.process_floor_posts)},
                )
            )
        report(runs, export=export)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
