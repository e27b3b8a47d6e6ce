"""Tests of the in-process GCRA rate limiter (embedded mode)."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tg_parser.config.llm import LLMSettings
from tg_parser.errors import RetryableError
from tg_parser.llm.ratelimit import LocalRateLimiter, RedisRateLimiter, buckets_for, build_rate_limiter


class FakeClock:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        """Initialise; the arguments are described in the class docstring."""
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the clock instead of sleeping."""
        self.slept.append(seconds)
        self.now += seconds


def test_requests_are_spaced_by_the_emission_interval():
    """At 60 RPM with burst 1, grants come one second apart."""
    clock = FakeClock()
    limiter = LocalRateLimiter(
        buckets=buckets_for(rpm=60, tpm=0), max_wait_s=10, clock=clock, sleep=clock.sleep
    )
    grants = [limiter.acquire().granted_at_s for _ in range(5)]
    assert [round(b - a, 6) for a, b in itertools.pairwise(grants)] == [1.0] * 4


def test_burst_lets_requests_go_at_once():
    """A burst of 3 lets three requests through without waiting."""
    clock = FakeClock()
    limiter = LocalRateLimiter(
        buckets=buckets_for(rpm=60, tpm=0, burst=3), max_wait_s=10, clock=clock, sleep=clock.sleep
    )
    for _ in range(3):
        limiter.acquire()
    assert clock.slept == []
    limiter.acquire()
    assert clock.slept == [pytest.approx(1.0)]


def test_wait_over_the_max_is_retryable_with_the_wait():
    """When the next slot is further than the max wait, RetryableError names the wait."""
    clock = FakeClock()
    limiter = LocalRateLimiter(
        buckets=buckets_for(rpm=6, tpm=0), max_wait_s=5, clock=clock, sleep=clock.sleep
    )
    limiter.acquire()
    with pytest.raises(RetryableError) as info:
        limiter.acquire()
    assert info.value.retry_after_s == pytest.approx(10.0)
    assert clock.slept == []


def test_token_bucket_limits_tokens_per_minute():
    """With 1000 TPM, two 600-token calls cannot both go in the same minute."""
    clock = FakeClock()
    limiter = LocalRateLimiter(
        buckets=buckets_for(rpm=0, tpm=1000), max_wait_s=120, clock=clock, sleep=clock.sleep
    )
    limiter.acquire(tokens=600)
    limiter.acquire(tokens=600)
    assert sum(clock.slept) == pytest.approx(12.0)  # 200 tokens over capacity at 1000/60 s per token


def test_charge_consumes_tokens_used_beyond_the_estimate():
    """Tokens used beyond the estimate delay the next call."""
    clock = FakeClock()
    limiter = LocalRateLimiter(
        buckets=buckets_for(rpm=0, tpm=600), max_wait_s=120, clock=clock, sleep=clock.sleep
    )
    limiter.acquire(tokens=300)
    limiter.charge(tokens=300)
    limiter.acquire(tokens=60)
    assert sum(clock.slept) == pytest.approx(6.0)


def test_no_limits_never_wait():
    """With LLM_RPM=0 and LLM_TPM=0 the limiter lets everything through."""
    limiter = build_rate_limiter(LLMSettings(llm_rpm=0, llm_tpm=0), provider="openai", redis_url=None)
    start = time.monotonic()
    for _ in range(100):
        limiter.acquire(tokens=10_000)
    assert time.monotonic() - start < 0.5


def test_embedded_mode_builds_local_limiter(monkeypatch):
    """Without Redis configured the limiter is in-process."""
    monkeypatch.delenv("LLM_RATE_LIMIT_REDIS_URL", raising=False)
    limiter = build_rate_limiter(LLMSettings(llm_rpm=60), provider="openai", redis_url=None)
    assert isinstance(limiter, LocalRateLimiter)


def test_the_application_redis_shares_the_limit(monkeypatch):
    """Given settings.redis_url the limiter lives in that Redis; LLM_RATE_LIMIT_REDIS_URL wins over it."""
    monkeypatch.delenv("LLM_RATE_LIMIT_REDIS_URL", raising=False)
    shared = build_rate_limiter(LLMSettings(llm_rpm=60), provider="openai", redis_url="redis://app:6379/0")
    assert isinstance(shared, RedisRateLimiter)
    assert shared._client.connection_pool.connection_kwargs["host"] == "app"  # noqa: SLF001
    override = build_rate_limiter(
        LLMSettings(llm_rpm=60, llm_rate_limit_redis_url="redis://limiter:6379/3"),
        provider="openai",
        redis_url="redis://app:6379/0",
    )
    assert isinstance(override, RedisRateLimiter)
    assert override._client.connection_pool.connection_kwargs["host"] == "limiter"  # noqa: SLF001


def test_threads_share_one_local_limit():
    """Eight threads together never exceed 10 grants in any 0.5 s window."""
    limit, period = 10, 0.5
    limiter = LocalRateLimiter(buckets=buckets_for(rpm=limit, tpm=0, period_s=period), max_wait_s=5)
    stamps: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 1.2

    def work() -> None:
        while time.monotonic() < deadline:
            grant = limiter.acquire()
            with lock:
                stamps.append(grant.granted_at_s)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    worst = max(sum(1 for s in stamps if t0 <= s < t0 + period) for t0 in stamps)
    assert worst <= limit
    assert len(stamps) >= 20  # the limit is used, not starved
