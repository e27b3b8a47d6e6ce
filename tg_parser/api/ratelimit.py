"""Per-key rate limits of the HTTP API, with the GCRA limiter of :mod:`tg_parser.llm.ratelimit`.

Each key gets ``API_RATE_LIMIT_PER_MIN`` requests per minute (or its own
limit, ``api-keys create --rate-limit``), shared by every server process
through Redis when there is one, in-process otherwise. The burst is a full
minute's quota, so the policy reads as the IETF header states it: ``q``
requests per ``w`` = 60 seconds.

Headers follow draft-ietf-httpapi-ratelimit-headers (version 09,
https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/):
``RateLimit-Policy: "per-key";q=<quota>;w=60`` and
``RateLimit: "per-key";r=<remaining>;t=<seconds until full>``; a refused
request gets 429 with ``Retry-After`` (RFC 9110 §10.2.3) in whole seconds.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import structlog

from tg_parser.errors import RetryableError
from tg_parser.llm.ratelimit import PERIOD_S, Bucket, Decision, LocalRateLimiter, RedisRateLimiter

if TYPE_CHECKING:
    import redis

log = structlog.get_logger(__name__)

POLICY_NAME = "per-key"
KEY_PREFIX = "tg_parser:api:ratelimit"
"""Redis key prefix of the per-key buckets."""


class ApiRateLimits:
    """The buckets of every key, in Redis or in this process.

    Args:
        redis_url: The Redis shared by the servers, or ``None`` for in-process buckets.
    """

    def __init__(self, redis_url: str | None) -> None:
        """Keep the Redis URL; the client is made on first use."""
        self._redis_url = redis_url
        self._client: redis.Redis | None = None
        self._local: dict[tuple[str, int], LocalRateLimiter] = {}
        self._lock = threading.Lock()

    def _limiter(self, identity: str, per_min: int) -> LocalRateLimiter | RedisRateLimiter:
        buckets = (Bucket("rpm", rate=float(per_min), burst=float(per_min), period_s=PERIOD_S),)
        if self._redis_url is None:
            with self._lock:
                limiter = self._local.get((identity, per_min))
                if limiter is None:
                    limiter = LocalRateLimiter(buckets=buckets, max_wait_s=0.0)
                    self._local[(identity, per_min)] = limiter
                return limiter
        if self._client is None:
            import redis as redis_module

            self._client = redis_module.Redis.from_url(
                self._redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
        return RedisRateLimiter(
            client=self._client, key=f"{KEY_PREFIX}:{identity}:{per_min}", buckets=buckets, max_wait_s=0.0
        )

    def check(self, identity: str, *, per_min: int) -> Decision | None:
        """Count one request of ``identity``; ``None`` when it has no limit or the limiter is unreachable.

        A Redis outage lets requests through (logged): the limit protects the
        service, it must not take it down.

        Args:
            identity: The key id (or ``anon:<address>`` for requests without a valid key).
            per_min: Its requests per minute (0: unlimited).
        """
        if per_min <= 0:
            return None
        try:
            return self._limiter(identity, per_min).try_acquire()
        except RetryableError as exc:
            log.warning("api_rate_limiter_unavailable", error=str(exc))
            return None


def rate_limit_headers(decision: Decision, *, per_min: int) -> dict[str, str]:
    """Return the ``RateLimit-Policy`` and ``RateLimit`` headers (and ``Retry-After`` if refused)."""
    headers = {
        "RateLimit-Policy": f'"{POLICY_NAME}";q={per_min};w={int(PERIOD_S)}',
        "RateLimit": f'"{POLICY_NAME}";r={decision.remaining};t={math.ceil(decision.reset_s)}',
    }
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after_s)))
    return headers
