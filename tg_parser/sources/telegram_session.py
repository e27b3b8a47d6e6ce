"""Telegram sessions: build a Telethon client from settings, and log in.

A session is an authorised login of a user account. It comes from
``TELEGRAM_SESSION`` (a Telethon ``StringSession``, handy in containers and CI
secrets) or from the SQLite session file at ``TELEGRAM_SESSION_FILE`` (default
``~/.tg_parser/telegram.session``) that :func:`login` writes. Either is as good
as the account's password: the file is created with mode ``0600`` in a ``0700``
folder, and neither the session string, the api hash nor the phone number is
ever put in a log line or an exception message.

Sources: https://core.telegram.org/api/auth (the login flow),
https://core.telegram.org/api/obtaining_api_id (api id and hash),
https://docs.telethon.dev/en/stable/concepts/sessions.html (session storage).
"""

from __future__ import annotations

import asyncio
import inspect
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import SecretStr
from telethon import TelegramClient, errors, utils
from telethon.sessions import SQLiteSession, StringSession

import tg_parser
from tg_parser.config.telegram import DEFAULT_SESSION_FILE
from tg_parser.errors import ConfigurationError, InputError, PermanentError, RetryableError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from telethon.sessions.abstract import Session

    from tg_parser.config.telegram import TelegramSettings

_log = structlog.get_logger(__name__)

_FILE_MODE = 0o600
_DIR_MODE = 0o700


def prepare_session_file(path: Path) -> Path:
    """Create the session file (and its folder) readable by the owner only.

    Telethon names SQLite sessions ``<name>.session``; a path without that
    suffix gets it, as Telethon would add it.

    Args:
        path: ``TELEGRAM_SESSION_FILE``; ``~`` is expanded.

    Returns:
        The session file's path, which exists with mode ``0600``.

    Raises:
        ConfigurationError: The folder or file cannot be created.
    """
    path = path.expanduser()
    if path.suffix != ".session":
        path = path.with_name(path.name + ".session")
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=_DIR_MODE, parents=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, _FILE_MODE)
        os.close(fd)
        path.chmod(_FILE_MODE)  # also tightens a file that existed with wider rights
    except OSError as exc:
        msg = f"cannot create the Telegram session file {path}: {exc.strerror}"
        raise ConfigurationError(msg) from None
    return path


def open_session(settings: TelegramSettings) -> Session:
    """Return the Telethon session the settings name.

    Args:
        settings: ``TELEGRAM_SESSION`` wins over ``TELEGRAM_SESSION_FILE``.

    Returns:
        A ``StringSession`` or a ``SQLiteSession`` on a ``0600`` file.

    Raises:
        ConfigurationError: ``TELEGRAM_SESSION`` is not a valid session string
            (its value is not echoed), or the session file cannot be created.
    """
    if settings.session is not None:
        try:
            return StringSession(settings.session.get_secret_value().strip())
        except Exception:  # noqa: BLE001 - any decoding failure means the same to the user
            msg = (
                "TELEGRAM_SESSION is not a valid Telethon StringSession; make one with `tg-parser auth login`"
            )
            raise ConfigurationError(msg) from None
    path = prepare_session_file(settings.session_file)
    session = SQLiteSession(str(path))
    path.chmod(_FILE_MODE)
    return session


def _credentials(api_id: int | None, api_hash: SecretStr | str | None) -> tuple[int, str]:
    if not api_id or api_hash is None:
        msg = "TELEGRAM_API_ID and TELEGRAM_API_HASH are required (get them at https://my.telegram.org)"
        raise ConfigurationError(msg)
    value = api_hash.get_secret_value() if isinstance(api_hash, SecretStr) else api_hash
    if not value:
        msg = "TELEGRAM_API_HASH is empty"
        raise ConfigurationError(msg)
    return int(api_id), value


