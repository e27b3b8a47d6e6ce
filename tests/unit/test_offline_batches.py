"""Embedded offline processing by batches: the same documents, run states and dead letters as post by post."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import SAMPLE_EXPORT
from tg_parser.config import Settings, load_settings
from tg_parser.domain import Message
from tg_parser.errors import PermanentError, RetryableError
from tg_parser.processing.base import ProcessingResult
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.services import pipeline
from tg_parser.services.channels import register_export
from tg_parser.services.embedded import process_channel_embedded, run_channel_embedded
from tg_parser.services.execute import execute_process
from tg_parser.services.process_batch import BATCH_SIZE, process_batch
from tg_parser.services.processors import get_processor
from tg_parser.services.steps import SleepBackoff
from tg_parser.storage import dead_letters, runs, session_scope
from tg_parser.storage.migrate import upgrade

_ALL_DOCUMENTS = text(
    "SELECT message_pk, channel_id, content_hash, processor, model, prompt_version, language, summary, "
    "keywords, entities, clean_text, output, created_at, updated_at FROM documents ORDER BY message_pk"
)


def _settings(tmp_path: Path, name: str, *, concurrency: int, url: str | None = None) -> Settings:
    """Settings over a new database (``url``, else a SQLite file named ``name``), migrated."""
    url = url or f"sqlite:///{tmp_path / name}.db"
    upgrade(url)
    return load_settings(
        _env_file=None,
        database_url=url,
        export_dir=str(tmp_path / name / "out"),
        process_concurrency=concurrency,
        retry_process_max_attempts=3,
        retry_backoff_base=0.1,
        retry_jitter=0,
    )


def _imported(settings: Settings) -> str:
    """Import the sample channel (no run); return its key."""
    (channel,) = register_export(database_url=settings.database_url, path=SAMPLE_EXPORT)
    pipeline.ingest_channel(
        settings=settings,
        channel=channel.key,
        run_id=None,
        processor=get_processor(settings),
        dispatcher=None,
    )
    return channel.key


def _documents(settings: Settings) -> list[tuple[Any, ...]]:
    """Every document row but its id and times, by post."""
    with session_scope(settings.database_url) as session:
        rows = session.execute(_ALL_DOCUMENTS).all()
    return [tuple(row[:-2]) for row in rows]


def check_batches_match_one_post_path(tmp_path: Path, database: Callable[[str], str | None]) -> None:
    """Process the sample post by post, then by batches at concurrency 1 and 2: the same document rows.

    Args:
        tmp_path: Scratch folder.
        database: Returns the URL of a new empty database for a name (``None``: a SQLite file).
    """
    one = _settings(tmp_path, "one", concurrency=1, url=database("one"))
    key = _imported(one)
    due = pipeline.stale_posts(settings=one, channel=key, processor=get_processor(one))
    assert len(due) > BATCH_SIZE  # several batches, the last one partial
    for pk in due:
        outcome = execute_process(
            settings=one, run_id=None, message_pk=pk, dispatcher=None, backoff=SleepBackoff()
        )
        assert outcome == "processed"
    expected = _documents(one)
    assert len(expected) == len(due)

    for concurrency in (1, 2):
        name = f"batch{concurrency}"
        settings = _settings(tmp_path, name, concurrency=concurrency, url=database(name))
        key = _imported(settings)
        progress: list[tuple[int, int]] = []
        report = process_channel_embedded(
            settings=settings,
            channel=key,
            on_progress=lambda done, total, seen=progress: seen.append((done, total)),
        )
        assert (report.posts, report.failed) == (len(due), 0)
        assert _documents(settings) == expected, f"concurrency {concurrency}"
        assert progress == [(n, len(due)) for n in range(1, len(due) + 1)]
        again = process_channel_embedded(settings=settings, channel=key)
        assert (again.posts, again.failed) == (0, 0)


def test_batches_write_the_documents_of_the_one_post_path(tmp_path: Path) -> None:
    """`tg-parser process` by batches (in-process, in 2 worker processes) = post by post, each post once."""
    check_batches_match_one_post_path(tmp_path, lambda _name: None)


def test_a_batch_leaves_current_documents_alone(tmp_path: Path) -> None:
    """Processing a batch again finds every document current and rewrites none of them."""
    settings = _settings(tmp_path, "db", concurrency=1)
    key = _imported(settings)
    pks = pipeline.stale_posts(settings=settings, channel=key, processor=get_processor(settings))[:20]
    first = process_batch(settings=settings, run_id=None, message_pks=pks, processor=OfflineProcessor())
    assert set(first.outcomes.values()) == {"processed"}
    assert first.channel_key == key
    with session_scope(settings.database_url) as session:
        before = session.execute(_ALL_DOCUMENTS).all()
    second = process_batch(settings=settings, run_id=None, message_pks=pks, processor=OfflineProcessor())
    assert second.outcomes == dict.fromkeys(pks, "current")
    assert not second.errors
    with session_scope(settings.database_url) as session:
        after = session.execute(_ALL_DOCUMENTS).all()
    assert after == before


def test_unknown_post_in_a_batch_is_an_error_of_that_post_only(tmp_path: Path) -> None:
    """A key with no message comes back as that post's NotFoundError; the others are written."""
    settings = _settings(tmp_path, "db", concurrency=1)
    key = _imported(settings)
    pks = pipeline.stale_posts(settings=settings, channel=key, processor=get_processor(settings))[:5]
    outcome = process_batch(
        settings=settings, run_id=None, message_pks=[*pks, 999_999], processor=OfflineProcessor()
    )
    assert outcome.outcomes == dict.fromkeys(pks, "processed")
    assert [type(e).__name__ for e in outcome.errors.values()] == ["NotFoundError"]
    assert len(_documents(settings)) == 5


