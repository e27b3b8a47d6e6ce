"""``tg-parser dlq``: list dead letters and re-send them (in-process embedded, to the cluster otherwise)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tg_parser.cli._common import (
    AsJson,
    console,
    ensure_schema,
    fail,
    get_cli_launcher,
    load_cli_settings,
    print_json,
)
from tg_parser.errors import TgParserError

app = typer.Typer(help="Dead letters: work that gave up.", no_args_is_help=True)

MAX_ERROR_CHARS_SHOWN = 200
"""Longest error text in a `dlq list` row."""


@app.command("list")
def dlq_list(
    include_resolved: Annotated[bool, typer.Option("--all", help="Include replayed/resolved ones.")] = False,
    as_json: AsJson = False,
) -> None:
    """List dead letters, newest first."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.dead_letters import list_dead_letters

    letters = list_dead_letters(database_url=settings.database_url, include_resolved=include_resolved)
    if as_json:
        print_json(letters)
        return
    table = Table(title="dead letters")
    for col in ("id", "task", "run id", "args", "error", "attempts", "failed at"):
        table.add_column(col)
    for d in letters:
        table.add_row(
            str(d.id),
            d.task_name,
            d.run_id or "-",
            json.dumps(d.args, ensure_ascii=False),
            f"{d.error_type}: {d.error_message}"[:MAX_ERROR_CHARS_SHOWN],
            str(d.attempts),
            f"{d.failed_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@app.command("replay")
def dlq_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead-letter ids (see `dlq list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every unresolved dead letter.")] = False,
) -> None:
    """Re-send dead letters: in-process when embedded, to the cluster otherwise."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.dead_letters import replay_dead_letters

    if not ids and not all_:
        raise fail(ValueError("name dead-letter ids or pass --all"), code=2)
    launcher = get_cli_launcher(settings)
    try:
        done = replay_dead_letters(
            settings=settings,
            ids=None if all_ else list(ids or []),
            dispatcher=launcher.dispatcher(),
            start_run=launcher.start_run,
        )
    except TgParserError as exc:
        raise fail(exc) from exc
    launcher.flush()
    for r in done:
        console.print(f"dead letter {r.dead_letter_id} ({r.task_name}): {r.action}")
    if not done:
        console.print("no unresolved dead letters")
