"""``tg-parser api serve`` (the HTTP API under uvicorn) and ``tg-parser api-keys`` (its keys)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from tg_parser.cli._common import AsJson, console, ensure_schema, err, fail, load_cli_settings, print_json
from tg_parser.errors import TgParserError

app = typer.Typer(help="The HTTP API.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys of the HTTP API (the key is shown once; only its hash is stored).", no_args_is_help=True
)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 inside a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API with uvicorn: /api/v1, /health, /status/detailed, /metrics, /docs."""
    settings = load_cli_settings()
    from tg_parser.logging import configure_logging

    configure_logging(log_format=settings.effective_log_format, log_level=os.environ.get("LOG_LEVEL", "INFO"))
    ensure_schema(settings)
    import uvicorn

    from tg_parser.api import create_app

    try:
        application = create_app(settings)
    except TgParserError as exc:
        raise fail(exc, code=2) from exc
    err.print(f"serving the API on http://{host}:{port} ({'embedded' if settings.embedded else 'cluster'})")
    # log_config=None: uvicorn's loggers go through our redacting handler (configure_logging).
    uvicorn.run(application, host=host, port=port, log_config=None, proxy_headers=False)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scope: Annotated[str, typer.Option("--scope", help="read | write | admin.")] = "read",
    rate_limit: Annotated[
        int | None,
        typer.Option(
            "--rate-limit", help="Requests per minute for this key (default API_RATE_LIMIT_PER_MIN; 0: none)."
        ),
    ] = None,
) -> None:
    """Create a key and print it once on standard output (store it now: it cannot be shown again)."""
    from tg_parser.services.api_keys import Scope, create_api_key

    settings = load_cli_settings()
    ensure_schema(settings)
    try:
        created = create_api_key(
            database_url=settings.database_url, name=name, scope=Scope(scope), rate_limit_per_min=rate_limit
        )
    except ValueError as exc:
        raise fail(ValueError(f"--scope must be read, write or admin, not {scope!r}"), code=2) from exc
    except TgParserError as exc:
        raise fail(exc, code=2) from exc
    err.print(f"created key {created.record.key_id} ({created.record.scope}); it is shown once:")
    typer.echo(created.key)


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: AsJson = False,
) -> None:
    """List keys (ids, names, scopes; never the keys nor their hashes)."""
    from tg_parser.services.api_keys import list_api_keys

    settings = load_cli_settings()
    ensure_schema(settings)
    keys = list_api_keys(database_url=settings.database_url, include_revoked=include_revoked)
    if as_json:
        fields = ("key_id", "name", "scope", "rate_limit_per_min", "created_at", "revoked_at")
        print_json([{f: getattr(k, f) for f in fields} for k in keys])
        return
    table = Table(title="API keys")
    for col in ("key id", "name", "scope", "rate limit/min", "created", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k.key_id,
            k.name,
            k.scope,
            "default" if k.rate_limit_per_min is None else str(k.rate_limit_per_min),
            f"{k.created_at:%Y-%m-%d %H:%M:%S}",
            f"{k.revoked_at:%Y-%m-%d %H:%M:%S}" if k.revoked_at else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (see `api-keys list`).")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from tg_parser.services.api_keys import revoke_api_key

    settings = load_cli_settings()
    ensure_schema(settings)
    try:
        revoke_api_key(database_url=settings.database_url, key_id=key_id)
    except TgParserError as exc:
        raise fail(exc) from exc
    console.print(f"revoked {key_id}")
