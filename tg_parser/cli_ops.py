"""Operations commands of ``tg-parser``: ``health``, ``metrics``, ``db migrate-sqlite-to-postgres``.

Registered in :mod:`tg_parser.cli`::

    app.command("health")(health_command)
    app.add_typer(metrics_app, name="metrics")
    db_app.command("migrate-sqlite-to-postgres")(migrate_sqlite_to_postgres_command)
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tg_parser.config import Settings, get_settings, load_settings
from tg_parser.errors import ConfigurationError, TgParserError
from tg_parser.logging import redact

if TYPE_CHECKING:
    from tg_parser.services.health import ClusterProbe, HealthReport
    from tg_parser.storage.copy import CopyReport

console = Console()
err = Console(stderr=True, soft_wrap=True)

_STATUS_STYLE = {"ok": "green", "fail": "red", "skipped": "dim", "not checked": "yellow"}


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {_safe(str(exc))}")
        raise typer.Exit(2) from exc
    from tg_parser.logging import configure_logging

    level = os.environ.get("LOG_LEVEL", "WARNING")
    configure_logging(log_format=settings.effective_log_format, log_level=level)
    return settings


# ------------------------------------------------------------------ health


def _cluster_probe(settings: Settings) -> ClusterProbe:
    from tasks.health import CeleryClusterProbe

    return CeleryClusterProbe(broker_url=settings.celery_broker_url or "")


def _print_health(report: HealthReport) -> None:
    table = Table(title=f"tg-parser health ({report.mode})")
    for col in ("component", "status", "detail"):
        table.add_column(col)
    for c in report.components:
        style = _STATUS_STYLE.get(c.status, "")
        status = f"[{style}]{c.status}[/{style}]" if style else c.status
        table.add_row(c.component, status, escape(c.detail) + ("" if c.required else " (optional)"))
    console.print(table)
    if report.healthy:
        console.print("[green]healthy[/green]")
    else:
        names = ", ".join(c.component for c in report.problems)
        err.print(f"[red]unhealthy:[/red] {names}")


def health_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    llm: Annotated[bool, typer.Option("--llm", help="Also report the LLM provider.")] = False,
) -> None:
    """Check the database, broker, workers and queues, and Beat; exit 1 when anything required is unhealthy.

    Embedded mode (no CELERY_BROKER_URL) needs only the database.
    """
    settings = _settings()
    from tg_parser.services.health import build_report

    report = build_report(
        settings,
        probe_factory=None if settings.embedded else (lambda: _cluster_probe(settings)),
        include_llm=llm,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_health(report)
    if not report.healthy:
        raise typer.Exit(1)


# ------------------------------------------------------------------ metrics


metrics_app = typer.Typer(
    help="Prometheus metrics of the pipeline, read from the database.", no_args_is_help=True
)


@metrics_app.command("serve")
def metrics_serve(
    port: Annotated[int, typer.Option(help="TCP port of /metrics.")] = 9464,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 inside a container).")] = "127.0.0.1",
) -> None:
    """Serve /metrics for Prometheus; every scrape reads the database, so one exporter covers every worker."""
    settings = _settings()
    from tg_parser.services.metrics import start_exporter

    try:
        server, _thread = start_exporter(database_url=settings.database_url, host=host, port=port)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {_safe(str(exc))}")
        raise typer.Exit(1) from exc
    err.print(f"serving metrics on http://{host}:{server.server_port}/metrics (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@metrics_app.command("show")
def metrics_show() -> None:
    """Print the metrics once, in the Prometheus text format."""
    settings = _settings()
    from prometheus_client import generate_latest

    from tg_parser.services.metrics import build_registry

    typer.echo(generate_latest(build_registry(database_url=settings.database_url)).decode(), nl=False)


# ------------------------------------------------------------------ db migrate-sqlite-to-postgres


def _safe(text: str) -> str:
    """Mask secrets and escape rich markup in text shown to the user."""
    return escape(redact(text))


def _normalised_url(url: str) -> str:
    try:
        return load_settings(database_url=url).database_url
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {_safe(str(exc))}")
        raise typer.Exit(2) from exc


def _print_copy(report: CopyReport) -> None:
    table = Table(title=f"sqlite → postgres: {report.action}")
    for col in ("table", "rows", "sha256"):
        table.add_column(col)
    for t in report.tables:
        table.add_row(t.table, str(t.rows), t.sha256[:16])
    console.print(table)


def migrate_sqlite_to_postgres_command(
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
    _settings()
    src, dst = _normalised_url(src_url), _normalised_url(dst_url)
    if not src.startswith("sqlite"):
        err.print(f"[red]error:[/red] the source must be a SQLite URL (sqlite:///path), not {_safe(src_url)}")
        raise typer.Exit(2)
    if not dst.startswith("postgresql"):
        err.print(f"[red]error:[/red] the target must be a PostgreSQL URL, not {_safe(dst_url)}")
        raise typer.Exit(2)
    from tg_parser.storage.copy import copy_database

    err.print(f"copying {_safe(src)} → {_safe(dst)}")
    try:
        report = copy_database(source_url=src, target_url=dst, force=force, batch_size=batch_size)
    except TgParserError as exc:
        err.print(f"[red]error:[/red] {_safe(str(exc))}")
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_copy(report)
    total = sum(t.rows for t in report.tables)
    if report.action == "unchanged":
        err.print(f"the target already holds an identical copy ({total} rows); nothing changed")
    else:
        err.print(f"copied {total} rows in {len(report.tables)} tables; row counts and checksums match")
