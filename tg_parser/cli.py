"""``tg-parser``: the command line (Typer + rich).

Embedded by default (SQLite, tasks in-process); with ``CELERY_BROKER_URL`` set,
``run`` dispatches to the Celery cluster and follows the run in the database.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tg_parser.config import Settings, get_settings
from tg_parser.errors import ConfigurationError, TgParserError

app = typer.Typer(
    help="Turn Telegram channels into structured, topic-grouped documents for RAG.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema (Alembic) commands.", no_args_is_help=True)
channels_app = typer.Typer(help="Channels: list what is known.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs: state, counts and timings.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: work that gave up.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(channels_app, name="channels")
app.add_typer(runs_app, name="runs")
auth_app = typer.Typer(help="Telegram account sessions for live channels.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(auth_app, name="auth")


def _register_ops_commands() -> None:
    from tg_parser.cli_ops import (
        health_command,
        metrics_app,
        migrate_sqlite_to_postgres_command,
    )

    app.command("health")(health_command)
    app.add_typer(metrics_app, name="metrics")
    db_app.command("migrate-sqlite-to-postgres")(migrate_sqlite_to_postgres_command)


_register_ops_commands()

MAX_ERRORS_SHOWN = 10
"""Input errors printed after a run; the rest are in `tg-parser dlq list`."""
MIN_SCHEDULE_S = 60
"""Beat ticks once a minute, so no schedule is shorter."""

console = Console()
err = Console(stderr=True)

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


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    from tg_parser.logging import configure_logging

    configure_logging(
        log_format=settings.effective_log_format, log_level=os.environ.get("LOG_LEVEL", "WARNING")
    )
    return settings


def _ensure_schema(settings: Settings) -> None:
    """Migrate a SQLite database automatically; ask for ``db upgrade`` on PostgreSQL."""
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


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code)


@app.callback()
def _root() -> None:
    """tg-parser: Telegram channels → documents → topics → NDJSON/JSON exports."""


# ------------------------------------------------------------------ run


@app.command()
def run(
    export_file: Annotated[
        Path | None,
        typer.Option("--export-file", "-f", help="Telegram Desktop result.json (or a folder holding one)."),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel", "-c", help="Re-run a known channel by key (repeatable; see `channels list`)."
        ),
    ] = None,
    username: Username = None,
    out: OutDir = None,
    timeout_s: Annotated[
        float, typer.Option(help="Cluster mode: give up waiting after this many seconds.")
    ] = 3600,
    correlation_id: Annotated[
        str | None, typer.Option(help="Id carried by every log line of this run (default: a new one).")
    ] = None,
) -> None:
    """Run the whole pipeline (ingest → process → topicize → export) for every chat in an export.

    With ``--channel`` instead, re-run known channels from their recorded
    source (an export file, or a live channel added with `channels add`).
    """
    settings = _settings()
    from tg_parser.logging import bind_context

    cid = correlation_id or uuid.uuid4().hex[:16]
    bind_context(correlation_id=cid)
    _ensure_schema(settings)
    from tg_parser.services import pipeline

    out_dir = str(out.resolve()) if out else None
    if (export_file is None) == (not channel):
        raise _fail(ValueError("give either --export-file or --channel"), code=2)
    try:
        if export_file is not None:
            keys = [
                c.key
                for c in pipeline.register_export(
                    database_url=settings.database_url,
                    path=export_file,
                    username=username,
                    export_dir=out_dir,
                )
            ]
        else:
            keys = list(channel or [])
            _check_channels(settings, keys)
    except TgParserError as exc:
        raise _fail(exc) from exc
    if settings.embedded:
        ok = _run_embedded(settings, keys, out_dir)
    else:
        ok = _run_cluster(settings, keys, out_dir, timeout_s, cid)
    if not ok:
        raise typer.Exit(1)


def _check_channels(settings: Settings, keys: list[str]) -> None:
    """Raise NotFoundError for a key that names no channel."""
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    with session_scope(settings.database_url) as session:
        for key in keys:
            repo.get_channel(session, key=key)


def _run_embedded(settings: Settings, keys: list[str], out_dir: str | None) -> bool:
    from tg_parser.services.embedded import run_channel_embedded

    run_ids: list[str] = []
    ok = True
    with _progress() as progress:
        for key in keys:
            task = progress.add_task(f"{key}: reading export", total=None)

            def on_ingested(_run_id: str, total: int, task: Any = task, key: str = key) -> None:
                progress.update(task, description=f"{key}: processing posts", total=total, completed=0)

            def on_progress(_run_id: str, done: int, total: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=total)

            try:
                result = run_channel_embedded(
                    settings=settings,
                    channel=key,
                    export_dir=out_dir,
                    on_ingested=on_ingested,
                    on_progress=on_progress,
                )
                run_ids.append(result.run_id)
                for line in result.ingest.errors[:MAX_ERRORS_SHOWN]:
                    err.print(f"[yellow]warning:[/yellow] {line}")
                if len(result.ingest.errors) > MAX_ERRORS_SHOWN:
                    err.print(
                        f"[yellow]warning:[/yellow] … and "
                        f"{len(result.ingest.errors) - MAX_ERRORS_SHOWN} more input errors"
                    )
            except TgParserError as exc:
                err.print(f"[red]error:[/red] {key}: {exc}")
                ok = False
            progress.update(task, description=f"{key}: done")
    return _summarise(settings, run_ids) and ok


def _run_cluster(
    settings: Settings, keys: list[str], out_dir: str | None, timeout_s: float, correlation_id: str
) -> bool:
    from tasks.app import app as celery_app

    run_ids = []
    for key in keys:
        result = celery_app.send_task(
            "tg_parser.run_pipeline",
            args=[key],
            kwargs={"export_dir": out_dir},
            headers={"tg_correlation_id": correlation_id},
        )
        run_ids.append(result.id)
        err.print(f"dispatched run {result.id} of {key} to the cluster (correlation id {correlation_id})")
    ok = _follow_runs(settings, run_ids, timeout_s)
    return _summarise(settings, run_ids) and ok


def _follow_runs(settings: Settings, run_ids: list[str], timeout_s: float) -> bool:
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    deadline = time.monotonic() + timeout_s
    terminal = {"succeeded", "failed"}
    with _progress() as progress:
        bars = {rid: progress.add_task(f"{rid[:8]}: waiting", total=None) for rid in run_ids}
        while True:
            states = {}
            for rid in run_ids:
                with session_scope(settings.database_url) as session:
                    try:
                        run = repo.get_run(session, run_id=rid)
                    except TgParserError:
                        states[rid] = "queued"
                        continue
                    counts = repo.run_counts(session, run_id=rid)
                    ch_key = run.channel_id
                    states[rid] = run.status
                    progress.update(
                        bars[rid],
                        description=f"{rid[:8]} (channel #{ch_key}): {run.status}",
                        total=counts.total or None,
                        completed=counts.done + counts.failed,
                    )
            if all(s in terminal for s in states.values()):
                return all(s == "succeeded" for s in states.values())
            if time.monotonic() > deadline:
                err.print(
                    f"[red]error:[/red] gave up waiting after {timeout_s:.0f} s; runs go on in the cluster"
                )
                return False
            time.sleep(0.5)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def _summarise(settings: Settings, run_ids: list[str]) -> bool:
    """Print one block per run (posts read, processed, failed, topics, output) and return overall success."""
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope
    from tg_parser.storage.tables import ChannelRow

    ok = True
    with session_scope(settings.database_url) as session:
        for rid in run_ids:
            run = repo.get_run(session, run_id=rid)
            ch = session.get(ChannelRow, run.channel_id)
            counts = repo.run_counts(session, run_id=rid)
            key = ch.key if ch else "?"
            ok = ok and run.status == "succeeded"
            colour = "green" if run.status == "succeeded" else "red"
            table = Table(show_header=False, box=None, pad_edge=False)
            table.add_column(style="bold")
            table.add_column()
            table.add_row("channel", f"{key}  ({ch.title if ch else ''})")
            table.add_row("run", f"{rid}  [{colour}]{run.status}[/{colour}]")
            table.add_row(
                "posts read", f"{run.posts_read}  ({run.posts_new} new, {run.posts_changed} changed)"
            )
            table.add_row("processed", f"{counts.done} of {counts.total} due  (failed: {counts.failed})")
            table.add_row("input errors", str(run.input_errors))
            table.add_row("topics", str(run.topics if run.topics is not None else "-"))
            if run.status == "succeeded":
                out = Path(run.export_dir or settings.export_dir) / key
                table.add_row("output", f"{out / 'documents.ndjson'}\n{out / 'topics.json'}")
            elif run.error:
                table.add_row("error", run.error)
            if counts.failed or run.input_errors:
                table.add_row("dead letters", "see `tg-parser dlq list`")
            console.print(table)
            console.print()
    return ok


# ------------------------------------------------------------------ single steps


@app.command("import")
def import_(export_file: ExportFile, username: Username = None, out: OutDir = None) -> None:
    """Import an export into the database (no processing)."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.services import pipeline
    from tg_parser.services.processors import get_processor

    try:
        channels = pipeline.register_export(
            database_url=settings.database_url,
            path=export_file,
            username=username,
            export_dir=str(out) if out else None,
        )
        for ch in channels:
            report = pipeline.ingest_channel(
                settings=settings,
                channel=ch.key,
                run_id=None,
                processor=get_processor(settings),
                dispatcher=None,
            )
            console.print(
                f"{ch.key}: {report.posts_read} posts read, {report.new} new, {report.changed} changed, "
                f"{report.input_errors} input errors"
            )
            for line in report.errors[:10]:
                err.print(f"[yellow]warning:[/yellow] {line}")
    except TgParserError as exc:
        raise _fail(exc) from exc