@pytest.mark.parametrize("concurrency", [1, 2])
def test_post_failing_in_a_batch_follows_the_process_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    """A permanent error is dead-lettered at once, a passing retryable one retried once; the run goes on."""
    settings = _settings(tmp_path, "db", concurrency=concurrency)
    key = _imported(settings)
    due = pipeline.stale_posts(settings=settings, channel=key, processor=get_processor(settings))
    with session_scope(settings.database_url) as session:
        ids = {int(pk): int(mid) for pk, mid in session.execute(text("SELECT id, message_id FROM messages"))}
    bad, flaky = ids[due[3]], ids[due[BATCH_SIZE + 5]]
    flaked = tmp_path / "flaked"  # seen by every worker process
    real = OfflineProcessor.process

    def faulty(self: OfflineProcessor, message: Message) -> ProcessingResult:
        if message.message_id == bad:
            msg = "this post cannot be processed"
            raise PermanentError(msg)
        if message.message_id == flaky and not flaked.exists():
            flaked.touch()
            msg = "a passing fault"
            raise RetryableError(msg)
        return real(self, message)

    monkeypatch.setattr(OfflineProcessor, "process", faulty)  # forked worker processes inherit it
    sleeps: list[float] = []
    progress: list[int] = []
    run = run_channel_embedded(
        settings=settings,
        channel=key,
        sleep=sleeps.append,
        on_progress=lambda _run, done, _total: progress.append(done),
    )
    with session_scope(settings.database_url) as session:
        record = runs.get_run(session, run_id=run.run_id)
        counts = runs.run_counts(session, run_id=run.run_id)
        letters = dead_letters.list_dead_letters(session, run_id=run.run_id, limit=10)
        documented = {int(m) for (m,) in session.execute(text("SELECT message_pk FROM documents"))}
    assert record.status.value == "succeeded"
    assert (counts.total, counts.done, counts.failed) == (len(due), len(due) - 1, 1)
    assert [(d.task_name, d.args["message_id"], d.error_type, d.attempts) for d in letters] == [
        ("tg_parser.process_message", bad, "PermanentError", 1)
    ]
    assert sleeps == [pytest.approx(0.1)]  # the retryable post waited once, as the policy says
    assert documented == set(due) - {due[3]}
    assert progress == list(range(1, len(due) + 1))


def test_worker_process_dying_mid_batch_loses_and_duplicates_no_post(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process that dies mid-batch: its posts are retried one by one, each gets one document."""
    settings = _settings(tmp_path, "db", concurrency=2)
    key = _imported(settings)
    due = pipeline.stale_posts(settings=settings, channel=key, processor=get_processor(settings))
    with session_scope(settings.database_url) as session:
        ids = {int(pk): int(mid) for pk, mid in session.execute(text("SELECT id, message_id FROM messages"))}
    victim = ids[due[BATCH_SIZE + 7]]
    died = tmp_path / "died"
    real = OfflineProcessor.process

    def dying(self: OfflineProcessor, message: Message) -> ProcessingResult:
        if message.message_id == victim and not died.exists():
            died.touch()
            os._exit(1)  # the worker process is gone, as after SIGKILL
        return real(self, message)

    monkeypatch.setattr(OfflineProcessor, "process", dying)
    sleeps: list[float] = []
    run = run_channel_embedded(settings=settings, channel=key, sleep=sleeps.append)
    with session_scope(settings.database_url) as session:
        record = runs.get_run(session, run_id=run.run_id)
        counts = runs.run_counts(session, run_id=run.run_id)
        letters = dead_letters.list_dead_letters(session, run_id=run.run_id, limit=10)
        documented = [int(m) for (m,) in session.execute(text("SELECT message_pk FROM documents"))]
    assert died.exists()
    assert sleeps  # the lost batch's posts were retried under the process policy
    assert record.status.value == "succeeded"
    assert (counts.total, counts.done, counts.failed) == (len(due), len(due), 0)
    assert not letters
    assert sorted(documented) == sorted(due)
