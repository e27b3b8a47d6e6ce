"""Which Telegram account reads a live channel (issue 13).

A channel pinned to an account (``channels add @x --account NAME``) is read
with it while it is healthy; any other channel, or a pinned one whose account
was logged out or banned, is spread over the healthy accounts by a stable
hash of its key, so the same channel keeps the same account across runs and
workers (and so the same per-account lock, :mod:`.locks`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence


def choose_account(
    channel_key: str, accounts: Sequence[str], *, pinned: str | None, unusable: Collection[str]
) -> str | None:
    """Pick the account that reads ``channel_key``.

    Args:
        channel_key: The channel's key (the spread is by its SHA-256).
        accounts: The named accounts that have a session.
        pinned: The account the channel is pinned to, or ``None``.
        unusable: Accounts marked unhealthy, or already tried in this run.

    Returns:
        ``pinned`` when it has a session and is usable, else one of the usable
        accounts (the same one for the same key and set of accounts), else
        ``None`` when none is left.
    """
    if pinned is not None and pinned in accounts and pinned not in unusable:
        return pinned
    usable = sorted(a for a in accounts if a not in unusable)
    if not usable:
        return None
    digest = int.from_bytes(hashlib.sha256(channel_key.encode("utf-8")).digest()[:8], "big")
    return usable[digest % len(usable)]
