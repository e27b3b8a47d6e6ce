"""Helpers for fault-injection tests: an export of real posts, Beat, a private Redis, database probes.

Everything here drives real processes (``celery -A tasks beat``,
``redis-server``, ``tg-parser``) and reads PostgreSQL directly, so the tests
check what a user of the cluster would see, not what the code believes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tests.integration.cluster import ROOT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")

SOURCE_FILE = "1001000724666_messages.json"
"""Naked Science (Russian popular-science channel) posts in ``../shared/data/nktkln``."""

BIN = Path(sys.executable).parent

# ------------------------------------------------------------------ the export


@dataclass(frozen=True)
class Post:
    """One post written into the test export."""

    message_id: int
    text: str


def build_export(*, shared_data: Path, out_dir: Path, count: int) -> tuple[Path, list[Post]]:
    """Write a single-chat Telegram Desktop ``result.json`` of ``count`` real posts.

    The posts come from ``shared_data/nktkln/<SOURCE_FILE>`` (a JSON list of
    ``{message_id, text, date, ...}``), oldest first, only those with text.

    Args:
        shared_data: The ``../shared/data`` folder.
        out_dir: Where ``result.json`` goes (a temporary folder; never the repo).
        count: How many posts.

    Returns:
        The export path and the posts written, by message id.
    """
    raw = json.loads((shared_data / "nktkln" / SOURCE_FILE).read_text(encoding="utf-8"))
    rows = sorted((r for r in raw if (r.get("text") or "").strip()), key=lambda r: r["message_id"])[:count]
    assert len(rows) == count, f"{SOURCE_FILE} holds only {len(rows)} posts with text"
    chat_id = abs(int(rows[0]["sender_id"])) - 1_000_000_000_000
    messages = []
    for r in rows:
        when = datetime.fromisoformat(r["date"])
        messages.append(
            {
                "id": int(r["message_id"]),
                "type": "message",
                "date": when.replace(tzinfo=None).isoformat(timespec="seconds"),
                "date_unixtime": str(int(when.timestamp())),
                "from": r["channel"],
                "from_id": f"channel{chat_id}",
                "text": r["text"],
                "text_entities": [{"type": "plain", "text": r["text"]}],
            }
        )
    export = {"name": rows[0]["channel"], "type": "public_channel", "id": chat_id, "messages": messages}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "result.json"
    path.write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
    return path, [Post(message_id=int(r["message_id"]), text=r["text"]) for r in rows]


# ------------------------------------------------------------------ waiting


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.2,
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail clearly after ``timeout_s``.

    Raises:
        AssertionError: Timed out (with ``what`` and the diagnosis, if any).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diagnose()}" if diagnose else ""
            msg = f"timed out after {timeout_s:.0f} s waiting for {what}{extra}"
            raise AssertionError(msg)
        time.sleep(interval_s)


# ------------------------------------------------------------------ PostgreSQL probes


class Db:
    """Read-only probes of the cluster's database, robust to killed connections.

    Each probe opens a fresh connection (no pool) and retries a few times on a
    connection error, since ``pg_terminate_backend`` kills ours too.

    Args:
        url: The test database URL.
    """

    def __init__(self, url: str) -> None:
        """Create the (pool-less) engine."""
        self.engine = create_engine(url, poolclass=NullPool)

    def close(self) -> None:
        """Dispose of the engine."""
        self.engine.dispose()

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Return the rows of ``sql``."""
        for attempt in range(20):
            try:
                with self.engine.connect() as conn:
                    return [tuple(r) for r in conn.execute(text(sql), params)]
            except DBAPIError:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        msg = "unreachable"
        raise AssertionError(msg)

    def scalar(self, sql: str, **params: Any) -> Any:
        """Return the first column of the first row of ``sql`` (``None`` when empty)."""
        rows = self.query(sql, **params)
        return rows[0][0] if rows else None

    def only_run_id(self) -> str | None:
        """Return the id of the database's only run, once there is one."""
        rows = self.query("select id from runs")
        assert len(rows) <= 1, f"expected one run, found {rows}"
        return rows[0][0] if rows else None

    def run(self, run_id: str) -> dict[str, Any]:
        """Return the run's row as a dict."""
        rows = self.query("select * from runs where id = :i", i=run_id)
        assert rows, f"no run {run_id}"
        cols = [
            c
            for (c,) in self.query(
                "select column_name from information_schema.columns where table_name = 'runs' "
                "order by ordinal_position"
            )
        ]
        return dict(zip(cols, rows[0], strict=True))

    def items(self, run_id: str) -> dict[str, int]:
        """Return the run's item counts by status (``pending``, ``done``, ``failed``)."""
        counts = {"pending": 0, "done": 0, "failed": 0}
        counts.update(
            dict(
                self.query(
                    "select status, count(*) from run_items where run_id = :i group by status", i=run_id
                )
            )
        )
        return counts

    def progress(self, run_id: str) -> tuple[int, int]:
        """Return (terminal items, all items) of a run."""
        c = self.items(run_id)
        return c["done"] + c["failed"], sum(c.values())

    def documents_per_post(self) -> dict[int, int]:
        """Return message id → number of documents, for every stored post with text."""
        return {
            int(mid): int(n)
            for mid, n in self.query(
                "select m.message_id, count(d.id) from messages m "
                "left join documents d on d.message_pk = m.id "
                "where m.deleted = false and length(trim(m.text)) > 0 group by m.message_id"
            )
        }

    def failed_message_ids(self, run_id: str) -> set[int]:
        """Return message ids of the run's failed items."""
        return {
            int(r[0])
            for r in self.query(
                "select m.message_id from run_items i join messages m on m.id = i.message_pk "
                "where i.run_id = :i and i.status = 'failed'",
                i=run_id,
            )
        }

    def dead_letters(self, task_name: str, *, unresolved_only: bool = True) -> list[dict[str, Any]]:
        """Return the args of dead letters of ``task_name``."""
        sql = "select args from dead_letters where task_name = :t"
        if unresolved_only:
            sql += " and resolved = false"
        return [r[0] for r in self.query(sql, t=task_name)]

    def stored_texts(self) -> dict[int, str]:
        """Return message id → stored text."""
        return {int(mid): t for mid, t in self.query("select message_id, text from messages")}

    def describe(self, run_id: str | None) -> str:
        """Return a one-line state of the run, for failure messages."""
        if run_id is None:
            return "no run recorded yet"
        run = self.run(run_id)
        return (
            f"run {run_id}: status={run['status']} error={run.get('error')} redrives={run.get('redrives')} "
            f"items={self.items(run_id)}"
        )