def build_client(settings: TelegramSettings, *, session: Session | None = None) -> TelegramClient:
    """Build (but do not connect) the Telethon client of the configured account.

    Telethon's own FloodWait sleeping is turned off (``flood_sleep_threshold=0``)
    so that :class:`~tg_parser.sources.telethon_source.TelethonSource` applies
    ``TELEGRAM_FLOOD_SLEEP_MAX_S``; update handling is off because the parser
    only reads history.

    Args:
        settings: The Telegram settings.
        session: A session to use instead of the configured one.

    Returns:
        A ``TelegramClient``; call ``await client.connect()`` on the event
        loop that will use it (see :mod:`tg_parser.sources.telethon_runtime`).

    Raises:
        ConfigurationError: Missing api id/hash, a bad session string, or an
            unwritable session file.
    """
    api_id, api_hash = _credentials(settings.api_id, settings.api_hash)
    return TelegramClient(
        session if session is not None else open_session(settings),
        api_id,
        api_hash,
        flood_sleep_threshold=0,
        receive_updates=False,
        device_model="tg_parser",
        app_version=tg_parser.__version__,
    )


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What :func:`login` did.

    Attributes:
        account: Display name of the logged-in account (never the phone number).
        user_id: Telegram id of the account.
        session_file: Where the session was saved, for a file session.
        session_string: The ``StringSession`` to put in ``TELEGRAM_SESSION``,
            when one was asked for.
    """

    account: str
    user_id: int
    session_file: Path | None
    session_string: SecretStr | None


async def login_async(
    *,
    api_id: int,
    api_hash: SecretStr | str,
    phone: SecretStr | str,
    code_callback: Callable[[], str | Awaitable[str]],
    password_callback: Callable[[], str | Awaitable[str]],
    session_file: Path | None = None,
    string_session: bool = False,
    client_factory: Callable[[Session, int, str], Any] = TelegramClient,
) -> LoginResult:
    """Log a user account in: send the code, ask for it, and the 2FA password if set.

    The flow is Telegram's ``auth.sendCode`` → ``auth.signIn`` → (when two-step
    verification is on) ``auth.checkPassword`` (https://core.telegram.org/api/auth,
    https://core.telegram.org/api/srp). An already authorised session is kept.

    Args:
        api_id: ``TELEGRAM_API_ID``.
        api_hash: ``TELEGRAM_API_HASH``.
        phone: The account's phone number in international format.
        code_callback: Returns the login code Telegram sent (may be async).
        password_callback: Returns the two-step verification password; called
            only when the account has one (may be async).
        session_file: Where to save a file session (default
            ``~/.tg_parser/telegram.session``); ignored with ``string_session``.
        string_session: Return a ``StringSession`` instead of writing a file.
        client_factory: Builds the client (tests pass a fake).

    Returns:
        The account's name and where the session went.

    Raises:
        ConfigurationError: Invalid api id/hash.
        InputError: Invalid phone number, wrong or expired code, wrong password.
        RetryableError: Telegram asked to wait (FloodWait) or the network failed.
        PermanentError: Any other refusal (banned number…).
    """
    api_id, hash_value = _credentials(api_id, api_hash)
    phone_value = phone.get_secret_value() if isinstance(phone, SecretStr) else phone
    path: Path | None = None
    if string_session:
        session: Session = StringSession()
    else:
        path = prepare_session_file(session_file or DEFAULT_SESSION_FILE)
        session = SQLiteSession(str(path))
    client = client_factory(session, api_id, hash_value)
    try:
        await client.connect()
        if not await client.is_user_authorized():
            await client.send_code_request(phone_value)
            code = await _answer(code_callback)
            try:
                await client.sign_in(phone=phone_value, code=code)
            except errors.SessionPasswordNeededError:
                await client.sign_in(password=await _answer(password_callback))
        me = await client.get_me()
        saved = SecretStr(StringSession.save(client.session)) if string_session else None
    except errors.RPCError as exc:
        raise _login_error(exc) from None
    except (ConnectionError, OSError, TimeoutError):
        msg = "cannot reach Telegram to log in; check the network and try again"
        raise RetryableError(msg) from None
    finally:
        await client.disconnect()
    if path is not None:
        path.chmod(_FILE_MODE)
    account = utils.get_display_name(me) or str(me.id)
    _log.info("telegram.login", account=account, user_id=me.id, string_session=string_session)
    return LoginResult(account=account, user_id=me.id, session_file=path, session_string=saved)


def login(
    *,
    api_id: int,
    api_hash: SecretStr | str,
    phone: SecretStr | str,
    code_callback: Callable[[], str | Awaitable[str]],
    password_callback: Callable[[], str | Awaitable[str]],
    session_file: Path | None = None,
    string_session: bool = False,
    client_factory: Callable[[Session, int, str], Any] = TelegramClient,
) -> LoginResult:
    """Run :func:`login_async` on a fresh event loop (for ``tg-parser auth login``).

    Args:
        api_id: See :func:`login_async`.
        api_hash: See :func:`login_async`.
        phone: See :func:`login_async`.
        code_callback: See :func:`login_async`.
        password_callback: See :func:`login_async`.
        session_file: See :func:`login_async`.
        string_session: See :func:`login_async`.
        client_factory: See :func:`login_async`.

    Returns:
        See :func:`login_async`.

    Raises:
        ConfigurationError: See :func:`login_async`.
        InputError: See :func:`login_async`.
        RetryableError: See :func:`login_async`.
        PermanentError: See :func:`login_async`.
    """
    return asyncio.run(
        login_async(
            api_id=api_id,
            api_hash=api_hash,
            phone=phone,
            code_callback=code_callback,
            password_callback=password_callback,
            session_file=session_file,
            string_session=string_session,
            client_factory=client_factory,
        )
    )


async def _answer(callback: Callable[[], str | Awaitable[str]]) -> str:
    value = callback()
    if inspect.isawaitable(value):
        value = await value
    return str(value).strip()


_LOGIN_INPUT_ERRORS: tuple[tuple[tuple[type[Exception], ...], str], ...] = (
    (
        (errors.PhoneNumberInvalidError,),
        "the phone number is not valid (use the international format, +<country><number>)",
    ),
    (
        (errors.PhoneCodeInvalidError, errors.PhoneCodeExpiredError, errors.PhoneCodeEmptyError),
        "the login code was wrong or expired; run the login again",
    ),
    ((errors.PasswordHashInvalidError,), "the two-step verification password is wrong"),
)


def _login_error(exc: errors.RPCError) -> Exception:
    """Map a login refusal to our errors without echoing the phone, code or password."""
    name = type(exc).__name__
    seconds = getattr(exc, "seconds", None)
    if isinstance(exc, errors.FloodError) and seconds is not None:
        return RetryableError(
            f"Telegram asks to wait {seconds} s before logging in again", retry_after_s=seconds
        )
    if isinstance(exc, errors.ApiIdInvalidError):
        return ConfigurationError(
            "TELEGRAM_API_ID / TELEGRAM_API_HASH are not a valid pair (my.telegram.org)"
        )
    for classes, reason in _LOGIN_INPUT_ERRORS:
        if isinstance(exc, classes):
            return InputError(f"{reason} ({name})")
    if isinstance(exc, errors.ServerError):
        return RetryableError(f"Telegram server error during login ({name})")
    return PermanentError(f"Telegram refused the login ({name})")
