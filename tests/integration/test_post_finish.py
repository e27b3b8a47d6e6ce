"""A processed post's writes in one round trip (``storage/post_finish.py``) on the real PostgreSQL.

The pipelined write must keep what the one-transaction session path
guaranteed: the same rows, nothing written when one statement fails, exactly
one caller ending a run's processing when the last two posts race; and the
pool must replace a connection killed while idle without ``pool_pre_ping``.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, func, select, text

from tests.integration.test_run_semantics import RecordingDispatcher, _ingest
from tg_parser.config import load_settings
from tg_parser.domain.runs import ItemStatus
from tg_parser.processing.base import LLMUsage
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.services import pipeline
from tg_parser.services.post_rules import post_document
from tg_parser.storage import messages, post_finish, runs
from tg_parser.storage.session import dispose_engines, session_scope
from tg_parser.storage.tables import DocumentRow, LLMCallRow, RunItemRow, RunRow

pytestmark = pytest.mark.integration

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

DOCUMENT_COLUMNS = (
    "content_hash",
    "processor",
    "model",
    "prompt_version",
    "language",
    "summary",
    "keywords",
    "entities",
    "clean_text",
    "output",
)


def _process_all(url: str, sample: Path, tmp: Path) -> tuple[str, RecordingDispatcher]:
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(url, sample, disp, tmp)
    settings = load_settings(database_url=url, export_dir=str(tmp / "out"))
    for pk in pks:
        pipeline.process_message(
            settings=settings, run_id=run_id, message_pk=pk, processor=OfflineProcessor(), dispatcher=disp
        )
    return run_id, disp


def _documents(url: str) -> dict[int, tuple[Any, ...]]:
    with session_scope(url) as s:
        rows = s.execute(select(DocumentRow)).scalars()
        return {
            messages.load_message(s, message_pk=r.message_pk).message.message_id: tuple(
                getattr(r, c) for c in DOCUMENT_COLUMNS
            )
            for r in rows
        }


def test_pipelined_writes_equal_the_session_path(
    pg_url: str, sqlite_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """The sample processed on PostgreSQL (pipelined) and on SQLite (session): the same documents."""
    pg_run, pg_disp = _process_all(pg_url, sample_export, tmp_path / "pg")
    lite_run, lite_disp = _process_all(sqlite_url, sample_export, tmp_path / "lite")
    pg_docs, lite_docs = _documents(pg_url), _documents(sqlite_url)
    assert pg_docs
    assert pg_docs == lite_docs
    for url, run_id, disp in ((pg_url, pg_run, pg_disp), (sqlite_url, lite_run, lite_disp)):
        assert disp.topicized == [run_id]
        with session_scope(url) as s:
            assert s.get(RunRow, run_id).status == "topicizing"
            statuses = s.execute(select(RunItemRow.status).where(RunItemRow.run_id == run_id)).scalars()
            assert set(statuses) == {"done"}


def test_usage_rows_and_an_upsert_again(pg_url: str, sample_export: Path, tmp_path: Path) -> None:
    """Two provider calls give two ``llm_calls`` rows; writing the post again replaces its one document."""
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    with session_scope(pg_url) as s:
        stored = messages.load_message(s, message_pk=pks[0])
    proc = OfflineProcessor()
    document = post_document(stored, processor=proc, result=proc.process(stored.message))
    calls = [
        LLMUsage(provider="openai", model="gpt-5-mini", input_tokens=10, output_tokens=5, latency_ms=12.5),
        LLMUsage(provider="openai", model="gpt-5-mini", input_tokens=20, cost_usd=0.001, cache_hit=True),
    ]
    for _ in range(2):
        won = post_finish.finish_post(
            pg_url,
            message_pk=stored.pk,
            channel_pk=stored.channel.pk,
            run_id=run_id,
            document=document,
            calls=calls,
        )
        assert won is False  # other items are still pending
    with session_scope(pg_url) as s:
        assert s.execute(select(func.count()).select_from(DocumentRow)).scalar_one() == 1
        rows = s.execute(select(LLMCallRow).order_by(LLMCallRow.id)).scalars().all()
        item = s.get(RunItemRow, (run_id, stored.pk))
    assert [(r.input_tokens, r.output_tokens, r.cost_usd, r.cache_hit) for r in rows] == [
        (10, 5, None, False),
        (20, 0, 0.001, True),
    ] * 2
    assert {(r.run_id, r.message_pk, r.channel_id, r.purpose) for r in rows} == {
        (run_id, stored.pk, stored.channel.pk, "process")
    }
    assert item.status == "done"


def test_a_failing_statement_writes_nothing_and_leaves_the_connection_whole(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """A write naming no channel fails inside the pipeline: nothing is written.

    (The document's change value finds no channel row, so its ``change_seq``
    is NULL and refused; the usage row's foreign key would fail too.)

    The pooled connection still runs transactions afterwards (it is not left in autocommit).
    """
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    with session_scope(pg_url) as s:
        stored = messages.load_message(s, message_pk=pks[0])
    proc = OfflineProcessor()
    document = post_document(stored, processor=proc, result=proc.process(stored.message))
    dispose_engines()  # one pooled connection from here on: the failed write's
    with pytest.raises((psycopg.errors.NotNullViolation, psycopg.errors.ForeignKeyViolation)):
        post_finish.finish_post(
            pg_url,
            message_pk=stored.pk,
            channel_pk=10**9,  # no such channel: the document's and the llm_calls' inserts fail
            run_id=run_id,
            document=document,
            calls=[LLMUsage(provider="openai", model="m")],
        )
    with session_scope(pg_url) as s:
        assert s.execute(select(func.count()).select_from(DocumentRow)).scalar_one() == 0
        assert s.get(RunItemRow, (run_id, stored.pk)).status == "pending"
        s.execute(text("select pg_sleep(0.01)"))
        # A real transaction: now() is its start, not this statement's.
        assert s.execute(text("select now() = statement_timestamp()")).scalar_one() is False


def _all_but_last_two_done(url: str, sample: Path, tmp: Path) -> tuple[str, int, int, int]:
    """Ingest the sample, mark every item done but the last two: ``(run_id, last but one, last, channel)``."""
    _key, run_id, pks = _ingest(url, sample, RecordingDispatcher(), tmp)
    *rest, before_last, last = pks
    with session_scope(url) as s:
        for pk in rest:
            runs.finish_item(s, run_id=run_id, message_pk=pk, status=ItemStatus.DONE)
        channel_pk = s.get(RunRow, run_id).channel_id
    return run_id, before_last, last, channel_pk


@pytest.mark.parametrize("synchronous_commit", [True, False])
def test_racing_last_posts_end_processing_exactly_once(
    pg_url: str,
    sample_export: Path,
    tmp_path: Path,
    synchronous_commit: bool,  # noqa: FBT001
) -> None:
    """The last two posts' writes both wait on the run's row: exactly one of them ends processing."""
    run_id, first_pk, second_pk, channel_pk = _all_but_last_two_done(pg_url, sample_export, tmp_path)
    blocker = create_engine(pg_url)
    try:
        with blocker.connect() as conn:
            # Hold the run's row so both posts mark their items, then queue on the lock.
            conn.execute(text("select id from runs where id = :r for update"), {"r": run_id})
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = [
                    pool.submit(
                        post_finish.finish_post,
                        pg_url,
                        message_pk=pk,
                        channel_pk=channel_pk,
                        run_id=run_id,
                        synchronous_commit=synchronous_commit,
                    )
                    for pk in (first_pk, second_pk)
                ]
                _wait_for_lock_waits(pg_url, count=2)
                conn.commit()
                results = sorted(f.result(timeout=60) for f in futures)
    finally:
        blocker.dispose()
    assert results == [False, True]
    with session_scope(pg_url) as s:
        assert s.get(RunRow, run_id).status == "topicizing"
        assert runs.run_counts(s, run_id=run_id).pending == 0


def _wait_for_lock_waits(url: str, *, count: int, timeout_s: float = 30.0) -> None:
    probe = create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + timeout_s
    try:
        with probe.connect() as conn:
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    text(
                        "select count(*) from pg_stat_activity"
                        " where datname = current_database() and wait_event_type = 'Lock'"
                    )
                ).scalar_one()
                if waiting >= count:
                    return
                time.sleep(0.05)
    finally:
        probe.dispose()
    pytest.fail(f"fewer than {count} writes waited on the run's row")


def test_a_connection_killed_while_pooled_is_replaced_at_checkout(pg_url: str) -> None:
    """``pg_terminate_backend`` of every idle pooled connection: the next read and write just work."""
    dispose_engines()
    with session_scope(pg_url, read_only=True) as s:
        before = s.execute(text("select pg_backend_pid()")).scalar_one()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(text("select pg_terminate_backend(:p)"), {"p": before}).scalar_one()
    finally:
        admin.dispose()
    assert killed is True
    time.sleep(0.2)  # the backend's FATAL message and EOF reach our socket
    with session_scope(pg_url, read_only=True) as s:
        after = s.execute(text("select pg_backend_pid()")).scalar_one()
    assert after != before
    assert post_finish.finish_post(pg_url, message_pk=1, channel_pk=1, run_id=str(uuid.uuid4())) is False


@pytest.mark.parametrize("synchronous_commit", [True, False])
def test_concurrent_posts_of_one_run_end_it_once(
    pg_url: str,
    sample_export: Path,
    tmp_path: Path,
    synchronous_commit: bool,  # noqa: FBT001
) -> None:
    """Every post of the sample written by 8 threads at once: one winner, every item done."""
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    with session_scope(pg_url) as s:
        channel_pk = s.get(RunRow, run_id).channel_id
    barrier = threading.Barrier(8)

    def write(pk: int) -> bool:
        if pks.index(pk) < 8:
            barrier.wait(timeout=30)
        return post_finish.finish_post(
            pg_url, message_pk=pk, channel_pk=channel_pk, run_id=run_id, synchronous_commit=synchronous_commit
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(write, pks))
    assert won.count(True) == 1
    with session_scope(pg_url) as s:
        assert s.get(RunRow, run_id).status == "topicizing"
        assert runs.run_counts(s, run_id=run_id).pending == 0


_LOG_COMMIT_MODE = """
CREATE TABLE commit_mode_log (n serial PRIMARY KEY, tbl text, mode text);
CREATE FUNCTION log_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO commit_mode_log (tbl, mode) VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));
  RETURN NEW;
