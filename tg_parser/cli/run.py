"""``tg-parser run`` (the whole pipeline) and the single steps: import, process, topicize, export.

``run`` goes through the launcher: embedded it executes here behind a progress
bar; on the cluster it queues the runs and follows them in the database.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tg_parser.cli._common import (
    ExportFile,
    OutDir,
    Username,
    console,
    ensure_schema,
    err,
    fail,
    get_cli_launcher,
    load_cli_settings,
    progress_bar,
    safe,
)
from tg_parser.config import Settings
from tg_parser.errors import TgParserError
from tg_parser.services.launch import Launcher

MAX_ERRORS_SHOWN = 10
"""Input errors printed after a run; the rest are in `tg-parser dlq list`."""
POLL_INTERVAL_S = 0.5
"""How often a cluster run's state is read while following it."""


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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only estimate the LLM tokens and cost of the export's runs, synchronous against batch; "
            "nothing is called or written.",
        ),
    ] = False,
) -> None:
    """Run the whole pipeline (ingest → process → topicize → export) for every chat in an export.

    With ``--channel`` instead, re-run known channels from their recorded
    source (an export file, or a live channel added with `channels add`).

    A damaged message is dead-lettered and reading resumes at the next one.
    Exit codes: 0 every run succeeded; 1 a run failed; 2 bad usage; 3 every
    run succeeded but one is *partial*: it skipped a stretch of its export it
    could not read message by message (a truncated file, several messages
    damaged together); `runs show RUN_ID` lists the unread byte ranges.
    """
    settings = load_cli_settings()
    if dry_run:
        if export_file is None:
            raise fail(ValueError("--dry-run needs --export-file"), code=2)
        _dry_run(settings, export_file)
        return
    from tg_parser.logging import bind_context
    from tg_parser.services import channels

    cid = correlation_id or uuid.uuid4().hex[:16]
    bind_context(correlation_id=cid)
    ensure_schema(settings)
    out_dir = str(out.resolve()) if out else None
    if (export_file is None) == (not channel):
        raise fail(ValueError("give either --export-file or --channel"), code=2)
    try:
        if export_file is not None:
            registered = channels.register_export(
                database_url=settings.database_url, path=export_file, username=username, export_dir=out_dir
            )
            keys = [c.key for c in registered]
        else:
            keys = channels.resolve_channel_keys(database_url=settings.database_url, references=channel or [])
    except TgParserError as exc:
        raise fail(exc) from exc
    launcher = get_cli_launcher(settings)
    run_ids: list[str] = []
    if launcher.mode == "embedded":
        ok = _run_embedded(settings, launcher, keys=keys, out_dir=out_dir, run_ids=run_ids)
    else:
        ok = _run_cluster(
            settings, launcher, keys=keys, out_dir=out_dir, timeout_s=timeout_s, cid=cid, run_ids=run_ids
        )
    if not ok:
        raise typer.Exit(1)
    if _any_partial(settings, run_ids):
        raise typer.Exit(EXIT_PARTIAL)


