"""deploy/backup.sh and deploy/restore.sh against the local PostgreSQL.

Each test works in a throwaway database on 127.0.0.1:5432 (user ``postgres``,
trust auth). When PostgreSQL or the client tools are missing the tests skip,
except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import missing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BACKUP_SH = ROOT / "deploy" / "backup.sh"
RESTORE_SH = ROOT / "deploy" / "restore.sh"
PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
ADMIN_DSN = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres connect_timeout=3"

SCHEMA = """
CREATE TABLE channels (
    id bigserial PRIMARY KEY,
    key text NOT NULL UNIQUE,
    title text NOT NULL
);
CREATE TABLE messages (
    id bigserial PRIMARY KEY,
    channel_id bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    message_id bigint NOT NULL,
    text text NOT NULL,
    raw jsonb NOT NULL,
    posted_at timestamptz NOT NULL,
    UNIQUE (channel_id, message_id)
);
INSERT INTO channels (key, title) VALUES ('durov', 'Durov''s Channel'), ('news', 'Новости');
INSERT INTO messages (channel_id, message_id, text, raw, posted_at)
SELECT 1 + (n % 2), n, 'пост №' || n || ' 🚀', jsonb_build_object('n', n), now() - n * interval '1 hour'
FROM generate_series(1, 250) AS n;
"""


@pytest.fixture(scope="module")
def admin_dsn() -> str:
    """Return the maintenance DSN once PostgreSQL answers and pg_dump/pg_restore are installed."""
    for tool in ("pg_dump", "pg_restore", "bash"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found on PATH")
    try:
        with psycopg.connect(ADMIN_DSN):
            pass
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL unreachable at {PG_HOST}:{PG_PORT}: {exc}")
    return ADMIN_DSN


def create_database(admin: str, name: str) -> None:
    """Create an empty database."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin: str, name: str) -> None:
    """Drop a database, closing its connections."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database(admin_dsn):
    """Yield the name of a throwaway database holding two tables with rows; drop it afterwards."""
    name = f"tg_backup_test_{uuid.uuid4().hex[:12]}"
    create_database(admin_dsn, name)
    try:
        with psycopg.connect(dsn(name)) as conn:
            conn.execute(SCHEMA)
        yield name
    finally:
        drop_database(admin_dsn, name)


def dsn(name: str) -> str:
    """Return a libpq DSN for a database."""
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={name}"


def app_url(name: str, *, password: str = "") -> str:
    """Return the database URL as tg_parser's settings spell it (``postgresql+psycopg``)."""
    auth = f"{PG_USER}:{password}" if password else PG_USER
    return f"postgresql+psycopg://{auth}@{PG_HOST}:{PG_PORT}/{name}"


def snapshot(name: str) -> dict[str, object]:
    """Row counts and a content fingerprint of the test tables."""
    with psycopg.connect(dsn(name)) as conn:
        channels = conn.execute("SELECT count(*) FROM channels").fetchone()
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()
        digest = conn.execute(
            "SELECT md5(string_agg(m.message_id || c.key || m.text || m.raw::text, ',' "
            "ORDER BY m.id)) FROM messages m JOIN channels c ON c.id = m.channel_id"
        ).fetchone()
    assert channels is not None
    assert messages is not None
    assert digest is not None
    return {"channels": channels[0], "messages": messages[0], "digest": digest[0]}


