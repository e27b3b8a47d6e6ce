"""Turning HTTP failures of any provider into our error tree.

408, 409, 429 and 5xx, timeouts and connection errors are retryable; the wait
the server names (``retry-after-ms``, ``Retry-After`` in seconds or as an HTTP
date) travels as ``retry_after_s``. Every other 4xx is permanent.

Sources:
    RFC 9110 §10.2.3 Retry-After: https://www.rfc-editor.org/rfc/rfc9110#field.retry-after
    OpenAI error codes: https://platform.openai.com/docs/guides/error-codes
    Anthropic errors: https://docs.anthropic.com/en/api/errors
"""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING

from tg_parser.errors import PermanentError, RetryableError

if TYPE_CHECKING:
    from collections.abc import Mapping

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""4xx statuses worth retrying; every 5xx is retryable as well."""

_FIRST_SERVER_ERROR = 500


def parse_retry_after(headers: Mapping[str, str] | None, *, now_s: float | None = None) -> float | None:
    """Return the wait in seconds a response asks for, or ``None``.

    ``retry-after-ms`` (OpenAI, Anthropic) wins over ``Retry-After``, which may
    be delta-seconds or an HTTP date.

    Args:
        headers: Response headers (case-insensitive mapping or plain dict).
        now_s: Current Unix time in seconds, for HTTP dates (default: now).

    Returns:
        Seconds to wait (≥ 0), or ``None`` when no usable header is present.

    """
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def is_retryable_status(status: int) -> bool:
    """Return whether an HTTP status is worth retrying (408, 409, 429, 5xx).

    Args:
        status: HTTP status code.

    """
    return status in RETRYABLE_STATUSES or status >= _FIRST_SERVER_ERROR


def error_for_status(
    *, provider: str, status: int, message: str, headers: Mapping[str, str] | None = None
) -> RetryableError | PermanentError:
    """Build our error for an HTTP failure of a provider.

    Args:
        provider: Provider name, for the message.
        status: HTTP status code (``-1`` or ``0`` when unknown counts as retryable).
        message: The provider's error text.
        headers: Response headers, read for ``Retry-After``.

    Returns:
        A :class:`RetryableError` (with ``retry_after_s``) or a :class:`PermanentError`.

    """
    text = f"{provider} HTTP {status}: {message[:500]}"
    if status <= 0 or is_retryable_status(status):
        return RetryableError(text, retry_after_s=parse_retry_after(headers))
    return PermanentError(text)
