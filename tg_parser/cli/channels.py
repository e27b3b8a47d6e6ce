"""``tg-parser channels``: list, add (live or export, optionally scheduled), pause, resume, remove."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from rich.table import Table

from tg_parser.cli._common import (
    AsJson,
    OutDir,
    Username,
    console,
    ensure_schema,
    fail,
    load_cli_settings,
    parse_since_option,
    print_json,
)
from tg_parser.errors import InputError, TgParserError

app = typer.Typer(help="Channels: list what is known.", no_args_is_help=True)

ChannelKey = Annotated[str, typer.Argument(help="Channel key.")]


@app.command("list")
def channels_list(as_json: AsJson = False) -> None:
    """List channels with key, title, source and counts."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.channels import list_channels

    rows = list_channels(database_url=settings.database_url)
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
        return
    table = Table(title="channels")
    for col in ("key", "title", "source", "posts", "documents", "topics", "schedule", "last run"):
        table.add_column(col)
    for r in rows:
        schedule = (
            "-"
            if r.schedule_every_s is None
            else f"every {r.schedule_every_s}s" + (" (paused)" if r.paused else "")
        )
        table.add_row(
            r.key,
            r.title,
            r.source,
            str(r.posts),
            str(r.documents),
            str(r.topics),
            schedule,
            r.last_run_id or "-",
        )
    console.print(table)


@app.command("add")
def channels_add(
    source: Annotated[
        str,
        typer.Argument(help="@username, t.me link or id of a Telegram channel; or an export file/folder."),
    ],
    every: Annotated[str | None, typer.Option("--every", help="Run on a schedule, e.g. 15m, 1h, 1d.")] = None,
    username: Username = None,
    out: OutDir = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Live channels: first run backfills posts since (ISO date or 30d)."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Live channels: first run backfills at most this many posts."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="Live channels: read with this account (`auth login --account NAME`); default: spread.",
        ),
    ] = None,
) -> None:
    """Add a channel (live Telegram, or an export re-read on each run), optionally on a schedule.

    A numeric id starting with ``-`` goes after ``--``: ``tg-parser channels add -- -1001006503122``.
    """
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services import channels

    if every:
        try:
            channels.parse_schedule(every)
        except InputError as exc:
            raise typer.BadParameter(str(exc)) from exc
    since_at = parse_since_option(since)
    try:
        keys = channels.add_channel(
            database_url=settings.database_url,
            source=source,
            every=every,
            username=username,
            export_dir=str(out.resolve()) if out else None,
            since=since_at,
            limit=limit,
            account=account,
        )
    except TgParserError as exc:
        raise fail(exc) from exc
    for key in keys:
        when = f"every {every}" if every else "on demand (`tg-parser run` / `celery call`)"
        console.print(f"added {key}: runs {when}")


def _set_paused(channel: str, *, paused: bool) -> None:
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.channels import set_paused

    try:
        set_paused(database_url=settings.database_url, key=channel, paused=paused)
    except TgParserError as exc:
        raise fail(exc) from exc
    console.print(f"{channel}: {'paused' if paused else 'resumed'}")


@app.command("pause")
def channels_pause(channel: ChannelKey) -> None:
    """Stop scheduled runs of a channel."""
    _set_paused(channel, paused=True)


@app.command("resume")
def channels_resume(channel: ChannelKey) -> None:
    """Resume scheduled runs of a channel."""
    _set_paused(channel, paused=False)


@app.command("remove")
def channels_remove(
    channel: ChannelKey,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove a channel with its posts, documents, topics and runs."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.channels import remove_channel

    if not yes:
        typer.confirm(f"remove {channel} and everything stored for it?", abort=True)
    try:
        remove_channel(database_url=settings.database_url, key=channel)
    except TgParserError as exc:
        raise fail(exc) from exc
    console.print(f"{channel}: removed")
