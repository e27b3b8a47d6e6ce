"""Periods (``15m``, ``1h``, ``7d``) and "since" moments, parsed once for every front door."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tg_parser.errors import InputError

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PERIOD_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$", re.IGNORECASE)


def parse_period(text: str) -> timedelta:
    """Parse a period: a number with a unit ``s``, ``m``, ``h``, ``d`` or ``w`` (bare numbers are seconds).

    Args:
        text: ``90s``, ``15m``, ``1.5h``, ``7d``, ``2w`` or ``3600``.

    Returns:
        The period, longer than zero.

    Raises:
        InputError: Not a period, or zero.
    """
    match = _PERIOD_RE.match(text.strip())
    if match is None:
        msg = f"{text!r} is not a period like 90s, 15m, 1h, 7d or 2w"
        raise InputError(msg)
    seconds = float(match.group(1)) * _UNITS_S[(match.group(2) or "s").lower()]
    if seconds <= 0:
        msg = f"{text!r} is not a period longer than zero"
        raise InputError(msg)
    return timedelta(seconds=seconds)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a "since" moment: an ISO 8601 date/time (UTC when it has no zone) or a period back from now.

    Args:
        text: ``2024-05-01``, ``2024-05-01T10:00:00+03:00``, ``7d``, ``12h``.
        now: The present, time-zone aware (default: the clock).

    Returns:
        A time-zone aware moment.

    Raises:
        InputError: Neither form.
    """
    value = text.strip()
    if _PERIOD_RE.match(value) and value[-1:].isalpha():
        return (now or datetime.now(UTC)) - parse_period(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        msg = f"{text!r} is neither an ISO date/time nor a period like 7d"
        raise InputError(msg) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
