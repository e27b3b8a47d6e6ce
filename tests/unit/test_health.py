"""Health rules that need no services: embedded mode, the database check, queue coverage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tg_parser.config import load_settings
from tg_parser.services.health import (
    EXPECTED_QUEUES,
    build_report,
    check_beat,
    check_database,
    evaluate_workers,
)
from tg_parser.storage import migrate

if TYPE_CHECKING:
    from pathlib import Path


def test_embedded_mode_is_healthy_with_a_migrated_database(sqlite_url: str) -> None:
    """Without a broker only the database is required, and a migrated SQLite file is enough."""
    report = build_report(load_settings(database_url=sqlite_url), probe_factory=None, include_llm=True)
    assert report.healthy
    assert report.mode == "embedded"
    assert [c.component for c in report.components if c.required] == ["database"]
    assert {c.component: c.status for c in report.components}["llm"] == "ok"


def test_database_behind_head_is_unhealthy_and_says_what_to_run(tmp_path: Path) -> None:
    """A database at an older revision fails and asks for `tg-parser db upgrade`."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0001")
    result = check_database(url)
    assert result.status == "fail"
    assert "0001" in result.detail
    assert "db upgrade" in result.detail


def test_missing_sqlite_file_fails_without_being_created(tmp_path: Path) -> None:
    """Checking a SQLite file that does not exist reports it and does not create an empty one."""
    path = tmp_path / "nothing.db"
    result = check_database(f"sqlite:///{path}")
    assert result.status == "fail"
    assert "does not exist" in result.detail
    assert not path.exists()


def test_every_queue_needs_a_consumer() -> None:
    """Queues consumed by no live worker are named; all covered is ok; no worker fails both checks."""
    workers, queues = evaluate_workers({"a@h": ["celery", "ingest"], "b@h": ["process"]})
    assert workers.status == "ok"
    assert "a@h, b@h" in workers.detail
    assert queues.status == "fail"
    assert queues.detail.endswith("topics, export")

    _workers, queues = evaluate_workers({"a@h": list(EXPECTED_QUEUES)})
    assert queues.status == "ok"

    workers, queues = evaluate_workers({})
    assert (workers.status, queues.status) == ("fail", "fail")


def test_beat_without_redis_is_not_checked_rather_than_failed() -> None:
    """With neither broker nor result backend on Redis, Beat's tick cannot be read and is not required."""
    result = check_beat(None)
    assert result.status == "not checked"
    assert not result.required
