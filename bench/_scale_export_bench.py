# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Benchmark: ``tg-parser export`` against a raw ``COPY ... TO STDOUT`` JSON dump of the same rows.

Both run in this script, one after the other, ``--repeat`` times; the figures
are medians, the ratio is raw-dump time / export time (1.0 = as fast as the
floor), RSS is the export subprocess's peak (``wait4``).

Usage:
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB
    .venv/bin/python bench/_scale_export_bench.py CHANNEL [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

RAW = """COPY (SELECT json_build_object('id', c.key || ':' || m.message_id, 'text', m.text, 'metadata',
  json_build_object('channel', c.key, 'message_id', m.message_id, 'date', m.date, 'edited', m.edited_at,
  'author', m.author, 'entities', m.entities, 'language', d.language, 'summary', d.summary,
  'keywords', d.keywords, 'topic_id', t.topic_key, 'topic_label', t.label, 'processor', d.processor,
  'model', d.model))
 FROM messages m JOIN channels c ON c.id = m.channel_id JOIN documents d ON d.message_pk = m.id
 LEFT JOIN topic_members tm ON tm.message_pk = m.id LEFT JOIN topics t ON t.id = tm.topic_id
 WHERE c.key = %s AND NOT m.deleted ORDER BY m.message_id) TO STDOUT"""


def _raw(url: str, channel: str, out: Path) -> float:
    start = time.perf_counter()
    with (
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn,
        out.open("wb") as fh,
        conn.cursor().copy(psycopg.sql.SQL(RAW).format(), (channel,)) as copy,
    ):
        for chunk in copy:
            fh.write(chunk)
    return time.perf_counter() - start


def _export(channel: str, out: Path) -> tuple[float, float]:
    exe = Path(sys.executable).parent / "tg-parser"
    start = time.perf_counter()
    proc = subprocess.Popen([str(exe), "export", channel, "--out", str(out)], stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"export failed: {status}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    """Time both, print medians and the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("channel")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    raw_s, exp_s, rss = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            raw_s.append(_raw(url, args.channel, Path(tmp) / "raw.jsonl"))
            t, r = _export(args.channel, Path(tmp))
            exp_s.append(t)
            rss.append(r)
        lines = sum(1 for _ in (Path(tmp) / args.channel / "documents.ndjson").open("rb"))
    raw, exp = statistics.median(raw_s), statistics.median(exp_s)
    print(
        f"posts={lines}  raw_dump_s={raw:.2f}  export_s={exp:.2f}  ratio(raw/export)={raw / exp:.2f}  "
        f"export_peak_rss_mb={max(rss):.0f}"
    )


if __name__ == "__main__":
    main()
