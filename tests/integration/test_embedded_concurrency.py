"""A concurrent embedded run ends exactly as a sequential one: same documents, same dead letters.

The provider is real: the OpenAI SDK against a loopback server of its protocol
(:mod:`tests.integration.llm_servers`) answering after a short latency. Some
posts fail there by content (so the same posts fail whatever order the threads
send them in): a third with ``400`` (permanent: dead-lettered at once), the
others with ``503`` every time (retryable: dead-lettered when the
``RETRY_PROCESS_*`` policy gives up). Both runs go through the step runner;
only ``PROCESS_CONCURRENCY`` differs.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL, SAMPLE_EXPORT, need, port_open
from tests.integration.llm_servers import FakeLLMServer, _Handler
from tg_parser.config import Settings, load_settings
from tg_parser.services.channels import register_export
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.storage import dead_letters, runs, session_scope
from tg_parser.storage.migrate import upgrade
from tg_parser.storage.session import dispose_engines

pytestmark = pytest.mark.integration

LATENCY_S = 0.05
EVERY_NTH_FAILS = 9


def _failing_posts() -> dict[str, str]:
    """Return ``{first line of a post: "400" | "503"}`` for every :data:`EVERY_NTH_FAILS`-th post."""
    messages = json.loads(SAMPLE_EXPORT.read_text(encoding="utf-8"))["messages"]
    texts = []
    for m in messages:
        body = m.get("text")
        flat = (
            body if isinstance(body, str) else "".join(p if isinstance(p, str) else p["text"] for p in body)
        )
        line = flat.strip().split("\n", 1)[0].strip()
        if m.get("type") == "message" and len(line) >= 20:
            texts.append(line)
    chosen = sorted(set(texts))[::EVERY_NTH_FAILS]
    return {line: ("400" if i % 3 == 0 else "503") for i, line in enumerate(chosen)}


FAILING = _failing_posts()


class _ContentFaultHandler(_Handler):
    """Fails a request whose post is one of :data:`FAILING`, else answers as the provider would."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        """Answer with the post's fault, or hand the untouched request to the provider handler."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = raw.decode("utf-8", "replace")
        for line, status in FAILING.items():
            forms = (json.dumps(line)[1:-1], json.dumps(line, ensure_ascii=False)[1:-1])
            if any(form in body for form in forms):
                self._error(status, "")
                return
        self.rfile = io.BytesIO(raw)
        super().do_POST()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    """An OpenAI-protocol loopback server with per-post faults and a fixed latency.

    One for the module: the processor (and its SDK client, with this base URL)
    is built once per process by ``get_processor``.
    """
    srv = FakeLLMServer("openai", default=f"slow:{LATENCY_S}")
    srv._server.RequestHandlerClass = _ContentFaultHandler  # noqa: SLF001 - the test's own fault rule
    srv.start()
    yield srv
    srv.stop()


def _database(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/{name}.db"
        return
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not answering on 127.0.0.1:5432")
    db = f"scale_process_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def _run(server: FakeLLMServer, database_url: str, out: Path, concurrency: int) -> dict[str, Any]:
    """Run the sample embedded at ``concurrency``; return its export, dead letters, counts, progress."""
    upgrade(database_url)
    settings: Settings = load_settings(
        _env_file=None,
        database_url=database_url,
        export_dir=str(out),
        process_concurrency=concurrency,
        processor_factory="bench.llm_processor:build",
        retry_process_max_attempts=3,
        retry_backoff_base=0.1,
        retry_backoff_max=1,
        retry_jitter=0,
        llm={"llm_model": "gpt-5-mini", "openai_base_url": server.base_url, "openai_api_key": "sk-test"},
    )
    (channel,) = register_export(database_url=database_url, path=SAMPLE_EXPORT)
    progress: list[int] = []
    sleeps: list[float] = []
    run = run_channel_embedded(
        settings=settings,
        channel=channel.key,
        on_progress=lambda _run, done, _total: progress.append(done),
        sleep=sleeps.append,
    )
    with session_scope(database_url) as session:
        record = runs.get_run(session, run_id=run.run_id)
        counts = runs.run_counts(session, run_id=run.run_id)
        letters = dead_letters.list_dead_letters(session, run_id=run.run_id, limit=1000)
    documents = (out / channel.key / "documents.ndjson").read_text(encoding="utf-8")
    return {
        "status": record.status,
        "counts": (counts.total, counts.done, counts.failed),
        "letters": sorted((d.task_name, d.args["message_id"], d.error_type, d.attempts) for d in letters),
        "documents": documents,
        "progress": progress,
        "retries": len(sleeps),
    }


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_run_matches_sequential_run(server: FakeLLMServer, tmp_path: Path, kind: str) -> None:
    """At PROCESS_CONCURRENCY=8 documents, dead letters, run state and progress equal the sequential run's."""
    seq_db = _database(kind, tmp_path, "seq")
    conc_db = _database(kind, tmp_path, "conc")
    sequential = _run(server, next(seq_db), tmp_path / "seq", concurrency=1)
    concurrent = _run(server, next(conc_db), tmp_path / "conc", concurrency=8)
    for gen in (seq_db, conc_db):
        gen.close()

    assert sequential["status"].value == "succeeded"
    assert sequential["letters"], "some posts must fail for the comparison to mean anything"
    assert {e for _t, _m, e, _a in sequential["letters"]} == {"PermanentError", "RetryableError"}
    # The same posts are dead-lettered with the same error. A retryable post is tried
    # until the policy gives up in both runs; a permanent one at once, except that a
    # connection reset of the loopback server (seen under 8 connections) may add one attempt.
    assert [letter[:3] for letter in concurrent["letters"]] == [
        letter[:3] for letter in sequential["letters"]
    ]
    for run in (sequential, concurrent):
        for _task, _message, error, attempts in run["letters"]:
            expected = {3} if error == "RetryableError" else {1, 2}
            assert attempts in expected, run["letters"]
    assert concurrent["counts"] == sequential["counts"]
    assert concurrent["status"] == sequential["status"]
    # Each dead-lettered retryable post waited as often; a healthy post may add a retried
    # connection reset of the loopback server under 8 connections, never a dead letter.
    assert concurrent["retries"] >= sequential["retries"]
    assert concurrent["documents"] == sequential["documents"]
    total = sequential["counts"][0]
    # The progress bar still counts every post once, in order.
    assert concurrent["progress"] == list(range(1, total + 1)) == sequential["progress"]