def _dry_run(settings: Settings, export_file: Path) -> None:
    """Print the estimate of :func:`tg_parser.services.dry_run.estimate_export`."""
    from rich.table import Table

    from tg_parser.services.dry_run import estimate_export

    try:
        estimates = estimate_export(settings=settings, path=export_file)
    except TgParserError as exc:
        raise fail(exc) from exc

    def usd(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    table = Table(title="dry run: estimated LLM spend (no call made)")
    for col in (
        "chat",
        "posts",
        "provider/model",
        "tokens in",
        "tokens out",
        "sync (USD)",
        "batch (USD)",
        "mode",
    ):
        table.add_column(col, justify="left" if col in {"chat", "provider/model", "mode"} else "right")
    for e in estimates:
        table.add_row(
            f"{e.title} ({e.chat_id})",
            f"{e.posts:,}",
            f"{e.provider}/{e.model}",
            f"{e.input_tokens:,}",
            f"{e.output_tokens:,}",
            usd(e.sync_cost_usd),
            usd(e.batch_cost_usd),
            "batch" if e.uses_batch else "sync",
        )
    console.print(table)
    console.print(
        "Tokens are estimated (characters / 3 in, a quarter of LLM_MAX_OUTPUT_TOKENS out per post); "
        "prompt-cache reads would lower the cost."
    )


#: Exit code of `tg-parser run` when every run succeeded but one skipped a stretch of its source.
EXIT_PARTIAL = 3


def _any_partial(settings: Settings, run_ids: list[str]) -> bool:
    from tg_parser.services.runs import show_run

    return any(show_run(database_url=settings.database_url, run_id=rid).run.partial for rid in run_ids)


def _run_embedded(
    settings: Settings, launcher: Launcher, *, keys: list[str], out_dir: str | None, run_ids: list[str]
) -> bool:
    """Run each channel here with a progress bar (ids into ``run_ids``); return whether all succeeded."""
    from tg_parser.services.input_errors import run_input_errors

    ok = True
    with progress_bar() as progress:
        for key in keys:
            task = progress.add_task(f"{key}: reading export", total=None)

            def on_ingested(_run_id: str, total: int, task: Any = task, key: str = key) -> None:
                progress.update(task, description=f"{key}: processing posts", total=total, completed=0)

            def on_progress(_run_id: str, done: int, total: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=total)

            try:
                run_id = launcher.start_run(
                    key, export_dir=out_dir, on_ingested=on_ingested, on_progress=on_progress
                )
            except Exception as exc:  # noqa: BLE001 - the run is failed and dead-lettered; report, go on
                err.print(f"[red]error:[/red] {key}: {safe(str(exc))}")
                ok = False
            else:
                run_ids.append(run_id)
                _warn_input_errors(run_input_errors(database_url=settings.database_url, run_id=run_id))
            progress.update(task, description=f"{key}: done")
    return summarise(settings, run_ids) and ok


def _warn_input_errors(errors: list[str]) -> None:
    for line in errors[:MAX_ERRORS_SHOWN]:
        err.print(f"[yellow]warning:[/yellow] {safe(line)}")
    if len(errors) > MAX_ERRORS_SHOWN:
        err.print(f"[yellow]warning:[/yellow] … and {len(errors) - MAX_ERRORS_SHOWN} more input errors")


def _run_cluster(
    settings: Settings,
    launcher: Launcher,
    *,
    keys: list[str],
    out_dir: str | None,
    timeout_s: float,
    cid: str,
    run_ids: list[str],
) -> bool:
    """Queue a run per channel (ids into ``run_ids``), follow them to the end; return whether all did well."""
    for key in keys:
        run_id = launcher.start_run(key, export_dir=out_dir, correlation_id=cid)
        run_ids.append(run_id)
        # One line whatever the terminal width: scripts read the run id from it.
        err.print(f"dispatched run {run_id} of {key} to the cluster (correlation id {cid})", soft_wrap=True)
    ok = _follow_runs(settings, run_ids, timeout_s)
    return summarise(settings, run_ids) and ok


def _follow_runs(settings: Settings, run_ids: list[str], timeout_s: float) -> bool:
    """Show the runs' progress until all end or ``timeout_s`` passed; return whether all succeeded."""
    from tg_parser.domain.runs import RunStatus
    from tg_parser.services.runs import poll_runs

    deadline = time.monotonic() + timeout_s
    with progress_bar() as progress:
        bars = {rid: progress.add_task(f"{rid[:8]}: waiting", total=None) for rid in run_ids}
        while True:
            views = poll_runs(database_url=settings.database_url, run_ids=run_ids)
            for rid, view in views.items():
                if view is not None:
                    progress.update(
                        bars[rid],
                        description=f"{rid[:8]} (channel #{view.run.channel_pk}): {view.run.status.value}",
                        total=view.items.total or None,
                        completed=view.items.done + view.items.failed,
                    )
            if all(v is not None and v.finished for v in views.values()):
                return all(v is not None and v.run.status is RunStatus.SUCCEEDED for v in views.values())
            if time.monotonic() > deadline:
                err.print(
                    f"[red]error:[/red] gave up waiting after {timeout_s:.0f} s; runs go on in the cluster"
                )
                return False
            time.sleep(POLL_INTERVAL_S)


def summarise(settings: Settings, run_ids: list[str]) -> bool:
    """Print one block per run (posts read, processed, failed, topics, output); return overall success.

    Args:
        settings: Settings (the database, and ``EXPORT_DIR`` for runs without their own folder).
        run_ids: The runs, in the order to print them.

    Returns:
        Whether every run succeeded.
    """
    from tg_parser.domain.runs import RunStatus
    from tg_parser.services.runs import show_run

    ok = True
    for rid in run_ids:
        view = show_run(database_url=settings.database_url, run_id=rid)
        run, counts, key = view.run, view.items, view.run.channel_key
        succeeded = run.status is RunStatus.SUCCEEDED
        ok = ok and succeeded
        colour = "green" if succeeded else "red"
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("channel", f"{key}  ({view.channel_title})")
        table.add_row("run", f"{rid}  [{colour}]{run.status.value}[/{colour}]")
        table.add_row("posts read", f"{run.posts_read}  ({run.posts_new} new, {run.posts_changed} changed)")
        table.add_row("processed", f"{counts.done} of {counts.total} due  (failed: {counts.failed})")
        table.add_row("input errors", str(run.input_errors))
        if run.partial:
            spans = ", ".join(f"{u['start']}-{u['end']}" for u in run.unread_ranges[:MAX_ERRORS_SHOWN])
            table.add_row("partial", f"[yellow]bytes left unread: {spans}[/yellow] (see `runs show {rid}`)")
        table.add_row("topics", str(run.topics if run.topics is not None else "-"))
        if succeeded:
            out = Path(run.export_dir or settings.export_dir) / key
            table.add_row("output", f"{out / 'documents.ndjson'}\n{out / 'topics.json'}")
        elif run.error:
            table.add_row("error", run.error)
        if counts.failed or run.input_errors:
            table.add_row("dead letters", "see `tg-parser dlq list`")
        console.print(table)
        console.print()
    return ok


def import_(export_file: ExportFile, username: Username = None, out: OutDir = None) -> None:
    """Import an export into the database (no processing)."""
    settings = load_cli_settings()
    if settings.database_url.startswith("postgresql"):
        # The export is read in a child process (services/export_reader.py):
        # start it now, so it starts up while this one checks the schema and
        # registers the channel.
        from tg_parser.services import reader_process

        reader_process.prestart()
    ensure_schema(settings)
    from tg_parser.services import channels, pipeline
    from tg_parser.services.processors import get_processor

    processor = get_processor(settings)
    try:
        registered = channels.register_export(
            database_url=settings.database_url,
            path=export_file,
            username=username,
            export_dir=str(out) if out else None,
        )
        for ch in registered:
            report = pipeline.ingest_channel(
                settings=settings, channel=ch.key, run_id=None, processor=processor, dispatcher=None
            )
            console.print(
                f"{ch.key}: {report.posts_read} posts read, {report.new} new, {report.changed} changed, "
                f"{report.input_errors} input errors"
            )
            for line in report.errors[:MAX_ERRORS_SHOWN]:
                err.print(f"[yellow]warning:[/yellow] {safe(line)}")
    except TgParserError as exc:
        raise fail(exc) from exc


def process(channel: Annotated[str, typer.Argument(help="Channel key (see `channels list`).")]) -> None:
    """Process the channel's posts that have no current document (in-process, PROCESS_CONCURRENCY at once)."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.embedded import process_channel_embedded

    progress = progress_bar()
    task = progress.add_task(f"{channel}: processing", total=None)

    def advance(done: int, total: int) -> None:
        # Started at the first post: the worker processes are forked before its refresh thread exists.
        progress.start()
        progress.update(task, completed=done, total=total)

    try:
        # A post that gives up is dead-lettered and counted as failed: it never sinks the command.
        report = process_channel_embedded(settings=settings, channel=channel, on_progress=advance)
    except TgParserError as exc:
        raise fail(exc) from exc
    finally:
        progress.stop()
    console.print(f"{channel}: {report.posts - report.failed} processed, {report.failed} failed")


def topicize(
    channel: Annotated[str, typer.Argument(help="Channel key.")],
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Re-cluster every post (topics that survive keep their ids) instead of placing only "
            "new and changed posts in the stored topics.",
        ),
    ] = False,
) -> None:
    """Group the channel's documents into topics.

    By default new and changed posts join the nearest stored topic; the channel
    is re-clustered when it has no stored fit, when drift is high, or with --full.
    Run `tg-parser export` afterwards to write topics.json.
    """
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services.topicize import topicize as run_topicize

    try:
        with console.status(f"{channel}: topicizing…"):
            result = run_topicize(settings=settings, channel=channel, run_id=None, dispatcher=None, full=full)
    except TgParserError as exc:
        raise fail(exc) from exc
    how = f"full re-cluster ({result.reason})" if result.fit == "full" else "incremental"
    console.print(f"{channel}: {result.topics} topics, {how}, {result.placed} of {result.posts} posts placed")


def export(
    channel: Annotated[str, typer.Argument(help="Channel key.")],
    out: OutDir = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Also write documents.delta.ndjson: posts added, changed or deleted since a run id, "
            "delta cursor (printed by an earlier export, or the API's Documents-Cursor), or ISO time/period "
            "(the last run finished by then).",
        ),
    ] = None,
) -> None:
    """Write the channel's documents.ndjson and topics.json (and documents.delta.ndjson with --since)."""
    settings = load_cli_settings()
    ensure_schema(settings)
    from tg_parser.services import pipeline
    from tg_parser.services.deltas import encode_cursor

    try:
        result = pipeline.export_channel(
            settings=settings, channel=channel, run_id=None, export_dir=str(out) if out else None, since=since
        )
    except TgParserError as exc:
        raise fail(exc) from exc
    if result is None:  # only a run's redelivered export is skipped; this one has no run
        raise fail(RuntimeError(f"{channel}: export skipped"))
    console.print(f"{channel}: {result.documents} documents → {result.documents_path}")
    console.print(f"{channel}: {result.topics} topics → {result.topics_path}")
    if result.delta is not None:
        delta = result.delta
        console.print(f"{channel}: {delta.upserts} upserts, {delta.deletes} deletes → {delta.path}")
    if result.delta_cursor is not None:
        console.print(
            f"{channel}: delta cursor {encode_cursor(result.delta_cursor)} (pass as --since next time)"
        )
