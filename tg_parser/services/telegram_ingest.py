"""Reading a live channel through Telethon as batches for the ingest service.

One Telethon client per process lives on the process's runtime loop
(:mod:`tg_parser.sources.telethon_runtime`); a Redis lock per account makes
sure one session is never used by two workers at once (when there is a Redis,
``settings.redis_url``; embedded mode runs one process anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from tg_parser.config import Settings
from tg_parser.services.sources import SourceBatch

_lock = threading.Lock()
_source: Any = None


def _telethon_source(settings: Settings) -> Any:
    """Return this process's :class:`TelethonSource` (it caches resolved channels)."""
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


def telegram_batches(
    *,
    settings: Settings,
    reference: str,
    cursor: int | None,
    known_ids: list[int],
    since: datetime | None = None,
    limit: int | None = None,
    comment_cursors: dict[int, int] | None = None,
) -> Iterator[SourceBatch]:
    """Yield a live channel's posts as batches, oldest first, one per fetched page.

    The caller commits each batch and then advances the cursor to its
    ``cursor``: an interruption at any page resumes without a gap or a duplicate.
    Unless ``COMMENTS=off``, each batch also carries the new discussion
    comments of its posts (read above ``comment_cursors``: post id → last
    stored comment id).

    Raises:
        RetryableError: FloodWait longer than ``TELEGRAM_FLOOD_SLEEP_MAX_S``, network errors.
        PermanentError: The channel is private, unknown, or the session is not authorised.
    """
    from tg_parser.sources.locks import account_lock
    from tg_parser.sources.telethon_runtime import get_runtime

    with ExitStack() as stack:
        if settings.redis_url is not None:
            account_key = settings.telegram.account_key()
            stack.enter_context(
                account_lock(settings.redis_url, account_key, timeout_s=60.0, blocking_timeout_s=10.0)
            )
        source = _telethon_source(settings)
        runtime = get_runtime()
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
