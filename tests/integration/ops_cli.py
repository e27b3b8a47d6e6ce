"""Run the operations commands (`health`, `metrics`, `db migrate-sqlite-to-postgres`) as a user would.

Uses the installed ``tg-parser`` when :mod:`tg_parser.cli` registers the
command, else a stand-in Typer app registering the same functions the same
way (until the commands are wired into ``tg_parser/cli.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.main import get_command

from tg_parser.cli import app

SHIM = """
import typer
from tg_parser.cli_ops import health_command, metrics_app, migrate_sqlite_to_postgres_command
app = typer.Typer()
db_app = typer.Typer()
app.command("health")(health_command)
app.add_typer(metrics_app, name="metrics")
db_app.command("migrate-sqlite-to-postgres")(migrate_sqlite_to_postgres_command)
app.add_typer(db_app, name="db")
app()
"""


def registered(*path: str) -> bool:
    """Return whether ``tg-parser <path…>`` exists in the installed CLI."""
    command = get_command(app)
    for name in path:
        commands = getattr(command, "commands", None)
        if not commands or name not in commands:
            return False
        command = commands[name]
    return True


def ops_argv(*args: str) -> list[str]:
    """Return the command line running ``tg-parser *args`` (or the stand-in)."""
    head = [a for a in args if not a.startswith("-")][:2]
    name = head if head[:1] == ["db"] else head[:1]
    if registered(*name):
        return [str(Path(sys.executable).with_name("tg-parser")), *args]
    return [sys.executable, "-c", SHIM, *args]


def ops_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``tg-parser *args`` (or the stand-in) and return the completed process."""
    return subprocess.run(
        ops_argv(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
