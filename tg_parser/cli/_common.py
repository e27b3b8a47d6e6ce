"""What every command group shares: consoles, settings and logging, schema check, errors, progress bars."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tg_parser.config import Settings, get_settings, load_settings
from tg_parser.errors import ConfigurationError, InputError
from tg_parser.logging import redact

if TYPE_CHECKING:
    from tg_parser.services.launch import Launcher

console = Console()
"""Standard output: tables, summaries, JSON."""
err = Console(stderr=True)
"""Standard error: errors, warnings, progress bars."""
err_unwrapped = Console(stderr=True, soft_wrap=True)
"""Standard error without line wrapping (operations commands: URLs and checksums stay on one line)."""

ExportFile = Annotated[
    Path, typer.Option("--export-file", "-f", help="Telegram Desktop result.json (or a folder holding one).")
]
Username = Annotated[
    str | None,
    typer.Option("--username", "-u", help="Public @username of the chat, for t.me/<username>/<id> links."),
]
OutDir = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Export folder; files go to OUT/<channel key>/. [default: ./exports]"),
]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="Override DATABASE_URL.")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts (stable shape, docs/cli-json.md).")
]


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    msg = f"not JSON: {type(value).__name__}"
    raise TypeError(msg)


def print_json(data: object) -> None:
    """Print ``data`` as JSON on standard output for scripts (docs/cli-json.md).

    Plain text (no colours, no wrapping, whatever the terminal), indented by 2,
    non-ASCII kept; times as ISO 8601 with their offset (UTC, ``+00:00``).
    """
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_value))


def safe(text: str) -> str:
    """Mask secrets and escape rich markup in text shown to the user.

    Args:
        text: Any message (an exception's text, a URL).

    Returns:
        The text with secrets masked and ``[`` escaped for rich.
    """
    return escape(redact(text))


def fail(exc: Exception, code: int = 1, *, console_: Console | None = None) -> typer.Exit:
    """Print ``error: <exc>`` on standard error and return the exit to raise.

    Args:
        exc: What went wrong.
        code: Exit code (1: the work failed; 2: bad usage or configuration).
        console_: Where to print (default: :data:`err`).

    Returns:
        The :class:`typer.Exit` to raise (``raise fail(exc) from exc``).
    """
    (console_ or err).print(f"[red]error:[/red] {safe(str(exc))}")
    return typer.Exit(code)


def load_cli_settings() -> Settings:
    """Load the settings and configure logging (``LOG_LEVEL``, default ``WARNING``).

    Returns:
        The settings.

    Raises:
        typer.Exit: Code 2 when the settings are invalid (the message names the variable).
    """
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        raise fail(exc, code=2) from exc
    from tg_parser.logging import configure_logging

    configure_logging(
        log_format=settings.effective_log_format, log_level=os.environ.get("LOG_LEVEL", "WARNING")
    )
    return settings


def resolve_database_url(override: str | None) -> str:
    """Return the database URL of ``--database-url`` (normalised) or of the settings.

    Raises:
        ConfigurationError: ``override`` is no usable database URL (``main`` exits 2).
        typer.Exit: Code 2 when the settings are invalid.
    """
    if override:
        return load_settings(database_url=override).database_url
    return load_cli_settings().database_url


def ensure_schema(settings: Settings) -> None:
    """Migrate a SQLite database automatically; ask for ``db upgrade`` on PostgreSQL.

    Raises:
        typer.Exit: Code 2 when a PostgreSQL database is behind the newest schema.
    """
    from tg_parser.storage import migrate

    if migrate.is_at_head(settings.database_url):
        return
    if settings.database_url.startswith("sqlite"):
        migrate.upgrade(settings.database_url)
        return
    err.print(
        "[red]error:[/red] the database is not migrated to the newest schema; run `tg-parser db upgrade`."
    )
    raise typer.Exit(2)


def parse_since_option(text: str | None) -> datetime | None:
    """Parse a ``--since`` value (ISO date/time or a period back from now, ``7d``).

    Raises:
        typer.BadParameter: Neither form (exit 2, with the parser's message).
    """
    if not text:
        return None
    from tg_parser.domain.periods import parse_since

    try:
        return parse_since(text)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from exc


def progress_bar() -> Progress:
    """Return a progress display on standard error: description, bar, done/total, elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def get_cli_launcher(settings: Settings) -> Launcher:
    """Return where runs go (embedded, or the cluster with ``CELERY_BROKER_URL``).

    Raises:
        typer.Exit: Code 2 when a broker is configured but no cluster launcher is installed.
    """
    from tg_parser.services.launch import get_launcher

    try:
        return get_launcher(settings)
    except ConfigurationError as exc:
        raise fail(exc, code=2) from exc