@app.command()
def process(channel: Annotated[str, typer.Argument(help="Channel key (see `channels list`).")]) -> None:
    """Process the channel's posts that have no current document (in-process)."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.services import pipeline
    from tg_parser.services.processors import get_processor

    processor = get_processor(settings)
    try:
        pks = pipeline.stale_posts(settings=settings, channel=channel, processor=processor)
    except TgParserError as exc:
        raise _fail(exc) from exc
    failed = 0
    with _progress() as progress:
        task = progress.add_task(f"{channel}: processing", total=len(pks))
        for pk in pks:
            try:
                pipeline.process_message(
                    settings=settings, run_id=None, message_pk=pk, processor=processor, dispatcher=None
                )
            except Exception as exc:  # noqa: BLE001 - one bad post never sinks the command
                failed += 1
                pipeline.record_failure(
                    settings=settings, run_id=None, message_pk=pk, error=exc, attempts=1, dispatcher=None
                )
            progress.advance(task)
    console.print(f"{channel}: {len(pks) - failed} processed, {failed} failed")


@app.command()
def topicize(channel: Annotated[str, typer.Argument(help="Channel key.")]) -> None:
    """Group the channel's documents into topics."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.services import pipeline

    try:
        n = pipeline.topicize_channel(settings=settings, channel=channel, run_id=None, dispatcher=None)
    except TgParserError as exc:
        raise _fail(exc) from exc
    console.print(f"{channel}: {n} topics")


