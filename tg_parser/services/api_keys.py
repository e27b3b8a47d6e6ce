"""API keys of the HTTP API: create (shown once), list, revoke, authenticate.

A key reads ``tgp_<key id>_<secret>``: the key id is public (it names the key
in ``api-keys list`` and finds its row), the secret is 256 random bits
(``secrets.token_urlsafe(32)``). Only the SHA-256 of the whole key is stored: a
key of 256 random bits needs no slow password hash, since no dictionary covers
it (OWASP, "Password Storage Cheat Sheet", applies slow hashes to low-entropy
passwords). Hashes are compared with :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from tg_parser.errors import InputError
from tg_parser.storage import api_keys, session_scope
from tg_parser.storage.api_keys import ApiKey

__all__ = [
    "ApiKey",
    "CreatedKey",
    "Scope",
    "authenticate",
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
]

KEY_PREFIX = "tgp_"
_KEY_RE = re.compile(r"^tgp_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class Scope(StrEnum):
    """What a key may do: ``read`` any ``GET``; ``write`` channels, runs, uploads, replay; ``admin`` all."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Order of the scopes: read < write < admin."""
        return (Scope.READ, Scope.WRITE, Scope.ADMIN).index(self)

    def covers(self, needed: Scope) -> bool:
        """Whether a key of this scope may do what ``needed`` requires."""
        return self.rank >= needed.rank


@dataclass(frozen=True)
class CreatedKey:
    """A new key: the key itself (shown once, never stored) and its record."""

    key: str
    record: ApiKey


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    *, database_url: str, name: str, scope: Scope, rate_limit_per_min: int | None = None
) -> CreatedKey:
    """Create a key and store its hash.

    Args:
        database_url: The database.
        name: What the key is for (shown by ``api-keys list``).
        scope: Its scope.
        rate_limit_per_min: Its own requests per minute (``None``: ``API_RATE_LIMIT_PER_MIN``; 0: unlimited).

    Returns:
        The key (to show once) and its record.

    Raises:
        InputError: An empty name or a negative rate limit.
    """
    if not name.strip():
        msg = "an API key needs a name"
        raise InputError(msg)
    if rate_limit_per_min is not None and rate_limit_per_min < 0:
        msg = "the rate limit is a number of requests per minute, 0 or more"
        raise InputError(msg)
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    with session_scope(database_url) as session:
        record = api_keys.add_api_key(
            session,
            key_id=key_id,
            name=name.strip(),
            key_hash=_hash(key),
            scope=scope.value,
            rate_limit_per_min=rate_limit_per_min,
        )
    return CreatedKey(key=key, record=record)


def list_api_keys(*, database_url: str, include_revoked: bool = False) -> list[ApiKey]:
    """Return the keys (records only: the keys themselves are not stored), oldest first."""
    with session_scope(database_url) as session:
        return api_keys.list_api_keys(session, include_revoked=include_revoked)


def revoke_api_key(*, database_url: str, key_id: str) -> None:
    """Revoke a key by its id (``tgp_<key id>_…``; the whole key is accepted too).

    Raises:
        NotFoundError: No active key has this id.
    """
    match = _KEY_RE.match(key_id)
    with session_scope(database_url) as session:
        api_keys.revoke_api_key(session, key_id=match["key_id"] if match else key_id)


def authenticate(*, database_url: str, key: str) -> ApiKey | None:
    """Return the active key record matching ``key``, or ``None``.

    The stored hash is compared in constant time; a malformed or unknown key
    costs one comparison too, so timing tells nothing about which keys exist.
    """
    match = _KEY_RE.match(key)
    record = None
    if match:
        with session_scope(database_url) as session:
            record = api_keys.find_api_key(session, key_id=match["key_id"])
    expected = record.key_hash if record is not None else _DUMMY_HASH
    ok = hmac.compare_digest(expected, _hash(key))
    if record is None or not ok or record.revoked_at is not None:
        return None
    return record