def run_script(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a deploy script with a clean PG*/DATABASE_URL environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    return subprocess.run(
        ["bash", str(script), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_backup_then_restore_after_dropping_tables(database, tmp_path):
    """A dump taken via DATABASE_URL restores the dropped tables with the same rows and content."""
    before = snapshot(database)
    dump = tmp_path / "nightly" / "tg.dump"
    env = {"DATABASE_URL": app_url(database)}

    backup = run_script(BACKUP_SH, str(dump), env=env)
    assert backup.returncode == 0, backup.stderr
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert not list(dump.parent.glob("*.partial.*"))

    with psycopg.connect(dsn(database)) as conn:
        conn.execute("DROP TABLE messages, channels")

    restore = run_script(RESTORE_SH, "--yes", str(dump), env=env)
    assert restore.returncode == 0, restore.stderr
    assert snapshot(database) == before
    assert before["messages"] == 250


def test_restore_over_changed_data_and_sequences(database, tmp_path):
    """--clean replaces rows changed after the dump, and sequences continue where they were."""
    before = snapshot(database)
    dump = tmp_path / "tg.dump"
    env = {"DATABASE_URL": app_url(database)}
    assert run_script(BACKUP_SH, str(dump), env=env).returncode == 0

    with psycopg.connect(dsn(database)) as conn:
        conn.execute("DELETE FROM messages WHERE message_id > 100")
        conn.execute("UPDATE channels SET title = 'changed'")

    restore = run_script(RESTORE_SH, "-y", str(dump), env=env)
    assert restore.returncode == 0, restore.stderr
    assert snapshot(database) == before
    with psycopg.connect(dsn(database)) as conn:
        row = conn.execute("INSERT INTO channels (key, title) VALUES ('new', 'New') RETURNING id").fetchone()
    assert row == (3,)


def test_restore_into_new_database_with_pg_env_and_password_in_url(admin_dsn, database, tmp_path):
    """A dump taken with a password in the URL restores into a fresh database chosen by PG* variables."""
    before = snapshot(database)
    dump = tmp_path / "tg.dump"
    # Trust auth accepts any password: this exercises the URL parsing (%40 is "@").
    url = app_url(database, password="p%40ss:w0rd")  # noqa: S106  # fake password, trust auth
    backup = run_script(BACKUP_SH, str(dump), env={"DATABASE_URL": url})
    assert backup.returncode == 0, backup.stderr

    target = f"{database}_copy"
    create_database(admin_dsn, target)
    try:
        env = {"PGHOST": PG_HOST, "PGPORT": str(PG_PORT), "PGUSER": PG_USER, "PGDATABASE": target}
        restore = run_script(RESTORE_SH, "--yes", str(dump), env=env)
        assert restore.returncode == 0, restore.stderr
        assert snapshot(target) == before
    finally:
        drop_database(admin_dsn, target)


def test_backup_to_stdout_restores_from_stdin(database, tmp_path):
    """``backup.sh -`` streams the dump and ``restore.sh --yes -`` reads it back."""
    before = snapshot(database)
    env = {"DATABASE_URL": app_url(database)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "DATABASE_URL"}
    dumped = subprocess.run(
        ["bash", str(BACKUP_SH), "-"], env={**base, **env}, capture_output=True, timeout=120, check=True
    )
    with psycopg.connect(dsn(database)) as conn:
        conn.execute("TRUNCATE messages")
    restored = subprocess.run(
        ["bash", str(RESTORE_SH), "--yes", "-"],
        input=dumped.stdout,
        env={**base, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr
    assert snapshot(database) == before
    assert not list(tmp_path.iterdir())


def test_restore_refuses_without_yes_and_leaves_data(database, tmp_path):
    """Without --yes restore.sh exits 2 with a usage message and changes nothing."""
    dump = tmp_path / "tg.dump"
    env = {"DATABASE_URL": app_url(database)}
    assert run_script(BACKUP_SH, str(dump), env=env).returncode == 0
    with psycopg.connect(dsn(database)) as conn:
        conn.execute("DELETE FROM messages")

    result = run_script(RESTORE_SH, str(dump), env=env)
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert snapshot(database)["messages"] == 0


@pytest.mark.usefixtures("admin_dsn")
def test_failed_backup_leaves_no_file(tmp_path):
    """A dump of a missing database fails non-zero and leaves no partial file behind."""
    dump = tmp_path / "missing.dump"
    result = run_script(BACKUP_SH, str(dump), env={"DATABASE_URL": app_url("tg_no_such_db_x")})
    assert result.returncode != 0
    assert "tg_no_such_db_x" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("script", "args", "env", "message"),
    [
        (BACKUP_SH, (), {"DATABASE_URL": "sqlite:///./tg_parser.db"}, "not a PostgreSQL URL"),
        (BACKUP_SH, ("a", "b"), {}, "at most one OUTPUT"),
        (BACKUP_SH, ("--bogus",), {}, "unknown option"),
        (RESTORE_SH, ("--yes",), {}, "expected one DUMP"),
        (RESTORE_SH, ("--yes", "/nonexistent/tg.dump"), {}, "cannot read dump file"),
    ],
    ids=["sqlite-url", "two-outputs", "bad-option", "no-dump", "missing-dump"],
)
def test_usage_errors_exit_2(script, args, env, message):
    """Wrong arguments or a non-PostgreSQL URL exit with status 2 and say why."""
    result = run_script(script, *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("script", [BACKUP_SH, RESTORE_SH], ids=["backup", "restore"])
def test_help_prints_usage(script):
    """--help prints the usage text and exits 0."""
    result = run_script(script, "--help", env={})
    assert result.returncode == 0
    assert "Usage:" in result.stdout
    assert "DATABASE_URL" in result.stdout