@app.command()
def export(channel: Annotated[str, typer.Argument(help="Channel key.")], out: OutDir = None) -> None:
    """Write the channel's documents.ndjson and topics.json."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.services import pipeline

    try:
        result = pipeline.export_channel(
            settings=settings, channel=channel, run_id=None, export_dir=str(out) if out else None
        )
    except TgParserError as exc:
        raise _fail(exc) from exc
    assert result is not None  # noqa: S101 - no run: never skipped
    console.print(f"{channel}: {result.documents} documents → {result.documents_path}")
    console.print(f"{channel}: {result.topics} topics → {result.topics_path}")


# ------------------------------------------------------------------ channels


@channels_app.command("list")
def channels_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List channels with key, title, source and counts."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    with session_scope(settings.database_url) as session:
        rows = repo.list_channels(session)
    if as_json:
        console.print_json(json.dumps([r.__dict__ for r in rows], ensure_ascii=False))
        return
    table = Table(title="channels")
    for col in ("key", "title", "source", "posts", "documents", "topics", "schedule", "last run"):
        table.add_column(col)
    for r in rows:
        source = r.source
        if r.source_kind == "telegram":
            from tg_parser.services.sources import TelegramSourceRef

            source = f"telegram {TelegramSourceRef.from_json(r.source).reference}"
        if r.source_kind == "export":
            data = json.loads(r.source)
            source = f"export {data['path']} (chat {data['chat_id']})"
        schedule = (
            "-"
            if r.schedule_every_s is None
            else f"every {r.schedule_every_s}s" + (" (paused)" if r.paused else "")
        )
        table.add_row(
            r.key,
            r.title,
            source,
            str(r.posts),
            str(r.documents),
            str(r.topics),
            schedule,
            r.last_run_id or "-",
        )
    console.print(table)


def parse_every(text: str) -> int:
    """Parse a schedule period like ``15m``, ``1h``, ``90s`` or ``1d`` into seconds.

    Raises:
        typer.BadParameter: Not a period, or shorter than one minute (Beat ticks every minute).
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    try:
        seconds = int(float(value[:-1]) * units[value[-1]]) if value and value[-1] in units else int(value)
    except (ValueError, KeyError) as exc:
        msg = f"{text!r} is not a period like 15m, 1h, 90s or 1d"
        raise typer.BadParameter(msg) from exc
    if seconds < MIN_SCHEDULE_S:
        msg = "the shortest schedule is 1m (Beat ticks once a minute)"
        raise typer.BadParameter(msg)
    return seconds


