"""Tests of HTTP failure classification and Retry-After parsing."""

from __future__ import annotations

import email.utils

import pytest

from tg_parser.errors import PermanentError, RetryableError
from tg_parser.llm.failures import error_for_status, parse_retry_after


def test_retry_after_seconds():
    """Retry-After in delta-seconds is read as seconds."""
    assert parse_retry_after({"Retry-After": "7"}) == 7.0


def test_retry_after_ms_wins():
    """retry-after-ms is more precise and wins over Retry-After."""
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_http_date():
    """Retry-After as an HTTP date gives the seconds until that date."""
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now_s=now) == pytest.approx(30.0, abs=1.0)


def test_retry_after_in_the_past_is_zero():
    """A date already past means no wait, not a negative one."""
    header = email.utils.formatdate(1_000_000_000, usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now_s=1_700_000_000.0) == 0.0


@pytest.mark.parametrize("headers", [None, {}, {"retry-after": "soon"}, {"x-other": "1"}])
def test_retry_after_absent_or_garbage_is_none(headers):
    """Missing or unparseable headers name no wait."""
    assert parse_retry_after(headers) is None


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retryable(status):
    """408, 409, 429 and 5xx become RetryableError."""
    err = error_for_status(provider="openai", status=status, message="x", headers={"retry-after": "3"})
    assert isinstance(err, RetryableError)
    assert err.retry_after_s == 3.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_permanent(status):
    """Any other 4xx becomes PermanentError."""
    err = error_for_status(provider="anthropic", status=status, message="bad")
    assert isinstance(err, PermanentError)
    assert str(status) in str(err)
