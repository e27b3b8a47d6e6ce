"""API keys of the HTTP API: stored as SHA-256 hashes, looked up by their public id.

Keyword-only functions over a :class:`~sqlalchemy.orm.Session` (the caller
commits); reads return :class:`ApiKey` records, never ORM rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tg_parser.errors import NotFoundError
from tg_parser.storage._common import changed, strip_nul
from tg_parser.storage.tables import ApiKeyRow, utcnow


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (without the key itself).

    Attributes:
        key_id: The key's public id (the part after ``tgp_``, before the secret).
        name: What the key is for.
        key_hash: Hex SHA-256 of the whole key.
        scope: ``read``, ``write`` or ``admin``.
        rate_limit_per_min: Requests per minute for this key, or ``None`` for the default.
        created_at: When it was created (UTC).
        revoked_at: When it was revoked, or ``None``.
    """

    key_id: str
    name: str
    key_hash: str
    scope: str
    rate_limit_per_min: int | None
    created_at: datetime
    revoked_at: datetime | None


def _record(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        key_hash=row.key_hash,
        scope=row.scope,
        rate_limit_per_min=row.rate_limit_per_min,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def add_api_key(
    session: Session, *, key_id: str, name: str, key_hash: str, scope: str, rate_limit_per_min: int | None
) -> ApiKey:
    """Store a new key's hash; returns the record."""
    row = ApiKeyRow(
        key_id=key_id,
        name=strip_nul(name),
        key_hash=key_hash,
        scope=scope,
        rate_limit_per_min=rate_limit_per_min,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _record(row)


def find_api_key(session: Session, *, key_id: str) -> ApiKey | None:
    """Return the key with this public id (revoked or not), or ``None``."""
    row = session.execute(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).scalar_one_or_none()
    return _record(row) if row is not None else None


def list_api_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    """Return the keys, oldest first (active ones only unless ``include_revoked``)."""
    stmt = select(ApiKeyRow).order_by(ApiKeyRow.id)
    if not include_revoked:
        stmt = stmt.where(ApiKeyRow.revoked_at.is_(None))
    return [_record(row) for row in session.execute(stmt).scalars()]


def revoke_api_key(session: Session, *, key_id: str) -> None:
    """Revoke an active key.

    Raises:
        NotFoundError: No active key has this id.
    """
    result = session.execute(
        update(ApiKeyRow)
        .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if not changed(result):
        msg = f"no active API key {key_id!r}"
        raise NotFoundError(msg)