@channels_app.command("add")
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
) -> None:
    """Add a channel (live Telegram, or an export re-read on each run), optionally on a schedule.

    A numeric id starting with ``-`` goes after ``--``: ``tg-parser channels add -- -1001006503122``.
    """
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.services import pipeline
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    every_s = parse_every(every) if every else None
    out_dir = str(out.resolve()) if out else None
    try:
        if Path(source).exists():
            keys = [
                c.key
                for c in pipeline.register_export(
                    database_url=settings.database_url, path=source, username=username, export_dir=out_dir
                )
            ]
        else:
            keys = [
                pipeline.register_telegram(
                    database_url=settings.database_url,
                    reference=source,
                    export_dir=out_dir,
                    since=parse_since(since) if since else None,
                    limit=limit,
                )
            ]
    except TgParserError as exc:
        raise _fail(exc) from exc
    with session_scope(settings.database_url) as session:
        for key in keys:
            repo.set_schedule(session, key=key, every_s=every_s)
    for key in keys:
        when = f"every {every}" if every else "on demand (`tg-parser run` / `celery call`)"
        console.print(f"added {key}: runs {when}")


def _set_paused(channel: str, *, paused: bool) -> None:
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    with session_scope(settings.database_url) as session:
        try:
            repo.set_paused(session, key=channel, paused=paused)
        except TgParserError as exc:
            raise _fail(exc) from exc
    console.print(f"{channel}: {'paused' if paused else 'resumed'}")


@channels_app.command("pause")
def channels_pause(channel: Annotated[str, typer.Argument(help="Channel key.")]) -> None:
    """Stop scheduled runs of a channel."""
    _set_paused(channel, paused=True)


@channels_app.command("resume")
def channels_resume(channel: Annotated[str, typer.Argument(help="Channel key.")]) -> None:
    """Resume scheduled runs of a channel."""
    _set_paused(channel, paused=False)


