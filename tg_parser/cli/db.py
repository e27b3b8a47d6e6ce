"""``tg-parser db``: the Alembic schema, and copying a SQLite database into PostgreSQL."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tg_parser.cli._common import DbUrl, console, fail, load_cli_settings, resolve_database_url, safe
from tg_parser.cli._common import err_unwrapped as err
from tg_parser.config import load_settings
from tg_parser.errors import ConfigurationError, TgParserError

if TYPE_CHECKING:
    from tg_parser.storage.copy import CopyReport

app = typer.Typer(help="Database schema (Alembic) commands.", no_args_is_help=True)


def _normalised_url(url: str) -> str:
    try:
        return load_settings(database_url=url).database_url
    except ConfigurationError as exc:
        raise fail(exc, code=2, console_=err) from exc


def _print_copy(report: CopyReport) -> None:
    table = Table(title=f"sqlite → postgres: {report.action}")
    for col in ("table", "rows", "sha256"):
        table.add_column(col)
    for t in report.tables:
        table.add_row(t.table, str(t.rows), t.sha256[:16])
    console.print(table)


@app.command("migrate-sqlite-to-postgres")
def migrate_sqlite_to_postgres(
    src_url: Annotated[str, typer.Argument(help="Source SQLite URL, e.g. sqlite:///./tg_parser.db.")],
    dst_url: Annotated[str, typer.Argument(help="Target PostgreSQL URL, e.g. postgresql://user@host/db.")],
    force: Annotated[bool, typer.Option("--force", help="Empty a non-empty target first.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per insert batch.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-table report as JSON.")] = False,
) -> None:
    """Copy every table from SQLite into PostgreSQL, keeping ids, then verify row counts and checksums.

    The target is migrated to head first; the source must be at head. A target
    that already holds an identical copy is left alone; any other non-empty
    target is refused unless --force (which empties it first). Stop workers
    writing to the source while copying.
    """
    load_cli_settings()
    src, dst = _normalised_url(src_url), _normalised_url(dst_url)
    if not src.startswith("sqlite"):
        err.print(f"[red]error:[/red] the source must be a SQLite URL (sqlite:///path), not {safe(src_url)}")
        raise typer.Exit(2)
    if not dst.startswith("postgresql"):
        err.print(f"[red]error:[/red] the target must be a PostgreSQL URL, not {safe(dst_url)}")
        raise typer.Exit(2)
    from tg_parser.storage.copy import copy_database

    err.print(f"copying {safe(src)} → {safe(dst)}")
    try:
        report = copy_database(source_url=src, target_url=dst, force=force, batch_size=batch_size)
    except TgParserError as exc:
        raise fail(exc, console_=err) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_copy(report)
    total = sum(t.rows for t in report.tables)
    if report.action == "unchanged":
        err.print(f"the target already holds an identical copy ({total} rows); nothing changed")
    else:
        err.print(f"copied {total} rows in {len(report.tables)} tables; row counts and checksums match")


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head", database_url: DbUrl = None) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    from tg_parser.storage import migrate

    url = resolve_database_url(database_url)
    migrate.upgrade(url, revision)
    console.print(f"database at {migrate.current_revision(url)}")


@app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or `base`.")], database_url: DbUrl = None
) -> None:
    """Downgrade the schema to REVISION (`base` removes every table)."""
    from tg_parser.storage import migrate

    url = resolve_database_url(database_url)
    migrate.downgrade(url, revision)
    console.print(f"database at {migrate.current_revision(url) or 'base'}")


@app.command("current")
def db_current(database_url: DbUrl = None) -> None:
    """Print the current revision and whether it is the newest."""
    from tg_parser.storage import migrate

    url = resolve_database_url(database_url)
    cur, head = migrate.current_revision(url), migrate.head_revision(url)
    console.print(f"{cur or 'base'}" + (" (head)" if cur == head else f" (head is {head})"))


@app.command("history")
def db_history(database_url: DbUrl = None) -> None:
    """List the migrations, newest first."""
    from tg_parser.storage import migrate

    for line in migrate.history(resolve_database_url(database_url)):
        console.print(line)


@app.command("stamp")
def db_stamp(revision: Annotated[str, typer.Argument()], database_url: DbUrl = None) -> None:
    """Record REVISION as current without running migrations."""
    from tg_parser.storage import migrate

    migrate.stamp(resolve_database_url(database_url), revision)
    console.print(f"stamped {revision}")
