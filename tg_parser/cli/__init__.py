"""``tg-parser``: the command line (Typer + rich), one module per command group.

Embedded by default (SQLite, tasks in-process); with ``CELERY_BROKER_URL`` set,
``run`` dispatches to the Celery cluster and follows the run in the database.
Every command parses its options, calls a service and renders the result.
"""

from __future__ import annotations

import sys

import typer

from tg_parser.cli import api, auth, channels, db, dlq, ops, runs
from tg_parser.cli import run as run_commands
from tg_parser.cli._common import err, safe
from tg_parser.errors import ConfigurationError

__all__ = ["app", "main"]

app = typer.Typer(
    help="Turn Telegram channels into structured, topic-grouped documents for RAG.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """tg-parser: Telegram channels → documents → topics → NDJSON/JSON exports."""


app.command("health")(ops.health)
app.command("run")(run_commands.run)
app.command("import")(run_commands.import_)
app.command("process")(run_commands.process)
app.command("topicize")(run_commands.topicize)
app.command("export")(run_commands.export)
app.command("usage")(ops.usage)
app.add_typer(db.app, name="db")
app.add_typer(channels.app, name="channels")
app.add_typer(runs.app, name="runs")
app.add_typer(dlq.app, name="dlq")
app.add_typer(auth.app, name="auth")
app.add_typer(ops.metrics_app, name="metrics")
app.add_typer(api.app, name="api")
app.add_typer(api.keys_app, name="api-keys")


def main() -> None:
    """Entry point of the ``tg-parser`` script: run the app; a configuration error exits 2."""
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {safe(str(exc))}")
        sys.exit(2)
