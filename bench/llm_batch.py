"""Synchronous against batch mode on a 2,000-post run: provider requests made and the computed cost.

Both runs go through the CLI (embedded, a fresh SQLite database each) and the
real ``openai`` SDK against the loopback server of
``tests/integration/llm_batch_servers.py`` (Files + Batch and the synchronous
Responses API); the same requests get the same token counts either way, so
the cost difference is the price table's batch discount alone. Topic labels
are offline (``PROCESSOR_FACTORY=bench.llm_processor:build``) so only post
analyses are counted.

Run: ``flock /tmp/bench.lock nice -n 5 .venv/bin/python -m bench.llm_batch [--posts 2000]``
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._scale_export import write_export
from tests.integration.llm_batch_servers import FakeOpenAIBatchServer

ROOT = Path(__file__).resolve().parents[1]


def _route(path: str) -> str:
    """``/v1/batches/batch_ab12`` → ``/v1/batches/<id>`` (one key per kind of request)."""
    parts = path.split("?", 1)[0].split("/")
    return "/".join("<id>" if p.startswith(("batch_", "file-")) else p for p in parts)


def _run(mode: str, export: Path, work: Path, server: FakeOpenAIBatchServer, model: str) -> dict[str, object]:
    work.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'tg.db'}",
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": model,
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": server.base_url,
        "LLM_BATCH": mode,
        "LLM_BATCH_POLL_S": "0.2",
        "PROCESSOR_FACTORY": "bench.llm_processor:build",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CELERY_BROKER_URL", None)
    before = len(server.requests)
    exe = str(Path(sys.executable).with_name("tg-parser"))
    start = time.perf_counter()
    proc = subprocess.run(
        [exe, "run", "-f", str(export), "-o", str(work / "out")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        msg = f"{mode} run failed:\n{proc.stderr[-3000:]}"
        raise SystemExit(msg)
    made = server.requests[before:]
    with sqlite3.connect(work / "tg.db") as db:
        calls, batch_calls, tokens_in, cached, tokens_out, cost, list_cost = db.execute(
            "SELECT count(*), sum(batch), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens),"
            " sum(cost_usd), sum(list_cost_usd) FROM llm_calls WHERE purpose = 'process'"
        ).fetchone()
        docs = db.execute("SELECT count(*) FROM documents WHERE model = ?", (model,)).fetchone()[0]
    paths = Counter(f"{r.method} {_route(r.path)}" for r in made)
    return {
        "mode": mode,
        "requests": len(made),
        "by_path": dict(paths),
        "calls": calls,
        "batch_calls": batch_calls or 0,
        "documents": docs,
        "input_tokens": tokens_in,
        "cached_tokens": cached,
        "output_tokens": tokens_out,
        "cost_usd": cost,
        "list_cost_usd": list_cost,
        "seconds": seconds,
    }


def main() -> None:
    """Run both modes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--model", default="gpt-5-mini")
    parser.add_argument("--cached-tokens", type=int, default=0, help="cached_tokens each answer reports")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-llm-batch-") as tmp:
        root = Path(tmp)
        export = write_export(root / "result.json", posts=args.posts).path
        server = FakeOpenAIBatchServer(cached_tokens=args.cached_tokens).start()
        try:
            sync = _run("off", export, root / "sync", server, args.model)
            batch = _run("on", export, root / "batch", server, args.model)
        finally:
            server.stop()
    print(
        f"posts in export: {args.posts}, model {args.model}, "
        "loopback OpenAI server (Files + Batch + Responses)"
    )
    print(f"{'':28}{'sync':>16}{'batch':>16}{'batch/sync':>12}")
    for key in (
        "requests",
        "calls",
        "batch_calls",
        "documents",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
    ):
        s, b = sync[key], batch[key]
        ratio = f"{b / s:.3f}" if isinstance(s, int) and s else "-"
        print(f"{key:28}{s:>16,}{b:>16,}{ratio:>12}")
    for key in ("cost_usd", "list_cost_usd", "seconds"):
        s, b = float(sync[key]), float(batch[key])  # type: ignore[arg-type]
        print(f"{key:28}{s:>16.6f}{b:>16.6f}{b / s:>12.3f}")
    print("provider requests, sync: ", sync["by_path"])
    print("provider requests, batch:", batch["by_path"])


if __name__ == "__main__":
    main()
