"""Scripting: each ``list`` and ``show`` command prints JSON with ``--json``; INFO hides Alembic set-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLE_EXPORT

LIST_AND_SHOW = (
    ("channels", "list"),
    ("runs", "list"),
    ("dlq", "list"),
    ("api-keys", "list"),
    ("metrics", "show"),
    ("usage",),
)


def tg_parser(*args: str, cwd: Path, log_level: str = "INFO") -> subprocess.CompletedProcess[str]:
    """Run the installed CLI with a SQLite database in ``cwd``."""
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": log_level,
        "DATABASE_URL": f"sqlite:///{cwd}/t.db",
    }
    env.pop("CELERY_BROKER_URL", None)
    exe = Path(sys.executable).with_name("tg-parser")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_every_list_and_show_command_prints_json(tmp_path: Path) -> None:
    """After a run, each command's --json output parses, and names what the run made."""
    first = tg_parser("import", "-f", str(SAMPLE_EXPORT), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    # The first command migrated a new database: "Running upgrade" stays, the set-up chatter does not.
    assert "Running upgrade" in first.stderr
    for noise in ("Context impl", "Will assume", "setup plugin"):
        assert noise not in first.stderr
    done = tg_parser("run", "-f", str(SAMPLE_EXPORT), "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, object] = {}
    for command in LIST_AND_SHOW:
        proc = tg_parser(*command, "--json", cwd=tmp_path)
        assert proc.returncode == 0, (command, proc.stderr[-2000:])
        out[" ".join(command)] = json.loads(proc.stdout)
    channels = out["channels list"]
    runs = out["runs list"]
    assert isinstance(channels, list)
    assert isinstance(runs, list)
    assert channels[0]["key"] == "c1987654321"
    assert channels[0]["documents"] > 0
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["delta_cursor"]
    assert out["dlq list"] == []
    assert out["api-keys list"] == []
    assert any(s["name"].startswith("tg_parser_") for s in out["metrics show"])  # type: ignore[union-attr]
    show = tg_parser("runs", "show", runs[0]["run_id"], "--json", cwd=tmp_path)
    assert json.loads(show.stdout) == runs[0]
    debug = tg_parser("channels", "list", "--json", cwd=tmp_path, log_level="DEBUG")
    assert json.loads(debug.stdout) == channels  # logs go to stderr, never into the JSON
