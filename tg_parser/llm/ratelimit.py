"""Rate limit of LLM calls per provider: requests and tokens per minute.

The algorithm is GCRA (the generic cell rate algorithm, a token bucket
expressed as one "theoretical arrival time" per key), as described by Brandur
Leach, https://brandur.org/rate-limiting, and implemented for Redis in
rwz/redis-gcra (MIT), https://github.com/rwz/redis-gcra/blob/master/vendor/perform_gcra_ratelimit.lua.
Our script checks the request bucket and the token bucket together and
consumes from both or neither, atomically, on Redis's own clock (``TIME``),
so every worker of a cluster shares one limit whatever their clocks say.

For ``rate`` grants per ``period`` the emission interval is ``T = period / rate``;
with a burst of ``B`` the tolerance is ``τ = B·T``. A grant of cost ``c`` at
time ``now`` is allowed when ``max(tat, now) + c·T - τ ≤ now``, and then
``tat ← max(tat, now) + c·T``. Any interval of length ``t`` then holds at most
``B + t/T`` grants; with the default ``B = 1``, grants are at least ``T`` apart
and any window of one period holds at most ``rate``.

Without Redis (embedded mode) :class:`LocalRateLimiter` applies the same
arithmetic in-process under a lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tg_parser.errors import RetryableError

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis

    from tg_parser.config.llm import LLMSettings

PERIOD_S = 60.0
"""Period of ``LLM_RPM`` and ``LLM_TPM``."""

GCRA_LUA = """
-- GCRA over several buckets at once; after rwz/redis-gcra (MIT).
-- KEYS[i]: bucket i. ARGV[1]: '1' to consume even when over the limit.
-- ARGV[2+3(i-1)..4+3(i-1)]: emission interval (s), tolerance (s), cost of bucket i.
-- Returns {allowed, wait (s), now (s), held (s)}: held is the largest tat - now after the call.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local force = ARGV[1] == '1'
local new_tats = {}
local wait = 0
local held = 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 + (i - 1) * 3])
  local tolerance = tonumber(ARGV[3 + (i - 1) * 3])
  local cost = tonumber(ARGV[4 + (i - 1) * 3])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat < now then tat = now end
  if tat - now > held then held = tat - now end
  local new_tat = tat + interval * cost
  local diff = new_tat - tolerance - now
  if diff > wait then wait = diff end
  new_tats[i] = new_tat
end
if wait > 0 and not force then
  return {0, string.format('%.6f', wait), string.format('%.6f', now), string.format('%.6f', held)}
