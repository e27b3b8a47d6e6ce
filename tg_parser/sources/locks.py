"""Redis locks that keep one Telegram session (or one channel) to one worker at a time.

Telegram invalidates or rate-limits a session used from two connections at
once, so every worker takes the account's lock before talking to Telegram. The
lock is redis-py's :class:`redis.lock.Lock` (``SET NX PX`` with a token, released
and extended by Lua scripts): it expires by itself if a worker dies, and a
keeper thread extends it while the holder works, so a long backfill never
loses it silently.

Source: https://redis.io/docs/latest/develop/use/patterns/distributed-locks/
(single-instance locking) and redis-py's ``redis.lock``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

import redis
import structlog
from redis.exceptions import LockError, LockNotOwnedError

from tg_parser.errors import RetryableError

if TYPE_CHECKING:
    from collections.abc import Iterator

_log = structlog.get_logger(__name__)

ACCOUNT_LOCK_PREFIX = "tg_parser:lock:telegram-account:"
"""Redis key prefix of account locks; the rest is the account key."""


class HeldLock:
    """A lock held by this process, as yielded by :func:`redis_lock`.

    Attributes:
        name: The Redis key.
    """

    def __init__(self, name: str, lost: threading.Event) -> None:
        """Wrap the key and the event the keeper sets when it cannot extend."""
        self.name = name
        self._lost = lost

    @property
    def lost(self) -> bool:
        """``True`` once the lock could not be extended (it expired or was taken over)."""
        return self._lost.is_set()

    def __repr__(self) -> str:
        """Show the key and whether the lock is lost."""
        return f"HeldLock(name={self.name!r}, lost={self.lost})"


@contextlib.contextmanager
def redis_lock(
    redis_url: str,
    name: str,
    *,
    timeout_s: float = 60.0,
    blocking_timeout_s: float = 5.0,
    client: redis.Redis | None = None,
) -> Iterator[HeldLock]:
    """Hold a Redis lock for the duration of a ``with`` block, extending it while held.

    Args:
        redis_url: ``redis://host:port/db``; ignored when ``client`` is given.
        name: The Redis key of the lock.
        timeout_s: Lock time-to-live; a keeper thread renews it every third of it.
        blocking_timeout_s: How long to wait for a lock someone else holds.
        client: A Redis client to use instead of one built from ``redis_url``.

    Yields:
        A :class:`HeldLock`.

    Raises:
        RetryableError: The lock is held elsewhere past ``blocking_timeout_s``
            (``retry_after_s`` is its remaining time to live), or Redis is unreachable.
    """
    own_client = client is None
    conn = redis.Redis.from_url(redis_url) if client is None else client
    lock = conn.lock(
        name, timeout=timeout_s, blocking=True, blocking_timeout=blocking_timeout_s, thread_local=False
    )
    try:
        try:
            acquired = lock.acquire()
        except redis.ConnectionError as exc:
            msg = f"Redis is unreachable, cannot take the lock {name}"
            raise RetryableError(msg) from exc
        if not acquired:
            ttl_ms = conn.pttl(name)
            wait_s = max(1.0, ttl_ms / 1000) if isinstance(ttl_ms, int) and ttl_ms > 0 else timeout_s
            msg = f"{name} is held by another worker"
            raise RetryableError(msg, retry_after_s=wait_s)
        stop, lost = threading.Event(), threading.Event()
        keeper = threading.Thread(
            target=_keep_alive, args=(lock, timeout_s, stop, lost), name=f"lock-keeper:{name}", daemon=True
        )
        keeper.start()
        try:
            yield HeldLock(name, lost)
        finally:
            stop.set()
            keeper.join()
            try:
                lock.release()
            except LockNotOwnedError:
                _log.warning("lock.expired_before_release", lock=name)
            except redis.ConnectionError:
                _log.warning("lock.release_failed", lock=name)
    finally:
        if own_client:
            conn.close()


def _keep_alive(
    lock: redis.lock.Lock, timeout_s: float, stop: threading.Event, lost: threading.Event
) -> None:
    """Renew ``lock`` to a full ``timeout_s`` every third of it until ``stop`` is set."""
    while not stop.wait(timeout_s / 3):
        try:
            lock.extend(timeout_s, replace_ttl=True)
        except (LockError, redis.ConnectionError):
            _log.error("lock.lost", lock=lock.name)
            lost.set()
            return


def account_lock(
    redis_url: str,
    account_key: str,
    *,
    timeout_s: float = 60.0,
    blocking_timeout_s: float = 5.0,
) -> contextlib.AbstractContextManager[HeldLock]:
    """Hold the lock of one Telegram account session (one user at a time).

    Args:
        redis_url: The application's Redis, ``settings.redis_url``.
        account_key: :meth:`TelegramSettings.account_key
            <tg_parser.config.telegram.TelegramSettings.account_key>`
            (api id + session fingerprint; no secret in it).
        timeout_s: See :func:`redis_lock`.
        blocking_timeout_s: See :func:`redis_lock`.

    Returns:
        A context manager yielding :class:`HeldLock`.

    Raises:
        RetryableError: On entering, see :func:`redis_lock`.
    """
    return redis_lock(
        redis_url,
        ACCOUNT_LOCK_PREFIX + account_key,
        timeout_s=timeout_s,
        blocking_timeout_s=blocking_timeout_s,
    )
