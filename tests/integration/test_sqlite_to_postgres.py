"""`tg-parser db migrate-sqlite-to-postgres` on a SQLite database filled by the real pipeline."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.integration.ops_cli import ops_cli
from tg_parser.config import load_settings
from tg_parser.errors import PermanentError
from tg_parser.services import channels as channels_service
from tg_parser.services import execute
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.storage import channels, dead_letters, documents, migrate
from tg_parser.storage.copy import copy_tables, table_digests
from tg_parser.storage.session import get_engine, session_scope

pytestmark = pytest.mark.integration


def cli_env(database_url: str | None = None) -> dict[str, str]:
    """Environment of an embedded CLI call (no broker)."""
    env = {**os.environ, "LOG_FORMAT": "json"}
    env.pop("CELERY_BROKER_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def tg_parser(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI against ``database_url``."""
    exe = str(Path(sys.executable).with_name("tg-parser"))
    return subprocess.run(
        [exe, *args],
        env=cli_env(database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def processed_sample(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Build a SQLite file: the sample export through the real pipeline, plus a post that gave up."""
    path = tmp_path_factory.mktemp("sample-db") / "processed.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    settings = load_settings(database_url=url, export_dir=str(path.parent / "exports"))
    key = channels_service.register_export(database_url=url, path=sample_export)[0].key
    run_channel_embedded(settings=settings, channel=key)
    with session_scope(url) as session:
        first_post = min(
            pk
            for pk, _mid, _t, _k in documents.topic_inputs(
                session, channel_pk=channels.get_channel(session, key=key).id
            )
        )
    # A post that gave up: a dead letter with non-ASCII text and JSON arguments.
    execute.record_failure(
        settings=settings,
        run_id=None,
        message_pk=first_post,
        error=PermanentError("отказ: bad output"),
        attempts=3,
        dispatcher=None,
    )
    get_engine(url).dispose()
    return path, key


@pytest.fixture
def filled_sqlite(processed_sample: tuple[Path, str], tmp_path: Path) -> tuple[str, str]:
    """Copy :func:`processed_sample` (SQLite backup API, safe with WAL); return its URL and channel key."""
    path, key = processed_sample
    target = tmp_path / "source.db"
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return f"sqlite:///{target}", key


def digests(url: str) -> dict[str, object]:
    """Row counts and checksums of every table of ``url``."""
    with get_engine(url).connect() as conn:
        return dict(table_digests(conn))


def raw_counts(url: str) -> dict[str, int]:
    """Row counts read with plain SQL, independent of the copy code."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(text(f'select count(*) from "{t.name}"')).scalar_one()  # noqa: S608
                for t in copy_tables()
            }
    finally:
        engine.dispose()


def row_versions(url: str) -> list[str]:
    """PostgreSQL row versions (``xmin``) of the copied rows: they change when a row is rewritten."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                conn.execute(
                    text(f"select coalesce(string_agg(xmin::text, ',' order by ctid), '') from \"{t.name}\"")  # noqa: S608
                ).scalar_one()
                for t in copy_tables()
            ]
    finally:
        engine.dispose()


def test_copy_matches_counts_and_checksums_and_is_idempotent(
    filled_sqlite: tuple[str, str], pg_empty_url: str, tmp_path: Path
) -> None:
    """The copy has the source's row counts and checksums; a second run succeeds and rewrites no row."""
    src, _key = filled_sqlite
    proc = ops_cli("db", "migrate-sqlite-to-postgres", src, pg_empty_url, env=cli_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "checksums match" in proc.stderr
    assert migrate.is_at_head(pg_empty_url)
    counts = raw_counts(src)
    assert counts["messages"] > 100
    assert counts["documents"] > 100
    assert counts["dead_letters"] == 1
    assert raw_counts(pg_empty_url) == counts
    assert digests(pg_empty_url) == digests(src)

    versions = row_versions(pg_empty_url)
    again = ops_cli("db", "migrate-sqlite-to-postgres", src, pg_empty_url, env=cli_env(), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing changed" in again.stderr
    assert row_versions(pg_empty_url) == versions
    assert digests(pg_empty_url) == digests(src)


def test_non_empty_target_is_refused_without_force(
    filled_sqlite: tuple[str, str], pg_empty_url: str, tmp_path: Path
) -> None:
    """A target holding different data is refused (and left alone) unless --force, which replaces it."""
    src, key = filled_sqlite
    assert (
        ops_cli("db", "migrate-sqlite-to-postgres", src, pg_empty_url, env=cli_env(), cwd=tmp_path).returncode
        == 0
    )
    with session_scope(src) as session:
        dead_letters.add_dead_letter(
            session,
            run_id=None,
            task_name="tg_parser.ingest_channel",
            args={"channel": key},
            error_type="InputError",
            error_message="broken file",
            attempts=1,
        )
    target_before = digests(pg_empty_url)

    refused = ops_cli("db", "migrate-sqlite-to-postgres", src, pg_empty_url, env=cli_env(), cwd=tmp_path)
    assert refused.returncode != 0
    assert "--force" in refused.stderr
    assert "not empty" in refused.stderr
    assert digests(pg_empty_url) == target_before

    forced = ops_cli(
        "db", "migrate-sqlite-to-postgres", src, pg_empty_url, "--force", env=cli_env(), cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert raw_counts(pg_empty_url)["dead_letters"] == 2
    assert digests(pg_empty_url) == digests(src)


def test_copied_database_exports_the_same_documents_and_takes_new_rows(
    filled_sqlite: tuple[str, str], pg_empty_url: str, tmp_path: Path
) -> None:
    """`tg-parser export` from the copy writes byte-identical files; new rows get ids after copied ones."""
    src, key = filled_sqlite
    assert (
        ops_cli("db", "migrate-sqlite-to-postgres", src, pg_empty_url, env=cli_env(), cwd=tmp_path).returncode
        == 0
    )
    for name, url in (("sqlite", src), ("pg", pg_empty_url)):
        proc = tg_parser("export", key, "--out", str(tmp_path / name), database_url=url, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    for file in ("documents.ndjson", "topics.json"):
        sqlite_bytes = (tmp_path / "sqlite" / key / file).read_bytes()
        assert sqlite_bytes
        assert (tmp_path / "pg" / key / file).read_bytes() == sqlite_bytes

    max_ids = {}
    engine = create_engine(pg_empty_url)
    with engine.connect() as conn:
        for table in ("channels", "dead_letters"):
            max_ids[table] = conn.execute(text(f"select max(id) from {table}")).scalar_one()  # noqa: S608
    engine.dispose()
    with session_scope(pg_empty_url) as session:
        channel_pk = channels.upsert_channel(
            session,
            key="new-channel",
            telegram_id=42,
            username=None,
            title="New",
            chat_type=None,
            source_kind="export",
            source="{}",
        )
        letter_id = dead_letters.add_dead_letter(
            session, run_id=None, task_name="t", args={}, error_type="E", error_message="m", attempts=1
        )
    assert channel_pk == max_ids["channels"] + 1
    assert letter_id == max_ids["dead_letters"] + 1


def test_source_not_at_head_or_missing_is_a_clear_error(pg_empty_url: str, tmp_path: Path) -> None:
    """A source behind the newest migration, or a missing file, is refused with a message saying so."""
    old = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(old, "0001")
    proc = ops_cli("db", "migrate-sqlite-to-postgres", old, pg_empty_url, env=cli_env(), cwd=tmp_path)
    assert proc.returncode != 0
    assert "revision 0001" in proc.stderr
    assert "db upgrade" in proc.stderr

    missing = ops_cli(
        "db",
        "migrate-sqlite-to-postgres",
        f"sqlite:///{tmp_path / 'nope.db'}",
        pg_empty_url,
        env=cli_env(),
        cwd=tmp_path,
    )
    assert missing.returncode != 0
    assert "nope.db" in missing.stderr
    assert "does not exist" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
