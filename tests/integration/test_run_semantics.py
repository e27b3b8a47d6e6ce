"""Run semantics on the real PostgreSQL: exactly-once completion, dead letters, replay, sweeper, schedules.

These drive the service layer directly (the same functions the Celery tasks
call) from many threads, so races between "last item done" and "topicize"
happen for real on the database.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text, update

from tg_parser.config import load_settings
from tg_parser.domain import Message
from tg_parser.domain.runs import ItemStatus
from tg_parser.errors import PermanentError
from tg_parser.processing.base import ProcessingResult
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.services import channels as channels_service
from tg_parser.services import execute, pipeline
from tg_parser.services.dead_letters import replay_dead_letters
from tg_parser.services.schedule import claim_due_channels
from tg_parser.services.sweeper import sweep_stalled_runs
from tg_parser.storage import channels, messages, runs
from tg_parser.storage.session import session_factory, session_scope
from tg_parser.storage.tables import ChannelRow, DeadLetterRow, DocumentRow, RunItemRow, RunRow, utcnow

pytestmark = pytest.mark.integration


@dataclass
class RecordingDispatcher:
    """Records every step the services hand on, instead of running it."""

    processed: list[tuple[str, int]] = field(default_factory=list)
    topicized: list[str] = field(default_factory=list)
    exported: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def process_messages(self, *, run_id: str, message_pks: list[int]) -> None:
        """Record posts sent for processing."""
        with self.lock:
            self.processed += [(run_id, pk) for pk in message_pks]

    def topicize(self, *, channel_key: str, run_id: str) -> None:  # noqa: ARG002
        """Record a topicize hand-off."""
        with self.lock:
            self.topicized.append(run_id)

    def export(self, *, channel_key: str, run_id: str) -> None:  # noqa: ARG002
        """Record an export hand-off."""
        with self.lock:
            self.exported.append(run_id)


class FailingFor:
    """The offline processor, failing permanently for chosen message ids."""

    def __init__(self, failing: set[int]) -> None:
        self._inner = OfflineProcessor()
        self.name, self.model, self.prompt_version = (
            self._inner.name,
            self._inner.model,
            self._inner.prompt_version,
        )
        self.failing = failing

    def process(self, message: Message) -> ProcessingResult:
        """Fail for the chosen posts, else process offline."""
        if message.message_id in self.failing:
            msg = f"injected permanent failure for post {message.message_id}"
            raise PermanentError(msg)
        return self._inner.process(message)


def _ingest(url: str, sample: Path, dispatcher: RecordingDispatcher, tmp: Path) -> tuple[str, str, list[int]]:
    settings = load_settings(database_url=url, export_dir=str(tmp / "out"))
    key = channels_service.register_export(database_url=url, path=sample)[0].key
    run_id = str(uuid.uuid4())
    pipeline.start_run(database_url=url, channel=key, run_id=run_id, mode="test")
    pipeline.ingest_channel(
        settings=settings, channel=key, run_id=run_id, processor=OfflineProcessor(), dispatcher=dispatcher
    )
    return key, run_id, [pk for _r, pk in dispatcher.processed]


def test_topicize_fires_once_under_concurrent_and_duplicate_delivery(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """Every post delivered twice, processed by 8 threads at once: topicize is handed on exactly once."""
    disp = RecordingDispatcher()
    key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    assert len(pks) >= 100
    deliveries = pks + pks
    random.Random(7).shuffle(deliveries)
    settings = load_settings(database_url=pg_url)
    proc = OfflineProcessor()

    def work(pk: int) -> str:
        return pipeline.process_message(
            settings=settings, run_id=run_id, message_pk=pk, processor=proc, dispatcher=disp
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = Counter(pool.map(work, deliveries))
    assert disp.topicized == [run_id]
    assert outcomes["processed"] >= len(pks)  # two racing copies may both process; the upsert keeps one
    with session_scope(pg_url) as s:
        counts = runs.run_counts(s, run_id=run_id)
        docs = s.execute(select(func.count()).select_from(DocumentRow)).scalar_one()
        assert s.get(RunRow, run_id).status == "topicizing"
    assert (counts.done, counts.pending, counts.failed) == (len(pks), 0, 0)
    assert docs == len(pks)

    # The topicize task itself delivered twice: exactly one export hand-off.
    for _ in range(2):
        pipeline.topicize_channel(settings=settings, channel=key, run_id=run_id, dispatcher=disp)
    assert disp.exported == [run_id]


def test_failed_posts_are_dead_lettered_and_replay_fixes_the_counts(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """A post that gives up is dead-lettered once, the run goes on; a successful replay moves it to done."""
    disp = RecordingDispatcher()
    key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    settings = load_settings(database_url=pg_url, export_dir=str(tmp_path / "out"))
    with session_scope(pg_url) as s:
        bad_pk = pks[3]
        bad_id = messages.load_message(s, message_pk=bad_pk).message.message_id
    failing = FailingFor({bad_id})
    for pk in pks:
        try:
            pipeline.process_message(
                settings=settings, run_id=run_id, message_pk=pk, processor=failing, dispatcher=disp
            )
        except PermanentError as exc:
            for _ in range(2):  # a give-up recorded twice still makes one dead letter
                execute.record_failure(
                    settings=settings, run_id=run_id, message_pk=pk, error=exc, attempts=1, dispatcher=disp
                )
    assert disp.topicized == [run_id]
    pipeline.topicize_channel(settings=settings, channel=key, run_id=run_id, dispatcher=disp)
    pipeline.export_channel(settings=settings, channel=key, run_id=run_id)
    with session_scope(pg_url) as s:
        assert s.get(RunRow, run_id).status == "succeeded"
        c = runs.run_counts(s, run_id=run_id)
        letters = s.execute(select(DeadLetterRow)).scalars().all()
        assert (c.done, c.failed) == (len(pks) - 1, 1)
        assert [(d.task_name, d.args["message_pk"], d.error_type) for d in letters] == [
            ("tg_parser.process_message", bad_pk, "PermanentError")
        ]

    disp.processed.clear()
    replays = replay_dead_letters(settings=settings, ids=None, dispatcher=disp, start_run=lambda k: k)
    assert [r.task_name for r in replays] == ["tg_parser.process_message"]
    assert disp.processed == [(run_id, bad_pk)]
    pipeline.process_message(
        settings=settings, run_id=run_id, message_pk=bad_pk, processor=OfflineProcessor(), dispatcher=disp
    )
    assert disp.topicized == [run_id, run_id]
    pipeline.topicize_channel(settings=settings, channel=key, run_id=run_id, dispatcher=disp)
    pipeline.export_channel(settings=settings, channel=key, run_id=run_id)
    with session_scope(pg_url) as s:
        c = runs.run_counts(s, run_id=run_id)
        assert (c.done, c.failed, c.pending) == (len(pks), 0, 0)
        assert s.get(RunRow, run_id).status == "succeeded"
        assert s.execute(select(DeadLetterRow.resolved)).scalars().all() == [True]
    lines = (tmp_path / "out" / key / "documents.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(pks)


def test_sweeper_redrives_a_stalled_run_once_then_backs_off(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """A run whose messages were lost is re-driven with exactly its pending posts, then not again at once."""
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    settings = load_settings(database_url=pg_url, run_stall_timeout_s=30)
    for pk in pks[:10]:
        pipeline.process_message(
            settings=settings, run_id=run_id, message_pk=pk, processor=OfflineProcessor(), dispatcher=disp
        )
    assert sweep_stalled_runs(settings=settings, dispatcher=disp, resend_ingest=lambda **_: None) == []
    old = utcnow() - timedelta(minutes=5)
    with session_scope(pg_url) as s:
        s.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(created_at=old, ingested_at=old, heartbeat_at=old)
        )
        s.execute(update(RunItemRow).where(RunItemRow.run_id == run_id).values(updated_at=old))
    disp.processed.clear()
    redrives = sweep_stalled_runs(settings=settings, dispatcher=disp, resend_ingest=lambda **_: None)
    assert [(r.run_id, r.status, r.resent) for r in redrives] == [(run_id, "processing", len(pks) - 10)]
    assert sorted(pk for _r, pk in disp.processed) == sorted(pks[10:])
    assert sweep_stalled_runs(settings=settings, dispatcher=disp, resend_ingest=lambda **_: None) == []


def test_two_schedulers_never_claim_the_same_run(pg_url: str, sample_export: Path) -> None:
    """Due channels claimed by 6 racing schedulers are each claimed exactly once."""
    channels_service.register_export(database_url=pg_url, path=sample_export)
    keys = [
        channels_service.register_telegram(database_url=pg_url, reference=f"@chan_{i:03d}x")
        for i in range(20)
    ]
    with session_scope(pg_url) as s:
        for key in keys:
            channels.set_schedule(s, key=key, every_s=900)
        s.execute(update(ChannelRow).values(next_run_at=utcnow() - timedelta(minutes=30)))
        channels.set_paused(s, key=keys[0], paused=True)
    barrier = threading.Barrier(6)

    def tick() -> list[str]:
        barrier.wait()
        return claim_due_channels(database_url=pg_url)

    with ThreadPoolExecutor(max_workers=6) as pool:
        claimed = [k for batch in pool.map(lambda _: tick(), range(6)) for k in batch]
    assert sorted(claimed) == sorted(keys[1:])  # once each; paused and unscheduled channels not at all
    assert claim_due_channels(database_url=pg_url) == []  # next run is in 15 minutes


def _wait_for_a_lock_wait(url: str, *, timeout_s: float = 30.0) -> None:
    """Return once a session of the database waits on a lock; fail after ``timeout_s``."""
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
                if waiting:
                    return
                time.sleep(0.05)
    finally:
        probe.dispose()
    pytest.fail("the second post's test for the run's end did not wait for the first post's transaction")


def test_the_later_of_two_racing_posts_ends_processing(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """The last two posts mark their items and test for the run's end before either commits: one ends it."""
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    *rest, first_pk, second_pk = pks
    with session_scope(pg_url) as s:
        for pk in rest:
            runs.finish_item(s, run_id=run_id, message_pk=pk, status=ItemStatus.DONE)
    factory = session_factory(pg_url)
    first, second = factory(), factory()
    try:
        # Both items marked, neither transaction committed: each sees the other item pending.
        runs.finish_item(first, run_id=run_id, message_pk=first_pk, status=ItemStatus.DONE)
        runs.finish_item(second, run_id=run_id, message_pk=second_pk, status=ItemStatus.DONE)
        assert runs.claim_processing_done(first, run_id=run_id) is False
        with ThreadPoolExecutor(max_workers=1) as pool:
            claimed = pool.submit(runs.claim_processing_done, second, run_id=run_id)
            _wait_for_a_lock_wait(pg_url)  # the second test waits for the first transaction ...
            first.commit()
            assert claimed.result(timeout=60) is True  # ... and then sees its item done
        second.commit()
    finally:
        first.close()
        second.close()
    with session_scope(pg_url) as s:
        assert s.get(RunRow, run_id).status == "topicizing"
        assert runs.run_counts(s, run_id=run_id).pending == 0


def test_a_read_only_session_leaves_the_next_transaction_whole(pg_url: str) -> None:
    """A read without BEGIN/COMMIT does not turn the pooled connection's next transaction into autocommit."""
    for _ in range(3):
        with session_scope(pg_url, read_only=True) as s:
            # Autocommit: every statement is its own transaction, so now() moves with the statement.
            assert s.execute(text("select now() = statement_timestamp()")).scalar_one() is True
        with session_scope(pg_url) as s:
            # A real transaction: now() is the transaction's start, not this statement's.
            s.execute(text("select pg_sleep(0.01)"))
            assert s.execute(text("select now() = statement_timestamp()")).scalar_one() is False