def terminate_backends(*, admin_url: str, database: str) -> int:
    """``pg_terminate_backend`` every connection to ``database`` but our own; return how many."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = :d and pid <> pg_backend_pid()"
                ),
                {"d": database},
            ).all()
        return sum(1 for (ok,) in rows if ok)
    finally:
        engine.dispose()


# ------------------------------------------------------------------ processes


def stop_group(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout_s: float = 20) -> None:
    """Signal a process group started with ``start_new_session``; SIGKILL it if it lingers."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def celery_beat(env: dict[str, str], *, work_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``celery -A tasks beat`` (schedule file in ``work_dir``) until the block ends."""
    log = (work_dir / "beat.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "tasks",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(work_dir / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(1)
        assert proc.poll() is None, (
            f"celery beat exited at once:\n{(work_dir / 'beat.log').read_text()[-3000:]}"
        )
        yield proc
    finally:
        stop_group(proc)
        log.close()


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of our own on a free port, with an append-only file in ``work_dir``.

    It can be stopped and started again on the same port with its data, which
    the machine's shared Redis must never be.
    """

    def __init__(self, work_dir: Path) -> None:
        """Choose a free port; nothing starts yet."""
        self.work_dir = work_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The broker URL (database 0 of this server)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def counters_url(self) -> str:
        """A second database of this server, for test bookkeeping (fault attempt counters)."""
        return f"redis://127.0.0.1:{self.port}/1"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        import redis

        self.starts += 1
        log = (self.work_dir / f"redis-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.work_dir),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)

        def ping() -> bool:
            assert self.proc is not None
            assert self.proc.poll() is None, (self.work_dir / f"redis-{self.starts}.log").read_text()[-2000:]
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_until(ping, timeout_s=20, what=f"redis-server on port {self.port}")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server with SIGTERM (it writes its append-only file) and wait for it."""
        if self.proc is not None:
            stop_group(self.proc, timeout_s=20)
            self.proc = None


@contextmanager
def private_redis(work_dir: Path) -> Iterator[PrivateRedis]:
    """Yield a started :class:`PrivateRedis`, stopped when the block ends."""
    work_dir.mkdir(parents=True, exist_ok=True)
    server = PrivateRedis(work_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_cli_run(
    *, export: Path, out: Path, env: dict[str, str], work_dir: Path, timeout_s: float = 420
) -> subprocess.Popen[bytes]:
    """Start ``tg-parser run -f <export> -o <out>`` against the cluster (output to ``work_dir/cli.log``)."""
    log = (work_dir / "cli.log").open("wb")
    return subprocess.Popen(
        [str(BIN / "tg-parser"), "run", "-f", str(export), "-o", str(out), "--timeout-s", str(timeout_s)],
        cwd=work_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``tg-parser`` to completion."""
    return subprocess.run(
        [str(BIN / "tg-parser"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def log_events(log_dir: Path, event: str) -> list[dict[str, Any]]:
    """Return the JSON log lines with ``event`` from every worker log in ``log_dir``."""
    out = []
    for path in sorted(log_dir.glob("worker*.log")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if event not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == event:
                out.append(record)
    return out
