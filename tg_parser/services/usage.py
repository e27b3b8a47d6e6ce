"""Read model of LLM usage: the totals behind ``tg-parser usage`` (and any other front door)."""

from __future__ import annotations

from datetime import datetime

from tg_parser.storage import session_scope
from tg_parser.storage import usage as usage_store
from tg_parser.storage.usage import UsageTotal

__all__ = ["UsageTotal", "usage_totals"]


def usage_totals(
    *, database_url: str, channel: str | None = None, since: datetime | None = None
) -> list[UsageTotal]:
    """Return LLM calls, tokens, cost and mean latency summed per channel, provider and model.

    Args:
        database_url: The database.
        channel: Only this channel key (``None``: every channel, and calls without one).
        since: Only calls made at or after this moment (time-zone aware).

    Returns:
        One total per channel, provider and model, ordered by them.
    """
    with session_scope(database_url) as session:
        return usage_store.usage_totals(session, channel_key=channel, since=since)
