"""Channel schedules: which channels are due, claimed exactly once per tick."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from tg_parser.storage.session import session_scope
from tg_parser.storage.tables import ChannelRow, utcnow


def claim_due_channels(*, database_url: str) -> list[str]:
    """Return keys of channels due now, moving each one's ``next_run_at`` forward.

    The move is a guarded update on the old ``next_run_at``, so two Beat
    processes (or two ticks delivered twice) never claim the same run. A
    channel whose ticks were missed gets one run, not one per missed tick.
    """
    now = utcnow()
    claimed: list[str] = []
    with session_scope(database_url) as session:
        rows = session.execute(
            select(ChannelRow.id, ChannelRow.key, ChannelRow.next_run_at, ChannelRow.schedule_every_s).where(
                ChannelRow.schedule_every_s.is_not(None),
                ChannelRow.paused.is_(False),
                or_(ChannelRow.next_run_at.is_(None), ChannelRow.next_run_at <= now),
            )
        ).all()
    for pk, key, next_at, every_s in rows:
        with session_scope(database_url) as session:
            guard = ChannelRow.next_run_at.is_(None) if next_at is None else ChannelRow.next_run_at == next_at
            result = session.execute(
                update(ChannelRow)
                .where(ChannelRow.id == pk, guard)
                .values(next_run_at=now + timedelta(seconds=int(every_s or 0)))
            )
            if result.rowcount:  # type: ignore[attr-defined]
                claimed.append(key)
    return claimed