END $$;
CREATE TRIGGER log_items AFTER UPDATE ON run_items FOR EACH ROW EXECUTE FUNCTION log_commit_mode();
CREATE TRIGGER log_runs AFTER UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION log_commit_mode();
"""
"""Triggers that record ``synchronous_commit`` as each update of ``run_items`` and ``runs`` sees it."""


def test_asynchronous_commit_stays_in_the_post_transaction_and_the_run_end_is_flushed(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """``synchronous_commit=False`` holds for the post's transaction only; a run end is then written durably.

    Seen from inside the transaction by triggers: a post's item update runs
    with ``synchronous_commit`` off (on with the default), the last post's
    claim too, and a synchronous update of the run's row follows it. The
    pooled connection is back to the server's default afterwards.
    """
    run_id, before_last, last, channel_pk = _all_but_last_two_done(pg_url, sample_export, tmp_path)
    with session_scope(pg_url) as s:
        s.execute(text(_LOG_COMMIT_MODE))
    dispose_engines()  # one pooled connection from here on: the writes'

    def finish(pk: int, *, synchronous_commit: bool) -> bool:
        return post_finish.finish_post(
            pg_url, message_pk=pk, channel_pk=channel_pk, run_id=run_id, synchronous_commit=synchronous_commit
        )

    def log() -> list[tuple[str, str]]:
        with session_scope(pg_url) as s:
            rows = s.execute(text("select tbl, mode from commit_mode_log order by n")).all()
            s.execute(text("delete from commit_mode_log"))
        return [(r[0], r[1]) for r in rows]

    assert finish(before_last, synchronous_commit=True) is False
    assert log() == [("run_items", "on")]
    with session_scope(pg_url) as s:  # put the item back: the same post again, asynchronously
        s.execute(
            text("update run_items set status = 'pending' where run_id = :r and message_pk = :p"),
            {"r": run_id, "p": before_last},
        )
    assert log() == [("run_items", "on")]
    assert finish(before_last, synchronous_commit=False) is False
    assert log() == [("run_items", "off")]
    assert finish(last, synchronous_commit=False) is True
    assert log() == [("run_items", "off"), ("runs", "off"), ("runs", "on")]
    with session_scope(pg_url) as s:
        assert s.get(RunRow, run_id).status == "topicizing"
        assert s.execute(text("show synchronous_commit")).scalar_one() == "on"
