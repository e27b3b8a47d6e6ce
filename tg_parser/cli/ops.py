"""Operations commands: ``health``, ``metrics serve|show`` and ``usage`` (LLM calls and cost)."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tg_parser.cli._common import (
    AsJson,
    console,
    ensure_schema,
    load_cli_settings,
    parse_since_option,
    print_json,
    safe,
)
from tg_parser.cli._common import err_unwrapped as err

if TYPE_CHECKING:
    from tg_parser.services.health import HealthReport

_STATUS_STYLE = {"ok": "green", "fail": "red", "skipped": "dim", "not checked": "yellow"}

metrics_app = typer.Typer(
    help="Prometheus metrics of the pipeline, read from the database.", no_args_is_help=True
)


# ------------------------------------------------------------------ health


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


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    llm: Annotated[bool, typer.Option("--llm", help="Also report the LLM provider.")] = False,
) -> None:
    """Check the database, broker, workers and queues, and Beat; exit 1 when anything required is unhealthy.

    Embedded mode (no CELERY_BROKER_URL) needs only the database.
    """
    settings = load_cli_settings()
    from tg_parser.services.health import deployment_report

    report = deployment_report(settings, include_llm=llm)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_health(report)
    if not report.healthy:
        raise typer.Exit(1)


# ------------------------------------------------------------------ metrics


@metrics_app.command("serve")
def metrics_serve(
    port: Annotated[int, typer.Option(help="TCP port of /metrics.")] = 9464,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 inside a container).")] = "127.0.0.1",
) -> None:
    """Serve /metrics for Prometheus; every scrape reads the database, so one exporter covers every worker."""
    settings = load_cli_settings()
    from tg_parser.services.metrics import start_exporter

    try:
        server, _thread = start_exporter(database_url=settings.database_url, host=host, port=port)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {safe(str(exc))}")
        raise typer.Exit(1) from exc
    err.print(f"serving metrics on http://{host}:{server.server_port}/metrics (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@metrics_app.command("show")
def metrics_show(as_json: AsJson = False) -> None:
    """Print the metrics once, in the Prometheus text format (or as JSON samples)."""
    settings = load_cli_settings()
    from prometheus_client import generate_latest

    from tg_parser.services.metrics import build_registry

    registry = build_registry(database_url=settings.database_url)
    if as_json:
        print_json(
            [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for metric in registry.collect()
                for s in metric.samples
            ]
        )
        return
    typer.echo(generate_latest(registry).decode(), nl=False)


# ------------------------------------------------------------------ usage

_USAGE_COLUMNS = (
    "channel",
    "provider",
    "model",
    "calls",
    "batch",
    "tokens in",
    "cached",
    "tokens out",
    "reasoning",
    "cost (USD)",
    "saved: batch",
    "saved: cache",
    "mean latency",
)
_LEFT_ALIGNED = {"channel", "provider", "model"}


def usage(
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel key.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date/time, or a period back: 7d, 12h.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """LLM calls, tokens (input, cached, output, reasoning), cost and savings per channel, provider and model.

    Cost uses each model's list price from the price table (tg_parser/llm/prices.json or
    LLM_PRICES_FILE) with cache-read/write prices and the batch discount applied; the
    "saved" columns are what the batch discount and the cache prices took off the list price.
    """
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.usage import usage_totals

    rows = usage_totals(database_url=settings.database_url, channel=channel, since=parse_since_option(since))
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
        return
    table = Table(title="LLM usage")
    for col in _USAGE_COLUMNS:
        table.add_column(col, justify="left" if col in _LEFT_ALIGNED else "right")
    for r in rows:
        table.add_row(
            r.channel or "-",
            r.provider,
            r.model,
            str(r.calls),
            str(r.batch_calls),
            f"{r.input_tokens:,}",
            f"{r.cached_input_tokens:,}",
            f"{r.output_tokens:,}",
            f"{r.reasoning_tokens:,}",
            f"{r.cost_usd:.4f}",
            f"{r.batch_savings_usd:.4f}",
            f"{r.cache_savings_usd:.4f}",
            f"{r.mean_latency_ms:.0f} ms",
        )
    if rows:
        table.add_row(
            "total",
            "",
            "",
            str(sum(r.calls for r in rows)),
            str(sum(r.batch_calls for r in rows)),
            f"{sum(r.input_tokens for r in rows):,}",
            f"{sum(r.cached_input_tokens for r in rows):,}",
            f"{sum(r.output_tokens for r in rows):,}",
            f"{sum(r.reasoning_tokens for r in rows):,}",
            f"{sum(r.cost_usd for r in rows):.4f}",
            f"{sum(r.batch_savings_usd for r in rows):.4f}",
            f"{sum(r.cache_savings_usd for r in rows):.4f}",
            "",
            style="bold",
        )
    console.print(table)