end
held = 0
for i = 1, #KEYS do
  local ttl_ms = math.ceil((new_tats[i] - now) * 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.6f', new_tats[i]), 'PX', ttl_ms)
  if new_tats[i] - now > held then held = new_tats[i] - now end
end
return {1, '0', string.format('%.6f', now), string.format('%.6f', held)}
"""


@dataclass(frozen=True)
class Bucket:
    """One GCRA bucket.

    Attributes:
        name: Suffix of the bucket's key (``rpm`` or ``tpm``).
        rate: Grants (requests or tokens) per period.
        burst: Grants that may go at once.
        period_s: Length of the period in seconds.

    """

    name: str
    rate: float
    burst: float
    period_s: float = PERIOD_S

    @property
    def interval_s(self) -> float:
        """Emission interval ``T = period / rate`` in seconds."""
        return self.period_s / self.rate

    @property
    def tolerance_s(self) -> float:
        """Tolerance ``τ = burst · T`` in seconds."""
        return self.burst * self.interval_s


@dataclass(frozen=True)
class Grant:
    """A permission to call.

    Attributes:
        granted_at_s: Time of the grant on the limiter's clock (Redis ``TIME`` or monotonic), seconds.
        waited_s: How long the caller slept for it.

    """

    granted_at_s: float
    waited_s: float


@dataclass(frozen=True)
class Decision:
    """The answer of :meth:`_GCRALimiter.try_acquire` for one request.

    Attributes:
        allowed: Whether the request may go now (it was counted).
        retry_after_s: When refused, seconds until it would be allowed.
        remaining: Requests that may still go at once after this one.
        reset_s: Seconds until the bucket is full again.

    """

    allowed: bool
    retry_after_s: float
    remaining: int
    reset_s: float


class RateLimiter(Protocol):
    """Limits calls to one provider."""

    def acquire(self, *, tokens: int = 0) -> Grant:
        """Block until one request of ``tokens`` estimated tokens is allowed.

        Args:
            tokens: Estimated tokens of the call (0 when unknown or no token limit).

        Returns:
            The grant.

        Raises:
            RetryableError: The wait would exceed the limiter's max wait, or its store is unreachable.

        """
        ...

    def charge(self, *, tokens: int) -> None:
        """Consume ``tokens`` more from the token bucket without waiting (actual use above the estimate).

        Args:
            tokens: Extra tokens (ignored when ≤ 0).

        """
        ...


class _GCRALimiter:
    """The waiting loop shared by the Redis and the local limiter."""

    def __init__(
        self,
        *,
        buckets: tuple[Bucket, ...],
        max_wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.buckets = buckets
        self.max_wait_s = max_wait_s
        self._sleep = sleep

    def _costs(self, tokens: int) -> list[float]:
        costs = []
        for bucket in self.buckets:
            if bucket.name == "tpm":
                costs.append(float(min(max(tokens, 0), bucket.burst)))
            else:
                costs.append(1.0)
        return costs

    def _attempt(self, costs: list[float], *, force: bool) -> tuple[bool, float, float, float]:
        """Try one grant: ``(allowed, wait_s, now_s, held_s)``; ``held_s`` = largest ``tat - now`` after."""
        raise NotImplementedError

    def try_acquire(self) -> Decision:
        """Take one request from the request bucket now, or say how long until one is free; never waits.

        Returns:
            The decision, with what is left of the burst and when the bucket is full again.
        """
        if not self.buckets:
            return Decision(allowed=True, retry_after_s=0.0, remaining=0, reset_s=0.0)
        allowed, wait_s, _now, held_s = self._attempt(self._costs(0), force=False)
        bucket = self.buckets[0]
        remaining = int(max(0.0, bucket.tolerance_s - held_s) // bucket.interval_s) if allowed else 0
        return Decision(allowed=allowed, retry_after_s=wait_s, remaining=remaining, reset_s=held_s)

    def acquire(self, *, tokens: int = 0) -> Grant:
        """Block until allowed. See :meth:`RateLimiter.acquire`."""
        if not self.buckets:
            return Grant(granted_at_s=time.time(), waited_s=0.0)
        costs = self._costs(tokens)
        waited = 0.0
        while True:
            allowed, wait_s, now, _held = self._attempt(costs, force=False)
            if allowed:
                return Grant(granted_at_s=now, waited_s=waited)
            if waited + wait_s > self.max_wait_s:
                msg = (
                    f"LLM rate limit: next slot in {wait_s:.2f}s, over LLM_RATE_LIMIT_MAX_WAIT_S="
                    f"{self.max_wait_s}s"
                )
                raise RetryableError(msg, retry_after_s=wait_s)
            self._sleep(wait_s)
            waited += wait_s

    def charge(self, *, tokens: int) -> None:
        """Consume extra tokens. See :meth:`RateLimiter.charge`."""
        if tokens <= 0 or not any(b.name == "tpm" for b in self.buckets):
            return
        costs = [float(min(tokens, b.burst)) if b.name == "tpm" else 0.0 for b in self.buckets]
        self._attempt(costs, force=True)


class RedisRateLimiter(_GCRALimiter):
    """GCRA limiter shared by every process that uses the same Redis keys.

    Args:
        client: A redis-py client.
        key: Key prefix of this limiter (``<LLM_RATE_LIMIT_PREFIX>:<provider>``).
        buckets: The buckets to apply together.
        max_wait_s: Longest total sleep in :meth:`acquire` before ``RetryableError``.
        sleep: Sleep function (tests may replace it).

    """

    def __init__(
        self,
        *,
        client: redis.Redis,
        key: str,
        buckets: tuple[Bucket, ...],
        max_wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Initialise; the arguments are described in the class docstring."""
        super().__init__(buckets=buckets, max_wait_s=max_wait_s, sleep=sleep)
        self.key = key
        self._client = client
        self._script = client.register_script(GCRA_LUA)

    def _attempt(self, costs: list[float], *, force: bool) -> tuple[bool, float, float, float]:
        import redis as redis_module

        keys = [f"{self.key}:{b.name}" for b in self.buckets]
        args: list[str] = ["1" if force else "0"]
        for bucket, cost in zip(self.buckets, costs, strict=True):
            args += [repr(bucket.interval_s), repr(bucket.tolerance_s), repr(cost)]
        try:
            allowed, wait_s, now, held = self._script(keys=keys, args=args)
        except redis_module.RedisError as exc:
            msg = f"rate limiter: Redis unavailable: {exc}"
            raise RetryableError(msg) from exc
        return int(allowed) == 1, float(wait_s), float(now), float(held)


class LocalRateLimiter(_GCRALimiter):
    """GCRA limiter for one process (embedded mode); thread-safe.

    Args:
        buckets: The buckets to apply together.
        max_wait_s: Longest total sleep in :meth:`acquire` before ``RetryableError``.
        clock: Monotonic clock in seconds.
        sleep: Sleep function.

    """

    def __init__(
        self,
        *,
        buckets: tuple[Bucket, ...],
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Initialise; the arguments are described in the class docstring."""
        super().__init__(buckets=buckets, max_wait_s=max_wait_s, sleep=sleep)
        self._clock = clock
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}

    def _attempt(self, costs: list[float], *, force: bool) -> tuple[bool, float, float, float]:
        with self._lock:
            now = self._clock()
            wait = 0.0
            held = 0.0
            new_tats: dict[str, float] = {}
            for bucket, cost in zip(self.buckets, costs, strict=True):
                tat = max(self._tats.get(bucket.name, now), now)
                held = max(held, tat - now)
                new_tat = tat + bucket.interval_s * cost
                wait = max(wait, new_tat - bucket.tolerance_s - now)
                new_tats[bucket.name] = new_tat
            if wait > 0 and not force:
                return False, wait, now, held
            self._tats.update(new_tats)
            return True, 0.0, now, max(t - now for t in new_tats.values())


def buckets_for(*, rpm: int, tpm: int, burst: int = 1, period_s: float = PERIOD_S) -> tuple[Bucket, ...]:
    """Return the buckets of a limit (none for 0 = unlimited).

    Args:
        rpm: Requests per period (0 = no request limit).
        tpm: Tokens per period (0 = no token limit); its burst is a full period's worth.
        burst: Requests that may go at once.
        period_s: Period in seconds (60 for per-minute limits; tests scale it down).

    Returns:
        The buckets.

    """
    out: list[Bucket] = []
    if rpm > 0:
        out.append(Bucket("rpm", rate=float(rpm), burst=float(burst), period_s=period_s))
    if tpm > 0:
        out.append(Bucket("tpm", rate=float(tpm), burst=float(tpm), period_s=period_s))
    return tuple(out)


def build_rate_limiter(settings: LLMSettings, *, provider: str, redis_url: str | None) -> RateLimiter:
    """Build the limiter of a provider from settings.

    Shared by all workers in Redis when ``LLM_RATE_LIMIT_REDIS_URL`` or
    ``redis_url`` names one; otherwise in-process.

    Args:
        settings: LLM settings (``LLM_RPM``, ``LLM_TPM``, ``LLM_RATE_LIMIT_*``).
        provider: Provider name; each provider has its own limit.
        redis_url: The application's Redis (``settings.redis_url`` of
            :class:`tg_parser.config.Settings`), used unless
            ``LLM_RATE_LIMIT_REDIS_URL`` overrides it; ``None`` when there is none.

    Returns:
        The limiter (one with no buckets never waits).

    """
    buckets = buckets_for(rpm=settings.llm_rpm, tpm=settings.llm_tpm, burst=settings.llm_rate_limit_burst)
    url = settings.llm_rate_limit_redis_url or redis_url
    if url and buckets:
        import redis as redis_module

        client = redis_module.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        return RedisRateLimiter(
            client=client,
            key=f"{settings.llm_rate_limit_prefix}:{provider}",
            buckets=buckets,
            max_wait_s=settings.llm_rate_limit_max_wait_s,
        )
    return LocalRateLimiter(buckets=buckets, max_wait_s=settings.llm_rate_limit_max_wait_s)
