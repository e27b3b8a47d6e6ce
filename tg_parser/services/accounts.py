"""Named Telegram accounts (issue 13): their health, as ``tg-parser health`` shows it."""

from __future__ import annotations

from tg_parser.config import Settings
from tg_parser.storage import session_scope
from tg_parser.storage.accounts import AccountHealth, list_health, set_health


def record_login(settings: Settings, *, name: str) -> None:
    """Mark an account healthy after a successful ``auth login --account NAME``."""
    with session_scope(settings.database_url) as session:
        set_health(session, name=name, healthy=True, reason=None)


def account_states(settings: Settings) -> list[tuple[str, AccountHealth | None]]:
    """Return every named account with a session, and the health recorded for it (``None``: never failed)."""
    with session_scope(settings.database_url) as session:
        recorded = {h.name: h for h in list_health(session)}
    return [(name, recorded.get(name)) for name in settings.telegram.account_names()]


def accounts_component(settings: Settings) -> tuple[str, str, bool] | None:
    """Summarise the named accounts for health: ``(status, detail, required)``, ``None`` without any.

    An account Telegram logged out or banned is a ``fail`` naming it and the
    reason; the deployment stays healthy while another account can take its
    channels (``required`` only when none is left).
    """
    states = account_states(settings)
    if not states:
        return None
    bad = [(name, h) for name, h in states if h is not None and not h.healthy]
    if not bad:
        return "ok", f"{len(states)} named account(s) healthy: {', '.join(n for n, _ in states)}", False
    detail = "; ".join(
        f"{name} unhealthy since {h.updated_at:%Y-%m-%d %H:%M}Z: {h.reason}" for name, h in bad
    )
    left = len(states) - len(bad)
    return (
        "fail",
        f"{detail} ({left} healthy account(s) left; `tg-parser auth login --account NAME`)",
        left == 0,
    )
