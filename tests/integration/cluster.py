"""Start and stop real ``celery -A tasks worker`` processes for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cluster_env(*, database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    """Environment for workers and the CLI talking to one cluster."""
    env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url, "LOG_FORMAT": "json"}
    env.pop("CELERY_RESULT_BACKEND", None)
    env.update(extra)
    return env


@contextmanager
def celery_workers(
    env: dict[str, str], *, count: int = 2, concurrency: int = 2, log_dir: Path, queues: str | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run ``count`` worker processes (each its own process group) until the block ends.

    Waits until every worker answers ``celery inspect ping``; on exit sends
    SIGTERM to each group, then SIGKILL after 20 s.
    """
    celery = str(Path(sys.executable).with_name("celery"))
    procs: list[subprocess.Popen[bytes]] = []
    names = []
    for i in range(count):
        name = f"w{i}-{os.getpid()}@localhost"
        names.append(name)
        args = [
            celery,
            "-q",  # no banner: with LOG_FORMAT=json every line a worker writes is JSON
            "-A",
            "tasks",
            "worker",
            "-n",
            name,
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-E",
        ]
        if queues:
            args += ["-Q", queues]
        log = (log_dir / f"worker{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    try:
        _wait_ready(celery, env, names, procs, log_dir)
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _wait_ready(
    celery: str, env: dict[str, str], names: list[str], procs: list[subprocess.Popen[bytes]], log_dir: Path
) -> None:
    deadline = time.monotonic() + 60
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                logs = "\n".join(f.read_text(errors="replace")[-2000:] for f in log_dir.glob("worker*.log"))
                msg = f"a celery worker exited with {p.returncode}:\n{logs}"
                raise RuntimeError(msg)
        out = subprocess.run(
            [celery, "-A", "tasks", "inspect", "ping", "--timeout=2"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        pending = {n for n in pending if n not in out.stdout}
        if pending:
            time.sleep(0.5)
    if pending:
        msg = f"workers {sorted(pending)} did not answer ping within 60 s"
        raise RuntimeError(msg)
