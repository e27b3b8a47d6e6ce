"""Rules written once in the domain: channel references, periods and the run lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from tg_parser.domain.channel_refs import RefKind, parse_channel_ref
from tg_parser.domain.periods import parse_period, parse_since
from tg_parser.domain.runs import (
    ACTIVE_RUN_STATES,
    RUN_TRANSITIONS,
    TERMINAL_RUN_STATES,
    ItemStatus,
    RunStatus,
    TransitionError,
    check_item_transition,
    check_run_transition,
)
from tg_parser.errors import InputError


@pytest.mark.parametrize(
    "reference",
    [
        "@durov",
        "durov",
        "Durov",
        "t.me/durov",
        "https://t.me/durov",
        "https://t.me/durov/123",
        "https://t.me/s/durov",
        "https://t.me/s/durov/45",
        "http://telegram.me/durov/",
        "tg://resolve?domain=durov",
        "tg://resolve?domain=durov&post=9",
    ],
)
def test_every_username_form_gives_the_same_key(reference: str) -> None:
    """@name, bare names, t.me links (post, /s/ preview) and tg://resolve all name channel ``durov``."""
    ref = parse_channel_ref(reference)
    assert (ref.kind, ref.key) == (RefKind.USERNAME, "durov")


@pytest.mark.parametrize(
    ("reference", "kind", "telegram_id", "post_id"),
    [
        ("https://t.me/c/1878264527/10", RefKind.CHANNEL_ID, 1878264527, 10),
        ("t.me/c/1878264527", RefKind.CHANNEL_ID, 1878264527, None),
        ("1878264527", RefKind.CHANNEL_ID, 1878264527, None),
        ("-1001878264527", RefKind.CHANNEL_ID, 1878264527, None),
        (-1001878264527, RefKind.CHANNEL_ID, 1878264527, None),
        ("-4567", RefKind.CHAT_ID, 4567, None),
    ],
)
def test_numeric_ids_and_private_links(
    reference: str | int, kind: RefKind, telegram_id: int, post_id: int | None
) -> None:
    """Bot API ids, bare ids and t.me/c/ links name the same channel; negative short ids are basic groups."""
    ref = parse_channel_ref(reference)
    assert (ref.kind, ref.telegram_id, ref.post_id) == (kind, telegram_id, post_id)
    assert ref.key == f"c{telegram_id}"


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("https://t.me/+AbCdEf", "invite link"),
        ("t.me/joinchat/AbCdEf", "invite link"),
        ("not a name!", "not a channel username"),
        ("ab", "not a channel username"),
        ("", "empty"),
        ("0", "not a Telegram chat id"),
        ("tg://msg?text=hi", "tg://resolve"),
    ],
)
def test_bad_references_are_refused_with_the_reason(reference: str, reason: str) -> None:
    """Invite links, short or malformed names and unknown tg:// links raise InputError saying why."""
    with pytest.raises(InputError, match=reason):
        parse_channel_ref(reference)


def test_periods_and_since() -> None:
    """Periods take s/m/h/d/w (bare numbers are seconds); since is ISO (UTC when naive) or a period back."""
    assert parse_period("15m") == timedelta(minutes=15)
    assert parse_period("1.5h") == timedelta(minutes=90)
    assert parse_period("2w") == timedelta(days=14)
    assert parse_period("90") == timedelta(seconds=90)
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert parse_since("7d", now=now) == datetime(2026, 1, 3, tzinfo=UTC)
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("2024-05-01T10:00:00+03:00").utcoffset() == timedelta(hours=3)
    for bad in ("soon", "15x", "0m", ""):
        with pytest.raises(InputError):
            parse_period(bad)
    with pytest.raises(InputError, match="neither an ISO"):
        parse_since("yesterday")


def test_run_lifecycle_table() -> None:
    """Forward one stage at a time, any active stage may fail, only replays reopen a finished run."""
    order = [
        RunStatus.INGESTING,
        RunStatus.PROCESSING,
        RunStatus.TOPICIZING,
        RunStatus.EXPORTING,
        RunStatus.SUCCEEDED,
    ]
    for a, b in pairwise(order):
        check_run_transition(a, b)
    for active in ACTIVE_RUN_STATES:
        check_run_transition(active, RunStatus.FAILED)
    assert set(RUN_TRANSITIONS) == ACTIVE_RUN_STATES | TERMINAL_RUN_STATES
    with pytest.raises(TransitionError):
        check_run_transition(RunStatus.INGESTING, RunStatus.SUCCEEDED)
    with pytest.raises(TransitionError):
        check_run_transition(RunStatus.SUCCEEDED, RunStatus.EXPORTING)
    check_run_transition(RunStatus.FAILED, RunStatus.TOPICIZING)
    check_item_transition(ItemStatus.FAILED, ItemStatus.PENDING)
    with pytest.raises(TransitionError):
        check_item_transition(ItemStatus.DONE, ItemStatus.PENDING)


def test_a_reference_that_breaks_url_parsing_is_an_input_error() -> None:
    """'[' (urlsplit's "Invalid IPv6 URL") is refused as bad input, not a crash (found by schemathesis)."""
    import pytest

    from tg_parser.domain.channel_refs import parse_channel_ref
    from tg_parser.errors import InputError

    for text in ("[", "t.me/[", "https://[::1"):
        with pytest.raises(InputError):
            parse_channel_ref(text)
