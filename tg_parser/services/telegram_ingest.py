"""Reading a live channel through Telethon as batches for the ingest service.

One Telethon client per account and process lives on its own runtime loop
(:mod:`tg_parser.sources.telethon_runtime`); a Redis lock per account makes
sure one session is never used by two workers at once (when there is a Redis,
``settings.redis_url``; embedded mode runs one process anyway).

Accounts (issue 13): with named sessions under ``TELEGRAM_ACCOUNTS_DIR``
(``tg-parser auth login --account NAME``), a channel is read with the account
it is pinned to, else one chosen by :func:`~tg_parser.sources.accounts.choose_account`.
When Telegram says an account is logged out or banned
(:class:`~tg_parser.errors.AccountLostError`), it is marked unhealthy (shown by
``tg-parser health``) and the channel goes on with the next account, from the
last committed batch. Without named sessions, the one session of
``TELEGRAM_SESSION``/``TELEGRAM_SESSION_FILE`` is used as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import structlog

from tg_parser.config import Settings
from tg_parser.config.telegram import TelegramSettings
from tg_parser.errors import AccountLostError, RetryableError
from tg_parser.services.sources import SourceBatch

log = structlog.get_logger(__name__)

_lock = threading.Lock()
_source: Any = None
#: Named account → (its runtime, its TelethonSource), one per process.
_accounts: dict[str, tuple[Any, Any]] = {}


def _telethon_source(settings: Settings) -> Any:
    """Return this process's :class:`TelethonSource` of the single session (it caches resolved channels)."""
    global _source  # noqa: PLW0603 - one per process, like the client
    from tg_parser.sources.telegram_session import build_client
    from tg_parser.sources.telethon_runtime import get_runtime
    from tg_parser.sources.telethon_source import TelethonSource

    with _lock:
        if _source is None:
            tg = settings.telegram
            runtime = get_runtime(lambda: build_client(tg))
            client = runtime.run(runtime.client())
            _source = TelethonSource(
                client, edit_window=tg.edit_window, flood_sleep_max_s=tg.flood_sleep_max_s
            )
        return _source


def account_client_factory(tg: TelegramSettings) -> Callable[[], Any]:
    """Return what builds the Telethon client of one account's settings (tests replace it)."""
    from tg_parser.sources.telegram_session import build_client

    return lambda: build_client(tg)


def _account_source(settings: Settings, name: str) -> tuple[Any, Any]:
    """Return the runtime and :class:`TelethonSource` of a named account, built on first use."""
    from tg_parser.sources.telethon_runtime import TelethonRuntime
    from tg_parser.sources.telethon_source import TelethonSource

    with _lock:
        if name not in _accounts:
            tg = settings.telegram.for_account(name)
            runtime = TelethonRuntime(account_client_factory(tg))
            client = runtime.run(runtime.client())
            source = TelethonSource(
                client, edit_window=tg.edit_window, flood_sleep_max_s=tg.flood_sleep_max_s
            )
            _accounts[name] = (runtime, source)
        return _accounts[name]


def shutdown_accounts() -> None:
    """Disconnect every named account's client and stop its loop (worker shutdown, tests)."""
    with _lock:
        runtimes = [runtime for runtime, _ in _accounts.values()]
        _accounts.clear()
    for runtime in runtimes:
        runtime.shutdown()


def _forget_accounts_after_fork() -> None:
    """Drop the parent's named-account runtimes in a forked child (their loop threads did not survive)."""
    global _lock  # noqa: PLW0603 - the child must drop the parent's state
    _lock = threading.Lock()
    _accounts.clear()


os.register_at_fork(after_in_child=_forget_accounts_after_fork)


