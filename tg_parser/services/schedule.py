"""Channel schedules: which channels are due, claimed exactly once per tick."""

from __future__ import annotations

from datetime import UTC, datetime

from tg_parser.storage import channels, session_scope


def claim_due_channels(*, database_url: str) -> list[str]:
    """Return keys of channels due now, moving each one's ``next_run_at`` forward.

    The move is a guarded update on the old ``next_run_at``, so two Beat
    processes (or two ticks delivered twice) never claim the same run. A
    channel whose ticks were missed gets one run, not one per missed tick.
    """
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        due = channels.due_channels(session, now=now)
    claimed: list[str] = []
    for pk, key, next_at, every_s in due:
        with session_scope(database_url) as session:
            if channels.claim_schedule_slot(
                session, channel_pk=pk, seen_next_run_at=next_at, now=now, every_s=every_s
            ):
                claimed.append(key)
    return claimed
