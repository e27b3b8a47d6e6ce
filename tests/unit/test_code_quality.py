"""House style is enforced: ruff (select = ALL, with the commented ignores) and mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_ruff_finds_nothing() -> None:
    """`ruff check` passes on the package, the Celery layer, migrations, tests and benchmarks."""
    proc = subprocess.run(
        [
            str(BIN / "ruff"),
            "check",
            "tg_parser",
            "tasks",
            "beat_schedule.py",
            "migrations",
            "tests",
            "bench",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_mypy_strict_finds_nothing() -> None:
    """`mypy --strict` (configured in pyproject.toml) passes on tg_parser, tasks and beat_schedule.py."""
    proc = subprocess.run(
        [str(BIN / "mypy"), "tg_parser", "tasks", "beat_schedule.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_import_contracts_are_kept() -> None:
    """import-linter's six contracts hold (layers, domain, SQLAlchemy, RAG frameworks, Celery, tasks)."""
    proc = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "6 kept, 0 broken" in proc.stdout


MAX_MODULE_LINES = 500
"""A module longer than this is probably two things (issue: one owner per concept)."""


def test_no_module_of_the_library_is_longer_than_500_lines() -> None:
    """Every module under tg_parser/ reads in one sitting."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "tg_parser").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}
