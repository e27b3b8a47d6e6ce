"""Pluggable steps of ``bench/scale.py``: each a real CLI subprocess, some with a floor.

A step is a :class:`Step`: a name, the ``tg-parser`` arguments it runs (a
function of the :class:`Context`), an optional *floor* (the same data moved
by PostgreSQL alone, measured in the same run) and an optional *rate* (a
count of items per second to print). Register one with :func:`register`; the
order of registration is the order steps run in when several are asked for.

Peak RSS comes from ``os.wait4`` on the child: the kernel's ``ru_maxrss`` of
that one process (KiB on Linux), not the maximum over all children so far.
A step that starts worker processes (offline processing, topicize) is not
one process, and the largest one's RSS understates it, so the child's whole
process tree is also sampled every 0.2 s: the peak of the sum of every
member's PSS (``/proc/PID/smaps_rollup``; shared pages counted once, split
between the processes that share them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench._scale_export import ExportFile

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent


@dataclass
class Context:
    """What a step needs: the database, the export, a scratch folder and the child's environment."""

    database_url: str
    export: ExportFile
    workdir: Path
    env: dict[str, str]
    logs: Path
    facts: dict[str, str] = field(default_factory=dict)

    def libpq(self) -> str:
        """Return the database URL as libpq takes it (no ``+psycopg``)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://")

    def query(self, sql: str) -> object:
        """Return the first column of the first row of ``sql``."""
        with psycopg.connect(self.libpq()) as conn:
            row = conn.execute(sql).fetchone()
        return None if row is None else row[0]

    def channel_key(self) -> str:
        """Return the key of the (only) channel, once imported."""
        if "channel" not in self.facts:
            self.facts["channel"] = str(self.query("SELECT key FROM channels ORDER BY id LIMIT 1"))
        return self.facts["channel"]


@dataclass(frozen=True)
class Measurement:
    """One measured thing: wall time and, for a child process, its peak RSS."""

    wall_s: float
    rss_mb: float | None = None
    count: int | None = None
    tree_pss_mb: float | None = None


@dataclass(frozen=True)
class Step:
    """A step of the bench.

    Attributes:
        name: What ``--steps`` calls it.
        argv: The ``tg-parser`` arguments, given the context.
        floor: Measures the same work done by PostgreSQL alone (or ``None``).
        floor_name: How the report names the floor.
        rate: Counts the items the step handled, for items/s (or ``None``).
        env: Extra environment for the child (e.g. a worker count).
        prepare: Runs before the step (e.g. to clone the database for a floor that needs
            the state the step starts from), or ``None``.
        measure: Measures the step some other way than a ``tg-parser`` child given ``argv``
            (e.g. a bench script of its own), or ``None``.
    """

    name: str
    argv: Callable[[Context], list[str]]
    floor: Callable[[Context], Measurement] | None = None
    floor_name: str = ""
    rate: Callable[[Context], int] | None = None
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Context], None] | None = None
    measure: Callable[[Context], Measurement] | None = None


STEPS: dict[str, Step] = {}


def register(step: Step) -> Step:
    """Add ``step`` to :data:`STEPS` (a later step of the same name replaces it)."""
    STEPS[step.name] = step
    return step


_SAMPLE_S = 0.2


def _tree(root: int) -> list[int]:
    """Return ``root`` and every live descendant of it (from ``/proc/*/stat``)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def _pss_kib(pid: int) -> int:
    """Return a process's proportional set size in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class _TreeSampler(threading.Thread):
    """Samples the summed PSS of a process tree until stopped; keeps the peak (KiB)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True, name="pss-sampler")
        self.root = root
        self.peak_kib = 0
        self.done = threading.Event()

    def run(self) -> None:
        while True:  # a first sample at once: a step shorter than the interval still gets one
            self.peak_kib = max(self.peak_kib, sum(map(_pss_kib, _tree(self.root))))
            if self.done.wait(_SAMPLE_S):
                return


def run_child(argv: list[str], *, env: dict[str, str], log: Path) -> Measurement:
    """Run one child process to completion; return its wall time, peak RSS and peak tree PSS.

    Raises:
        RuntimeError: The child exited non-zero (the log's tail is in the message).
    """
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall_s = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        msg = f"{' '.join(argv)} exited {proc.returncode}:\n{tail}"
        raise RuntimeError(msg)
    return Measurement(wall_s=wall_s, rss_mb=usage.ru_maxrss / 1024, tree_pss_mb=sampler.peak_kib / 1024)


def run_step(step: Step, ctx: Context) -> tuple[Measurement, Measurement | None]:
    """Run ``step`` as a ``tg-parser`` child, then its floor; return both."""
    if step.prepare is not None:
        step.prepare(ctx)
    if step.measure is not None:
        m = step.measure(ctx)
    else:
        argv = [str(BIN / "tg-parser"), *step.argv(ctx)]
        m = run_child(argv, env={**ctx.env, **step.env}, log=ctx.logs / f"{step.name}.log")
    if step.rate is not None:
        m = Measurement(wall_s=m.wall_s, rss_mb=m.rss_mb, count=step.rate(ctx), tree_pss_mb=m.tree_pss_mb)
    floor = step.floor(ctx) if step.floor is not None else None
    return m, floor


# --- databases ---------------------------------------------------------------


def create_database(prefix: str = "scale_import") -> str:
    """Create an empty PostgreSQL database ``<prefix>_<random>``; return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def clone_database(url: str) -> str:
    """Copy a database (``CREATE DATABASE … TEMPLATE``, nobody connected to it); return the copy's URL."""
    source = url.rsplit("/", 1)[1]
    clone = f"{source}_c{uuid.uuid4().hex[:4]}"
    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{source}"')
    return url.rsplit("/", 1)[0] + "/" + clone


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- floors ------------------------------------------------------------------

_CHUNK = 1 << 20


def copy_floor(ctx: Context) -> Measurement:
    """COPY the imported rows of ``messages`` into a clone with the same indexes.

    The rows are first read back to a file (``COPY … TO STDOUT``, untimed);
    the timed part is ``CREATE TABLE … (LIKE messages INCLUDING ALL)`` plus a
    client-side ``COPY … FROM STDIN`` of that file and the commit.
    """
    with (
        tempfile.NamedTemporaryFile(dir=ctx.workdir, suffix=".copy") as dump,
        psycopg.connect(ctx.libpq()) as conn,
    ):
        with conn.cursor().copy("COPY messages TO STDOUT") as cp:
            for chunk in cp:
                dump.write(chunk)
        dump.flush()
        dump.seek(0)
        conn.commit()
        started = time.perf_counter()
        conn.execute("DROP TABLE IF EXISTS messages_floor")
        conn.execute("CREATE TABLE messages_floor (LIKE messages INCLUDING ALL)")
        with conn.cursor().copy("COPY messages_floor FROM STDIN") as cp:
            while chunk := dump.read(_CHUNK):
                cp.write(chunk)
        conn.commit()
        wall_s = time.perf_counter() - started
        conn.execute("DROP TABLE messages_floor")
        conn.commit()
    return Measurement(wall_s=wall_s)


_DUMP = """
COPY (
  SELECT json_build_object(
    'id', c.key || ':' || m.message_id, 'text', m.text,
    'metadata', json_build_object(
      'source', 'https://t.me/' || coalesce(c.username, 'c/' || c.telegram_id) || '/' || m.message_id,
      'channel', c.key, 'channel_id', c.telegram_id, 'message_id', m.message_id, 'date', m.date,
      'edited', m.edited_at, 'author', m.author, 'reply_to', m.reply_to,
      'forwarded_from', m.forwarded_from, 'media_type', m.media_type, 'entities', m.entities,
      'language', d.language, 'summary', d.summary, 'keywords', d.keywords,
      'topic_id', t.topic_key, 'topic_label', t.label, 'processor', d.processor))
  FROM messages m
  JOIN channels c ON c.id = m.channel_id
  JOIN documents d ON d.message_pk = m.id
  LEFT JOIN topic_members tm ON tm.message_pk = m.id
  LEFT JOIN topics t ON t.id = tm.topic_id
  WHERE NOT m.deleted
  ORDER BY m.message_id
) TO STDOUT
"""


def dump_floor(ctx: Context) -> Measurement:
    """Dump the exported rows as JSON lines straight from PostgreSQL to a file."""
    out = ctx.workdir / "raw_dump.ndjson"
    started = time.perf_counter()
    with psycopg.connect(ctx.libpq()) as conn, out.open("wb") as f, conn.cursor().copy(_DUMP) as cp:
        for chunk in cp:
            f.write(chunk)
    return Measurement(wall_s=time.perf_counter() - started)


def process_floor_prepare(ctx: Context) -> None:
    """Before ``process``: clone the imported database, keeping the first posts for the 1-process floor."""
    keep = int(ctx.facts.get("process_floor_posts", "10000"))
    clone = clone_database(ctx.database_url)
    with psycopg.connect(clone.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(
            "DELETE FROM messages WHERE id NOT IN (SELECT id FROM messages ORDER BY message_id LIMIT %s)",
            (keep,),
        )
    ctx.facts["process_floor_db"] = clone


def process_floor(ctx: Context) -> Measurement:
    """``tg-parser process`` with ``PROCESS_CONCURRENCY=1`` on the clone made before the step.

    The figure is a rate (posts per second), so the clone holds fewer posts
    than the step (``--process-floor-posts``) and the ratio is taken per post.
    """
    clone = ctx.facts.pop("process_floor_db")
    env = {**ctx.env, "DATABASE_URL": clone, "PROCESS_CONCURRENCY": "1"}
    try:
        argv = [str(BIN / "tg-parser"), "process", ctx.channel_key()]
        m = run_child(argv, env=env, log=ctx.logs / "process_floor.log")
        with psycopg.connect(clone.replace("postgresql+psycopg://", "postgresql://")) as conn:
            row = conn.execute("SELECT count(*) FROM documents").fetchone()
        return Measurement(wall_s=m.wall_s, rss_mb=m.rss_mb, count=int(row[0]) if row else 0)
    finally:
        drop_database(clone)


def llm_sample(ctx: Context) -> Measurement:
    """Measure the sample export through the OpenAI SDK against a loopback server at 500 ms per call.

    Runs ``bench/embedded_concurrency.py llm --json`` on PostgreSQL as a child;
    returns the processing phase and keeps the ideal (posts x latency /
    concurrency) for :func:`llm_ideal`.
    """
    log = ctx.logs / "llm_sample.log"
    argv = [
        sys.executable,
        str(Path(__file__).with_name("embedded_concurrency.py")),
        "llm",
        "--latency-ms",
        ctx.facts.get("llm_latency_ms", "500"),
        "--concurrency",
        ctx.facts.get("llm_concurrency", "8"),
        "--repeat",
        "1",
        "--database",
        "postgres",
        "--json",
    ]
    run_child(argv, env=ctx.env, log=log)
    last = [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("{")][-1]
    data = json.loads(last)
    ctx.facts["llm_ideal_s"] = str(data["ideal_s"])
    return Measurement(wall_s=data["processing_s"], count=data["posts"])


def llm_ideal(ctx: Context) -> Measurement:
    """Return the ideal of the ``llm`` step just measured: posts x latency / concurrency."""
    return Measurement(wall_s=float(ctx.facts.pop("llm_ideal_s")))


# --- the steps ---------------------------------------------------------------

register(
    Step(
        name="import",
        argv=lambda ctx: ["import", "-f", str(ctx.export.path)],
        floor=copy_floor,
        floor_name="COPY into a clone of messages",
        rate=lambda ctx: int(str(ctx.query("SELECT count(*) FROM messages"))),
    )
)
register(
    Step(
        name="process",
        argv=lambda ctx: ["process", ctx.channel_key()],
        prepare=process_floor_prepare,
        floor=process_floor,
        floor_name="the same CLI at PROCESS_CONCURRENCY=1 (a prefix of the posts): ratio = speed-up",
        rate=lambda ctx: int(str(ctx.query("SELECT count(*) FROM documents"))),
    )
)
register(Step(name="topicize", argv=lambda ctx: ["topicize", ctx.channel_key()]))
register(
    Step(
        name="export",
        argv=lambda ctx: ["export", ctx.channel_key(), "--out", str(ctx.workdir / "out")],
        floor=dump_floor,
        floor_name="raw JSON-lines dump",
    )
)
register(
    Step(
        name="llm",
        argv=lambda _ctx: [],
        measure=llm_sample,
        floor=llm_ideal,
        floor_name="ideal = posts x 500 ms / 8 (sample, OpenAI SDK, loopback server); target >= 0.77x",
    )
)
