"""``tg-parser runs``: recent runs, and one run in detail (JSON)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tg_parser.cli._common import AsJson, console, ensure_schema, fail, load_cli_settings, print_json
from tg_parser.errors import TgParserError

app = typer.Typer(help="Runs: state, counts and timings.", no_args_is_help=True)


@app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20, as_json: AsJson = False
) -> None:
    """List recent runs, newest first."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.runs import list_runs

    views = list_runs(database_url=settings.database_url, limit=limit)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    table = Table(title="runs")
    for col in ("run id", "channel", "mode", "status", "items", "done", "failed", "started", "finished"):
        table.add_column(col)
    for view in views:
        run, counts = view.run, view.items
        table.add_row(
            run.id,
            run.channel_key,
            run.mode,
            view.status_text,
            str(counts.total),
            str(counts.done),
            str(counts.failed),
            f"{run.created_at:%Y-%m-%d %H:%M:%S}",
            f"{run.finished_at:%H:%M:%S}" if run.finished_at else "-",
        )
    console.print(table)


@app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (the Celery root id).")], as_json: AsJson = False
) -> None:
    """Show one run: state, counts, timings and failures (always JSON; --json prints it uncoloured)."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.runs import show_run

    try:
        view = show_run(database_url=settings.database_url, run_id=run_id)
    except TgParserError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(view.to_dict())
        return
    console.print_json(json.dumps(view.to_dict(), ensure_ascii=False))


@app.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument(help="Run id of an embedded run left in processing.")],
) -> None:
    """Continue an embedded run that was stopped while processing (picks up its provider batches).

    Batches already submitted to the provider are polled, not sent again; the
    CLI waits, showing the posts done, then topicizes and exports as ``run`` does.
    """
    settings = load_cli_settings()
    ensure_schema(settings)
    from rich.progress import Progress

    from tg_parser.services.embedded import resume_run_embedded
    from tg_parser.services.runs import show_run

    with Progress(console=console, transient=False) as bar:
        task = bar.add_task(f"{run_id}: processing", total=None)

        def on_progress(_run: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        try:
            resume_run_embedded(settings=settings, run_id=run_id, on_progress=on_progress)
        except TgParserError as exc:
            raise fail(exc) from exc
    view = show_run(database_url=settings.database_url, run_id=run_id)
    console.print(f"{run_id}: {view.status_text}")
