"""``tg-parser auth``: log a Telegram user account in for live channels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tg_parser.cli._common import console, ensure_schema, err, fail, load_cli_settings
from tg_parser.errors import TgParserError

app = typer.Typer(help="Telegram account sessions for live channels.", no_args_is_help=True)


@app.command("login")
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
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="Name this account: its session goes to TELEGRAM_ACCOUNTS_DIR/NAME.session and live "
            "channels are spread over the named accounts (or pinned with `channels add --account`).",
        ),
    ] = None,
) -> None:
    """Log a Telegram user account in (api id and hash, phone, code, 2FA password); writes a 0600 session."""
    settings = load_cli_settings()
    tg = settings.telegram
    if account is not None:
        if session_file is not None or string_session:
            msg = "--account writes its own session file; drop --session-file/--string-session"
            raise typer.BadParameter(msg)
        try:
            session_file = tg.for_account(account).session_file
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    from tg_parser.sources.telegram_session import login

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
        raise fail(exc) from exc
    console.print(f"logged in as {result.account}")
    if account is not None:
        from tg_parser.services.accounts import record_login

        ensure_schema(settings)
        record_login(settings, name=account)
        console.print(f"account {account!r} is healthy; live channels may now be read with it")
    if result.session_file is not None:
        console.print(f"session saved to {result.session_file} (mode 0600)")
    if result.session_string is not None:
        err.print("TELEGRAM_SESSION (keep it secret; put it in your .env):")
        print(result.session_string.get_secret_value())  # noqa: T201 - the user asked for it
