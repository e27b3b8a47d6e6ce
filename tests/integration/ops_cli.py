"""Run the operations commands (`health`, `metrics`, `db migrate-sqlite-to-postgres`) as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def ops_argv(*args: str) -> list[str]:
    """Return the command line running the installed ``tg-parser *args``."""
    return [str(Path(sys.executable).with_name("tg-parser")), *args]


def ops_cli(
    *args: str, env: dict[str, str], cwd: Path, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``tg-parser *args`` and return the completed process."""
    return subprocess.run(
        ops_argv(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