def telegram_batches(
    *,
    settings: Settings,
    reference: str,
    cursor: int | None,
    known_ids: list[int],
    since: datetime | None = None,
    limit: int | None = None,
    comment_cursors: dict[int, int] | None = None,
    channel_key: str | None = None,
    account: str | None = None,
) -> Iterator[SourceBatch]:
    """Yield a live channel's posts as batches, oldest first, one per fetched page.

    The caller commits each batch and then advances the cursor to its
    ``cursor``: an interruption at any page resumes without a gap or a duplicate.
    Unless ``COMMENTS=off``, each batch also carries the new discussion
    comments of its posts (read above ``comment_cursors``: post id → last
    stored comment id).

    Args:
        settings: Settings.
        reference: The channel as registered (``@name``, id, link).
        cursor: The channel's cursor, or ``None`` before its first batch.
        known_ids: Stored post ids near the cursor (for deletions in the edit window).
        since: First-run backfill bound.
        limit: First-run backfill bound.
        comment_cursors: Post id → highest stored comment id.
        channel_key: The channel's key (spreads it over accounts; default ``reference``).
        account: The account the channel is pinned to, or ``None``.

    Raises:
        RetryableError: FloodWait longer than ``TELEGRAM_FLOOD_SLEEP_MAX_S``, network errors.
        PermanentError: The channel is private, unknown, or the session is not authorised.
        AccountLostError: Every named account is logged out or banned.
    """
    names = settings.telegram.account_names()
    fetch: dict[str, Any] = {
        "reference": reference,
        "since": since,
        "limit": limit,
        "known_ids": known_ids,
        "comment_cursors": comment_cursors,
    }
    if not names:
        yield from _batches(settings, None, cursor=cursor, **fetch)
        return
    from tg_parser.sources.accounts import choose_account
    from tg_parser.storage import accounts, session_scope

    with session_scope(settings.database_url) as session:
        unusable = accounts.unhealthy_names(session)
    while True:
        name = choose_account(channel_key or reference, names, pinned=account, unusable=unusable)
        if name is None:
            msg = f"channel {reference} cannot be read: every Telegram account is logged out or banned"
            raise AccountLostError(msg)
        try:
            for batch in _batches(settings, name, cursor=cursor, **fetch):
                cursor = batch.cursor if batch.cursor is not None else cursor
                yield batch
        except AccountLostError as exc:
            unusable.add(name)
            with session_scope(settings.database_url) as session:
                accounts.set_health(session, name=name, healthy=False, reason=str(exc))
            log.warning("telegram.account_lost", account=name, channel=reference, error=str(exc))
            continue
        return


def _batches(
    settings: Settings,
    account: str | None,
    *,
    reference: str,
    cursor: int | None,
    known_ids: list[int],
    since: datetime | None,
    limit: int | None,
    comment_cursors: dict[int, int] | None,
) -> Iterator[SourceBatch]:
    """Yield the batches of one fetch with one account (``None``: the single session)."""
    from tg_parser.sources.locks import account_lock
    from tg_parser.sources.telethon_runtime import get_runtime

    tg = settings.telegram if account is None else settings.telegram.for_account(account)
    with ExitStack() as stack:
        if settings.redis_url is not None:
            stack.enter_context(
                account_lock(settings.redis_url, tg.account_key(), timeout_s=60.0, blocking_timeout_s=10.0)
            )
        if account is None:
            source, runtime = _telethon_source(settings), get_runtime()
        else:
            runtime, source = _account_source(settings, account)
        chat = runtime.run(source.resolve(reference))
        pages = source.fetch(
            reference,
            cursor=cursor,
            since=since,
            limit=limit,
            known_ids=known_ids,
            comments=settings.comments != "off",
            comment_cursors=comment_cursors,
        )
        for page in runtime.iterate(pages):
            yield SourceBatch(
                messages=list(page.messages),
                errors=[],
                deleted_ids=list(page.deleted_ids),
                cursor=page.max_id_seen or None,
                chat=chat,
                comments=list(page.comments),
                comments_chat=page.comments_chat,
            )


def download_post_media(
    *, settings: Settings, reference: str, channel_key: str, account: str | None, message_id: int, file: str
) -> bool:
    """Download one live post's media to ``file`` with the channel's account (see :func:`telegram_batches`).

    Raises:
        RetryableError: FloodWait, an expired file reference, network failures.
        PermanentError: The channel cannot be read.
        AccountLostError: The account is logged out or banned (it is marked
            unhealthy; the retry uses the next account).
    """
    from tg_parser.sources.accounts import choose_account
    from tg_parser.sources.telethon_runtime import get_runtime
    from tg_parser.storage import accounts, session_scope

    names = settings.telegram.account_names()
    if not names:
        return bool(get_runtime().run(_telethon_source(settings).download_media(reference, message_id, file)))
    with session_scope(settings.database_url) as session:
        unusable = accounts.unhealthy_names(session)
    name = choose_account(channel_key, names, pinned=account, unusable=unusable)
    if name is None:
        msg = f"channel {reference} cannot be read: every Telegram account is logged out or banned"
        raise AccountLostError(msg)
    runtime, source = _account_source(settings, name)
    try:
        return bool(runtime.run(source.download_media(reference, message_id, file)))
    except AccountLostError as exc:
        with session_scope(settings.database_url) as session:
            accounts.set_health(session, name=name, healthy=False, reason=str(exc))
        raise RetryableError(str(exc)) from exc
