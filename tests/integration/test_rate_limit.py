"""The Redis GCRA rate limiter shared by real OS processes."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid

import pytest
import redis

from tests.conftest import missing
from tg_parser.config.llm import LLMSettings
from tg_parser.errors import RetryableError
from tg_parser.llm.ratelimit import RedisRateLimiter, buckets_for, build_rate_limiter

REDIS_URL = os.environ.get("TEST_LLM_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_client():
    """Yield a client of the test Redis database; fail in CI, skip locally, when Redis is down."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing(f"Redis unreachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client):
    """Yield a unique key prefix and delete its keys afterwards."""
    value = f"test:tg_parser:rl:{uuid.uuid4().hex}"
    yield value
    for key in redis_client.scan_iter(f"{value}*"):
        redis_client.delete(key)


def _worker(url: str, key: str, limit: int, period_s: float, run_s: float, out) -> None:  # noqa: PLR0917
    """Acquire grants in a loop for run_s seconds and report their Redis timestamps."""
    limiter = RedisRateLimiter(
        client=redis.Redis.from_url(url),
        key=key,
        buckets=buckets_for(rpm=limit, tpm=0, period_s=period_s),
        max_wait_s=10,
    )
    stamps = []
    deadline = time.monotonic() + run_s
    while time.monotonic() < deadline:
        stamps.append(limiter.acquire().granted_at_s)
    out.put((os.getpid(), stamps))


def test_processes_together_never_exceed_the_limit(prefix):
    """Four OS processes sharing one key never get more than N grants in any window of one period."""
    limit, period_s, run_s, workers = 10, 1.0, 3.0, 4
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(REDIS_URL, f"{prefix}:openai", limit, period_s, run_s, out))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    pids = {pid for pid, _ in results}
    stamps = sorted(s for _, batch in results for s in batch)
    assert len(pids) == workers
    worst = max(sum(1 for s in stamps if t0 <= s < t0 + period_s) for t0 in stamps)
    assert worst <= limit
    # the limit is used, not starved: about limit/period grants per second over the run
    assert len(stamps) >= 0.8 * limit * run_s / period_s
    assert sum(1 for _, batch in results if batch) >= 2  # more than one process was served


def test_wait_beyond_max_is_retryable(redis_client, prefix):
    """A wait longer than the max wait raises RetryableError with the wait, without sleeping."""
    limiter = RedisRateLimiter(
        client=redis_client, key=prefix, buckets=buckets_for(rpm=6, tpm=0), max_wait_s=1.0
    )
    limiter.acquire()
    start = time.monotonic()
    with pytest.raises(RetryableError) as info:
        limiter.acquire()
    assert info.value.retry_after_s == pytest.approx(10.0, abs=0.5)
    assert time.monotonic() - start < 0.5


def test_tokens_and_requests_are_consumed_together(redis_client, prefix):
    """A call refused by the token bucket consumes nothing from the request bucket."""
    limiter = RedisRateLimiter(
        client=redis_client, key=prefix, buckets=buckets_for(rpm=600, tpm=1000, burst=5), max_wait_s=0.0
    )
    limiter.acquire(tokens=900)
    with pytest.raises(RetryableError):
        limiter.acquire(tokens=900)
    assert redis_client.exists(f"{prefix}:rpm")
    rpm_tat = float(redis_client.get(f"{prefix}:rpm"))
    with pytest.raises(RetryableError):
        limiter.acquire(tokens=900)
    assert float(redis_client.get(f"{prefix}:rpm")) == rpm_tat


def test_settings_with_redis_url_build_the_shared_limiter(redis_client, prefix):
    """LLM_RATE_LIMIT_REDIS_URL (or a Redis broker) gives the Redis limiter keyed per provider."""
    settings = LLMSettings(
        _env_file=None, llm_rpm=60, llm_rate_limit_redis_url=REDIS_URL, llm_rate_limit_prefix=prefix
    )
    limiter = build_rate_limiter(settings, provider="gemini", redis_url=None)
    assert isinstance(limiter, RedisRateLimiter)
    limiter.acquire()
    assert redis_client.exists(f"{prefix}:gemini:rpm")


def test_unreachable_redis_is_retryable():
    """A limiter whose Redis is down raises RetryableError, not a redis-py exception."""
    limiter = RedisRateLimiter(
        client=redis.Redis.from_url("redis://127.0.0.1:1/15", socket_connect_timeout=0.5),
        key="unused",
        buckets=buckets_for(rpm=60, tpm=0),
        max_wait_s=1,
    )
    with pytest.raises(RetryableError, match="Redis unavailable"):
        limiter.acquire()
