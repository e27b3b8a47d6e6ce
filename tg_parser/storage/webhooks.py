"""Webhook subscriptions: URL, events and signing secret.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return :class:`Webhook` records, never ORM rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tg_parser.errors import NotFoundError
from tg_parser.storage._common import changed
from tg_parser.storage.tables import WebhookRow, utcnow


@dataclass(frozen=True)
class Webhook:
    """A webhook subscription.

    Attributes:
        id: Its id.
        url: Where deliveries are POSTed.
        events: The event types it receives.
        secret: The Standard Webhooks secret (``whsec_<base64>``) that signs deliveries.
        created_at: When it was created (UTC).
    """

    id: str
    url: str
    events: list[str]
    secret: str
    created_at: datetime


def _record(row: WebhookRow) -> Webhook:
    return Webhook(
        id=row.id, url=row.url, events=list(row.events or []), secret=row.secret, created_at=row.created_at
    )


def add_webhook(session: Session, *, webhook_id: str, url: str, events: list[str], secret: str) -> Webhook:
    """Store a subscription; returns the record."""
    row = WebhookRow(id=webhook_id, url=url, events=list(events), secret=secret, created_at=utcnow())
    session.add(row)
    session.flush()
    return _record(row)


def get_webhook(session: Session, *, webhook_id: str) -> Webhook:
    """Return one subscription.

    Raises:
        NotFoundError: No such webhook.
    """
    row = session.get(WebhookRow, webhook_id)
    if row is None:
        msg = f"no webhook {webhook_id!r}"
        raise NotFoundError(msg)
    return _record(row)


def list_webhooks(session: Session, *, event: str | None = None) -> list[Webhook]:
    """Return subscriptions, oldest first (only those receiving ``event`` when given)."""
    found = [
        _record(row) for row in session.execute(select(WebhookRow).order_by(WebhookRow.created_at)).scalars()
    ]
    return [w for w in found if event is None or event in w.events]


def delete_webhook(session: Session, *, webhook_id: str) -> None:
    """Delete a subscription.

    Raises:
        NotFoundError: No such webhook.
    """
    if not changed(session.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))):
        msg = f"no webhook {webhook_id!r}"
        raise NotFoundError(msg)
