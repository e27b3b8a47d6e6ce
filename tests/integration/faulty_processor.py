"""A slow, deliberately failing processor for fault-tolerance tests.

Workers load it through ``PROCESSOR_FACTORY=tests.integration.faulty_processor:build``
(they run with the project root as working directory, so ``tests`` is
importable). It wraps :class:`~tg_parser.processing.offline.OfflineProcessor`
and, per post:

* sleeps ``FAULTY_DELAY_S`` seconds (so a test can strike mid-run);
* fails deterministically for a share ``FAULTY_RATE`` of posts chosen by a hash
  of the post text (:func:`fault_for`, which the tests call too, so they know
  in advance which posts fail and how);
* ``FAULTY_KIND`` = ``retryable`` (fails on the first attempt only),
  ``permanent`` (always fails) or ``mixed`` (half of the chosen posts each).

Attempts are counted across worker processes with a Redis ``INCR`` per post at
``FAULTY_REDIS_URL`` (an in-memory set would not survive a redelivery to
another process).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import TYPE_CHECKING, Literal

from tg_parser.errors import PermanentError, RetryableError
from tg_parser.processing.offline import OFFLINE_MODEL, OFFLINE_RULES_VERSION, OfflineProcessor

if TYPE_CHECKING:
    from redis import Redis

    from tg_parser.config import Settings
    from tg_parser.domain import Message
    from tg_parser.processing.base import ProcessingResult

FaultKind = Literal["retryable", "permanent"]

ATTEMPTS_KEY = "tg_parser:test:faulty:attempts:{channel_id}:{message_id}"
"""Redis key counting processing attempts of one post."""

_BUCKETS = 10_000


def fault_for(text: str, *, rate: float, kind: str) -> FaultKind | None:
    """Return the fault injected for a post with ``text``, or ``None``.

    A post is faulty when the first 8 bytes of ``sha256(text)``, taken modulo
    10 000, fall below ``rate * 10 000``; with ``kind="mixed"`` the parity of the
    next byte splits faulty posts into retryable and permanent ones.

    Args:
        text: The post text exactly as stored (the flattened export text).
        rate: Share of faulty posts, 0 to 1.
        kind: ``retryable``, ``permanent`` or ``mixed``.

    Returns:
        ``"retryable"``, ``"permanent"`` or ``None`` for a healthy post.

    Raises:
        ValueError: For an unknown ``kind``.
    """
    if kind not in {"retryable", "permanent", "mixed"}:
        msg = f"FAULTY_KIND must be retryable, permanent or mixed, not {kind!r}"
        raise ValueError(msg)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    if int.from_bytes(digest[:8], "big") % _BUCKETS >= rate * _BUCKETS:
        return None
    if kind == "mixed":
        return "retryable" if digest[8] % 2 == 0 else "permanent"
    return kind  # type: ignore[return-value]


class FaultyProcessor:
    """The offline processor, slowed down and failing on purpose.

    Args:
        delay_s: Sleep before each post, in seconds.
        rate: Share of faulty posts (see :func:`fault_for`).
        kind: ``retryable``, ``permanent`` or ``mixed``.
        redis_url: Redis holding the per-post attempt counters.
    """

    name = "offline"
    model = f"{OFFLINE_MODEL}+faulty"
    prompt_version = OFFLINE_RULES_VERSION

    def __init__(self, *, delay_s: float, rate: float, kind: str, redis_url: str | None) -> None:
        """Store the configuration; Redis is connected on the first retryable fault."""
        self.delay_s = delay_s
        self.rate = rate
        self.kind = kind
        self.redis_url = redis_url
        self._inner = OfflineProcessor()
        self._redis: Redis | None = None

    def _attempt(self, message: Message) -> int:
        import redis

        if self._redis is None:
            if not self.redis_url:
                msg = "FAULTY_REDIS_URL is required for retryable faults"
                raise PermanentError(msg)
            self._redis = redis.Redis.from_url(self.redis_url)
        key = ATTEMPTS_KEY.format(channel_id=message.channel_id, message_id=message.message_id)
        return int(self._redis.incr(key))

    def process(self, message: Message) -> ProcessingResult:
        """Sleep, maybe fail, then process like the offline processor.

        Raises:
            RetryableError: On the first attempt of a post chosen as retryable.
            PermanentError: Always for a post chosen as permanent.
        """
        if self.delay_s > 0:
            time.sleep(self.delay_s)
        fault = fault_for(message.text, rate=self.rate, kind=self.kind) if self.rate > 0 else None
        if fault == "permanent":
            msg = f"injected permanent fault for message {message.message_id}"
            raise PermanentError(msg)
        if fault == "retryable" and self._attempt(message) == 1:
            msg = f"injected retryable fault for message {message.message_id}"
            raise RetryableError(msg)
        return self._inner.process(message)


def build(settings: Settings) -> FaultyProcessor:
    """``PROCESSOR_FACTORY`` entry point: a :class:`FaultyProcessor` configured from ``FAULTY_*``."""
    return FaultyProcessor(
        delay_s=float(os.environ.get("FAULTY_DELAY_S", "0")),
        rate=float(os.environ.get("FAULTY_RATE", "0")),
        kind=os.environ.get("FAULTY_KIND", "mixed"),
        redis_url=os.environ.get("FAULTY_REDIS_URL"),
    )
