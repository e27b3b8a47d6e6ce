"""``tg-parser api-keys``: the key is printed once, stored only as a hash, listed by id, revocable."""

from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from tg_parser.cli import app
from tg_parser.services.api_keys import authenticate


@pytest.fixture
def db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """DATABASE_URL pointing at a fresh migrated SQLite file."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def test_create_prints_the_key_once_and_stores_only_its_hash(db: str) -> None:
    """`create` prints a working key; the database holds its hash; `list` never shows it; `revoke` ends it."""
    runner = CliRunner()
    created = runner.invoke(app, ["api-keys", "create", "--name", "ci", "--scope", "write"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("tgp_")
    record = authenticate(database_url=db, key=key)
    assert record is not None
    assert record.scope == "write"
    con = sqlite3.connect(db.removeprefix("sqlite:///"))
    try:
        stored = " ".join(str(v) for row in con.execute("select * from api_keys") for v in row)
    finally:
        con.close()
    assert key not in stored
    assert key.split("_", 2)[2] not in stored  # not even the secret part
    listed = runner.invoke(app, ["api-keys", "list"])
    assert record.key_id in listed.stdout
    assert key not in listed.stdout
    assert runner.invoke(app, ["api-keys", "revoke", record.key_id]).exit_code == 0
    assert authenticate(database_url=db, key=key) is None
    assert runner.invoke(app, ["api-keys", "revoke", record.key_id]).exit_code == 1


def test_a_bad_scope_is_refused(db: str) -> None:
    """`--scope root` exits 2 and names the scopes."""
    result = CliRunner().invoke(app, ["api-keys", "create", "--name", "x", "--scope", "root"])
    assert result.exit_code == 2
    assert "read, write or admin" in result.output
