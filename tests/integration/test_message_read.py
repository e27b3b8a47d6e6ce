"""The process step's read of a post (``read_message_to_process``) on the real PostgreSQL.

On PostgreSQL it skips the session and SQLAlchemy's result and runs the
rendered statement on a pooled psycopg connection; it must give exactly what
the session read gives, timestamps in UTC whatever the server's time zone.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.integration.test_run_semantics import RecordingDispatcher, _ingest
from tg_parser.config import load_settings
from tg_parser.errors import NotFoundError
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.services import pipeline
from tg_parser.storage import messages
from tg_parser.storage.session import dispose_engines, session_scope

pytestmark = pytest.mark.integration

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _both(url: str, pk: int, processed_by: tuple[str, str, str] | None) -> tuple[object, object]:
    with session_scope(url, read_only=True) as s:
        session_read = messages.load_message_to_process(s, message_pk=pk, processed_by=processed_by)
    return messages.read_message_to_process(url, message_pk=pk, processed_by=processed_by), session_read


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kathmandu"])
def test_the_read_equals_the_session_read_on_every_post(
    pg_url: str, sample_export: Path, tmp_path: Path, time_zone: str
) -> None:
    """Every post of the sample, before and after processing one: the same post, channel and currency.

    In a database whose ``TimeZone`` is not UTC (+05:45) the timestamps still
    come back as UTC, as the ORM's ``UTCDateTime`` gives them.
    """
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"alter database \"{pg_url.rsplit('/', 1)[1]}\" set timezone = '{time_zone}'"))
    finally:
        admin.dispose()
    dispose_engines()  # new connections take the database's setting
    disp = RecordingDispatcher()
    _key, run_id, pks = _ingest(pg_url, sample_export, disp, tmp_path)
    proc = OfflineProcessor()
    processed_by = (proc.name, proc.model, proc.prompt_version)
    settings = load_settings(database_url=pg_url)
    pipeline.process_message(
        settings=settings, run_id=run_id, message_pk=pks[0], processor=proc, dispatcher=disp
    )
    with session_scope(pg_url, read_only=True) as s:
        assert s.execute(text("show timezone")).scalar_one() == time_zone
    for pk in pks:
        for by in (processed_by, None):
            fast, slow = _both(pg_url, pk, by)
            assert fast == slow
            assert fast.current is (pk == pks[0] and by is not None)  # type: ignore[attr-defined]
            date = fast.stored.message.date  # type: ignore[attr-defined]
            assert date.tzinfo is UTC


def test_an_unknown_post_is_not_found_on_both_databases(pg_url: str, sqlite_url: str) -> None:
    """No such primary key: ``NotFoundError`` naming it, on PostgreSQL and on SQLite."""
    for url in (pg_url, sqlite_url):
        with pytest.raises(NotFoundError, match="primary key 123456789"):
            messages.read_message_to_process(url, message_pk=123456789, processed_by=None)


def test_the_sqlite_read_equals_the_postgresql_read(
    pg_url: str, sqlite_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """The same sample on both databases: the same posts, channels and currency, post by post."""
    reads = []
    for url, sub in ((pg_url, "pg"), (sqlite_url, "lite")):
        _key, _run, pks = _ingest(url, sample_export, RecordingDispatcher(), tmp_path / sub)
        reads.append([messages.read_message_to_process(url, message_pk=pk, processed_by=None) for pk in pks])
    pg_reads, lite_reads = reads
    assert len(pg_reads) == len(lite_reads) > 0
    for pg_read, lite_read in zip(pg_reads, lite_reads, strict=True):
        assert pg_read.stored.message == lite_read.stored.message
        assert pg_read.stored.content_hash == lite_read.stored.content_hash
        assert pg_read.stored.channel.key == lite_read.stored.channel.key
