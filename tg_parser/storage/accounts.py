"""Health of named Telegram accounts (issue 13): which ones Telegram logged out or banned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tg_parser.storage.tables import TelegramAccountRow, utcnow
from tg_parser.storage.upsert import insert_for


@dataclass(frozen=True)
class AccountHealth:
    """A named account's recorded state.

    Attributes:
        name: The account name (``tg-parser auth login --account NAME``).
        healthy: ``False`` once Telegram logged it out or banned it.
        reason: What Telegram said, when unhealthy.
        updated_at: When the state was recorded.
    """

    name: str
    healthy: bool
    reason: str | None
    updated_at: datetime


def set_health(session: Session, *, name: str, healthy: bool, reason: str | None = None) -> None:
    """Record an account as healthy (a fresh login) or unhealthy (with Telegram's reason)."""
    now = utcnow()
    stmt = insert_for(session, TelegramAccountRow).values(
        name=name, healthy=healthy, reason=reason, updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"healthy": healthy, "reason": reason, "updated_at": now}
        )
    )


def list_health(session: Session) -> list[AccountHealth]:
    """Return every recorded account, by name."""
    rows = session.execute(select(TelegramAccountRow).order_by(TelegramAccountRow.name)).scalars()
    return [AccountHealth(r.name, r.healthy, r.reason, r.updated_at) for r in rows]


def unhealthy_names(session: Session) -> set[str]:
    """Return the names of the accounts marked unhealthy."""
    rows = session.execute(select(TelegramAccountRow.name).where(TelegramAccountRow.healthy.is_(False)))
    return {name for (name,) in rows}