@channels_app.command("remove")
def channels_remove(
    channel: Annotated[str, typer.Argument(help="Channel key.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove a channel with its posts, documents, topics and runs."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    if not yes:
        typer.confirm(f"remove {channel} and everything stored for it?", abort=True)
    with session_scope(settings.database_url) as session:
        try:
            repo.remove_channel(session, key=channel)
        except TgParserError as exc:
            raise _fail(exc) from exc
    console.print(f"{channel}: removed")


def parse_since(text: str) -> datetime:
    """Parse ``--since``: an ISO date/time (UTC when no zone) or a period back from now (``7d``, ``12h``).

    Raises:
        typer.BadParameter: Neither form.
    """
    value = text.strip()
    if value and value[-1].lower() in "smhd" and value[:-1].replace(".", "", 1).isdigit():
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return datetime.now(UTC) - timedelta(seconds=float(value[:-1]) * units[value[-1].lower()])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        msg = f"{text!r} is neither an ISO date/time nor a period like 7d"
        raise typer.BadParameter(msg) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def usage(
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel key.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date/time, or a period back: 7d, 12h.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """LLM calls, tokens, latency and estimated cost per channel, provider and model."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    with session_scope(settings.database_url) as session:
        rows = repo.usage_totals(session, channel_key=channel, since=parse_since(since) if since else None)
    if as_json:
        console.print_json(json.dumps([r.__dict__ for r in rows]))
        return
    table = Table(title="LLM usage")
    for col in (
        "channel",
        "provider",
        "model",
        "calls",
        "tokens in",
        "tokens out",
        "cost (USD)",
        "mean latency",
    ):
        table.add_column(col, justify="right" if col not in ("channel", "provider", "model") else "left")
    for r in rows:
        table.add_row(
            r.channel or "-",
            r.provider,
            r.model,
            str(r.calls),
            f"{r.input_tokens:,}",
            f"{r.output_tokens:,}",
            f"{r.cost_usd:.4f}",
            f"{r.mean_latency_ms:.0f} ms",
        )
    if rows:
        table.add_row(
            "total",
            "",
            "",
            str(sum(r.calls for r in rows)),
            f"{sum(r.input_tokens for r in rows):,}",
            f"{sum(r.output_tokens for r in rows):,}",
            f"{sum(r.cost_usd for r in rows):.4f}",
            "",
            style="bold",
        )
    console.print(table)


# ------------------------------------------------------------------ runs and dead letters


@runs_app.command("list")
def runs_list(limit: Annotated[int, typer.Option(help="How many runs.")] = 20) -> None:
    """List recent runs, newest first."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope
    from tg_parser.storage.tables import ChannelRow

    table = Table(title="runs")
    for col in ("run id", "channel", "mode", "status", "items", "done", "failed", "started", "finished"):
        table.add_column(col)
    with session_scope(settings.database_url) as session:
        for run in repo.list_runs(session, limit=limit):
            ch = session.get(ChannelRow, run.channel_id)
            c = repo.run_counts(session, run_id=run.id)
            table.add_row(
                run.id,
                ch.key if ch else "?",
                run.mode,
                run.status,
                str(c.total),
                str(c.done),
                str(c.failed),
                f"{run.created_at:%Y-%m-%d %H:%M:%S}",
                f"{run.finished_at:%H:%M:%S}" if run.finished_at else "-",
            )
    console.print(table)


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="Run id (the Celery root id).")]) -> None:
    """Show one run: state, counts, timings and failures."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    with session_scope(settings.database_url) as session:
        try:
            run = repo.get_run(session, run_id=run_id)
        except TgParserError as exc:
            raise _fail(exc) from exc
        c = repo.run_counts(session, run_id=run_id)
        data: dict[str, Any] = {
            "run_id": run.id,
            "status": run.status,
            "mode": run.mode,
            "posts_read": run.posts_read,
            "posts_new": run.posts_new,
            "posts_changed": run.posts_changed,
            "input_errors": run.input_errors,
            "items": {"total": c.total, "pending": c.pending, "done": c.done, "failed": c.failed},
            "topics": run.topics,
            "export_dir": run.export_dir,
            "error": run.error,
            "created_at": str(run.created_at),
            "ingested_at": str(run.ingested_at),
            "processed_at": str(run.processed_at),
            "topicized_at": str(run.topicized_at),
            "finished_at": str(run.finished_at),
            "failures": [
                {"task": d.task_name, "args": d.args, "error": f"{d.error_type}: {d.error_message}"}
                for d in repo.list_dead_letters(session, include_resolved=True, limit=1000)
                if d.run_id == run_id
            ],
        }
    console.print_json(json.dumps(data, ensure_ascii=False))


@dlq_app.command("list")
def dlq_list(
    include_resolved: Annotated[bool, typer.Option("--all", help="Include replayed/resolved ones.")] = False,
) -> None:
    """List dead letters, newest first."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.storage import repositories as repo
    from tg_parser.storage.session import session_scope

    table = Table(title="dead letters")
    for col in ("id", "task", "run id", "args", "error", "attempts", "failed at"):
        table.add_column(col)
    with session_scope(settings.database_url) as session:
        for d in repo.list_dead_letters(session, include_resolved=include_resolved):
            table.add_row(
                str(d.id),
                d.task_name,
                d.run_id or "-",
                json.dumps(d.args, ensure_ascii=False),
                f"{d.error_type}: {d.error_message}"[:200],
                str(d.attempts),
                f"{d.failed_at:%Y-%m-%d %H:%M:%S}",
            )
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead-letter ids (see `dlq list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every unresolved dead letter.")] = False,
) -> None:
    """Re-send dead letters: in-process when embedded, to the cluster otherwise."""
    settings = _settings()
    _ensure_schema(settings)
    from tg_parser.services.deadletters import replay_dead_letters

    if not ids and not all_:
        raise _fail(ValueError("name dead-letter ids or pass --all"), code=2)
    if settings.embedded:
        from tg_parser.services.embedded import inline_dispatcher, run_channel_embedded

        dispatcher: Any = inline_dispatcher(settings=settings)

        def start_run(key: str) -> str:
            return run_channel_embedded(settings=settings, channel=key).run_id
    else:
        from tasks.app import app as celery_app
        from tasks.dispatch import CeleryDispatcher

        dispatcher = CeleryDispatcher()

        def start_run(key: str) -> str:
            return str(celery_app.send_task("tg_parser.run_pipeline", args=[key]).id)

    try:
        done = replay_dead_letters(
            settings=settings,
            ids=None if all_ else list(ids or []),
            dispatcher=dispatcher,
            start_run=start_run,
        )
    except TgParserError as exc:
        raise _fail(exc) from exc
    if settings.embedded:
        dispatcher.drain()
    for r in done:
        console.print(f"dead letter {r.dead_letter_id} ({r.task_name}): {r.action}")
    if not done:
        console.print("no unresolved dead letters")


@auth_app.command("login")
def auth_login(
    string_session: Annotated[
        bool,
        typer.Option(
            "--string-session", help="Print a StringSession for TELEGRAM_SESSION instead of a file."
        ),
    ] = False,
    session_file: Annotated[
        Path | None,
        typer.Option(help="Session file (default TELEGRAM_SESSION_FILE, ~/.tg_parser/telegram.session)."),
    ] = None,
) -> None:
    """Log a Telegram user account in (api id and hash, phone, code, 2FA password); writes a 0600 session."""
    _settings()
    from tg_parser.sources.telegram_session import login
    from tg_parser.sources.telegram_settings import load_telegram_settings

    try:
        tg = load_telegram_settings()
    except ConfigurationError as exc:
        raise _fail(exc, code=2) from exc
    api_id = tg.api_id or typer.prompt("api id (my.telegram.org)", type=int)
    api_hash = tg.api_hash or typer.prompt("api hash", hide_input=True)
    phone = tg.phone or typer.prompt("phone number (international format)", hide_input=True)
    try:
        result = login(
            api_id=api_id,
            api_hash=api_hash,
            phone=phone,
            code_callback=lambda: typer.prompt("login code Telegram sent you"),
            password_callback=lambda: typer.prompt("two-step verification password", hide_input=True),
            session_file=session_file or tg.session_file,
            string_session=string_session,
        )
    except TgParserError as exc:
        raise _fail(exc) from exc
    console.print(f"logged in as {result.account}")
    if result.session_file is not None:
        console.print(f"session saved to {result.session_file} (mode 0600)")
    if result.session_string is not None:
        err.print("TELEGRAM_SESSION (keep it secret; put it in your .env):")
        print(result.session_string.get_secret_value())  # noqa: T201 - the user asked for it


# ------------------------------------------------------------------ db


DbUrl = Annotated[str | None, typer.Option("--database-url", help="Override DATABASE_URL.")]


def _db_url(url: str | None) -> str:
    if url:
        from tg_parser.config import load_settings

        return load_settings(database_url=url).database_url
    return _settings().database_url


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head", database_url: DbUrl = None) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    from tg_parser.storage import migrate

    url = _db_url(database_url)
    migrate.upgrade(url, revision)
    console.print(f"database at {migrate.current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, or `base`.")], database_url: DbUrl = None
) -> None:
    """Downgrade the schema to REVISION (`base` removes every table)."""
    from tg_parser.storage import migrate

    url = _db_url(database_url)
    migrate.downgrade(url, revision)
    console.print(f"database at {migrate.current_revision(url) or 'base'}")


@db_app.command("current")
def db_current(database_url: DbUrl = None) -> None:
    """Print the current revision and whether it is the newest."""
    from tg_parser.storage import migrate

    url = _db_url(database_url)
    cur, head = migrate.current_revision(url), migrate.head_revision(url)
    console.print(f"{cur or 'base'}" + (" (head)" if cur == head else f" (head is {head})"))


@db_app.command("history")
def db_history(database_url: DbUrl = None) -> None:
    """List the migrations, newest first."""
    from tg_parser.storage import migrate

    for line in migrate.history(_db_url(database_url)):
        console.print(line)


@db_app.command("stamp")
def db_stamp(revision: Annotated[str, typer.Argument()], database_url: DbUrl = None) -> None:
    """Record REVISION as current without running migrations."""
    from tg_parser.storage import migrate

    migrate.stamp(_db_url(database_url), revision)
    console.print(f"stamped {revision}")


def main() -> None:
    """Entry point of the ``tg-parser`` script."""
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
