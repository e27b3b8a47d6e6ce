"""The per-account Telegram lock against the real Redis at 127.0.0.1:6379, database 15."""

# Test helpers and fakes need no docstrings; every test has one.
# ruff: noqa: D103

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
import redis

from tests.conftest import missing
from tg_parser.config.telegram import TelegramSettings
from tg_parser.errors import RetryableError
from tg_parser.sources.locks import ACCOUNT_LOCK_PREFIX, account_lock

REDIS_URL = os.environ.get("TG_PARSER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_url():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        missing(f"Redis not reachable at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


def test_second_worker_cannot_take_a_held_account_lock(redis_url) -> None:
    """While one worker holds an account's lock, another gets RetryableError with the wait; then it can."""
    key = TelegramSettings(api_id=1, session=f"session-{uuid.uuid4()}").account_key()
    with account_lock(redis_url, key, timeout_s=5, blocking_timeout_s=0.2) as held:
        assert held.name == ACCOUNT_LOCK_PREFIX + key
        second = account_lock(redis_url, key, timeout_s=5, blocking_timeout_s=0.2)
        with pytest.raises(RetryableError, match="held by another worker") as busy:
            second.__enter__()
        assert busy.value.retry_after_s is not None
        assert 0 < busy.value.retry_after_s <= 5
    with account_lock(redis_url, key, timeout_s=5, blocking_timeout_s=0.2) as again:
        assert not again.lost
    assert redis.Redis.from_url(redis_url).exists(ACCOUNT_LOCK_PREFIX + key) == 0


def test_lock_is_extended_while_held_beyond_its_timeout(redis_url) -> None:
    """A holder working longer than the lock timeout keeps it (the keeper extends it), so no one steals it."""
    key = f"test:{uuid.uuid4()}"
    stolen = threading.Event()
    with account_lock(redis_url, key, timeout_s=1.0, blocking_timeout_s=0.1) as held:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                with account_lock(redis_url, key, timeout_s=1.0, blocking_timeout_s=0.1):
                    stolen.set()
            except RetryableError:
                pass
            time.sleep(0.2)
        assert not held.lost
    assert not stolen.is_set()


def test_lock_of_a_dead_worker_expires(redis_url) -> None:
    """A lock whose holder died (never released, never extended) frees itself after its timeout."""
    key = f"test:{uuid.uuid4()}"
    client = redis.Redis.from_url(redis_url)
    client.set(ACCOUNT_LOCK_PREFIX + key, "dead-worker-token", px=500)
    early = account_lock(redis_url, key, timeout_s=1, blocking_timeout_s=0.05)
    with pytest.raises(RetryableError):
        early.__enter__()
    with account_lock(redis_url, key, timeout_s=1, blocking_timeout_s=1.0) as held:
        assert not held.lost
    client.close()
