"""Several Telegram accounts (issue 13): spread, pinning, and a logged-out account handing its channels over.

Two fake clients serving real Telethon TL objects stand behind two named
sessions; one of them answers as Telegram does for a logged-out or banned
account (``AuthKeyUnregisteredError`` / ``UserDeactivatedBanError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telethon import errors

from tests.unit.test_live_ingest import ConnectableFakeClient
from tests.unit.test_telethon_source import channel, post
from tg_parser.config import load_settings
from tg_parser.errors import AccountLostError
from tg_parser.services import channels as channels_service
from tg_parser.services import telegram_ingest
from tg_parser.services.accounts import accounts_component, record_login
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.sources.accounts import choose_account


class LostAccountClient(ConnectableFakeClient):
    """Answers every request as Telegram does for an account it logged out (or banned)."""

    def __init__(self, error: type[Exception]) -> None:
        super().__init__()
        self.error = error

    async def get_entity(self, ref: Any) -> Any:
        """Fail as Telegram fails a logged-out session."""
        self._request("get_entity", ref)
        raise self.error(request=None)


def _serving() -> ConnectableFakeClient:
    client = ConnectableFakeClient(chunk=5)
    client.add_channel(channel(), [post(i, f"Пост номер {i} о науке") for i in range(1, 8)])
    return client


@pytest.fixture
def accounts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two named sessions, ``alpha`` and ``beta``; clients come from ``clients`` by account name."""
    folder = tmp_path / "accounts"
    folder.mkdir()
    for name in ("alpha", "beta"):
        (folder / f"{name}.session").write_bytes(b"")
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("TELEGRAM_ACCOUNTS_DIR", str(folder))
    telegram_ingest.shutdown_accounts()
    yield folder
    telegram_ingest.shutdown_accounts()


def _install(monkeypatch: pytest.MonkeyPatch, clients: dict[str, Any]) -> None:
    monkeypatch.setattr(
        telegram_ingest, "account_client_factory", lambda tg: lambda: clients[tg.session_file.stem]
    )


def test_spread_is_stable_and_skips_unusable_accounts() -> None:
    """The same key gets the same account; a pinned healthy account wins; an unusable one is skipped."""
    names = ["alpha", "beta", "gamma"]
    picks = {key: choose_account(key, names, pinned=None, unusable=()) for key in ("a", "b", "c", "d", "e")}
    assert picks == {key: choose_account(key, names, pinned=None, unusable=()) for key in picks}
    assert len(set(picks.values())) > 1  # spread, not all on one account
    assert choose_account("a", names, pinned="gamma", unusable=()) == "gamma"
    assert choose_account("a", names, pinned="gamma", unusable={"gamma"}) in {"alpha", "beta"}
    assert choose_account("a", names, pinned=None, unusable=set(names)) is None


@pytest.mark.parametrize("lost", [errors.AuthKeyUnregisteredError, errors.UserDeactivatedBanError])
def test_logged_out_account_is_marked_unhealthy_and_the_next_takes_over(
    lost: type[Exception],
    accounts_dir: Path,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The logged-out account fails once and is marked unhealthy; the other reads the channel from then on."""
    settings = load_settings(database_url=sqlite_url, export_dir=str(tmp_path / "out"))
    key = channels_service.register_telegram(database_url=sqlite_url, reference="@trantor")
    first = choose_account(key, ["alpha", "beta"], pinned=None, unusable=())
    other = "beta" if first == "alpha" else "alpha"
    broken, healthy = LostAccountClient(lost), _serving()
    _install(monkeypatch, {first: broken, other: healthy})

    report = run_channel_embedded(settings=settings, channel=key)
    assert report.ingest.posts_read == 7
    assert [what for what, _ in broken.calls] == ["get_entity"]
    status, detail, required = accounts_component(settings)  # type: ignore[misc]
    assert status == "fail"
    assert first in detail
    assert lost.__name__ in detail
    assert not required  # another account is left

    broken.calls.clear()
    healthy.history[channel().id][8] = post(8, "Новый пост")
    again = run_channel_embedded(settings=settings, channel=key)
    assert again.ingest.new == 1
    assert broken.calls == []  # an unhealthy account is not tried again

    record_login(settings, name=first)  # logged in again
    assert accounts_component(settings)[0] == "ok"  # type: ignore[index]


def test_pinned_channel_uses_its_account_and_every_account_lost_is_a_clear_error(
    accounts_dir: Path, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A channel added with --account is pinned; with every account logged out the run fails naming why."""
    settings = load_settings(database_url=sqlite_url, export_dir=str(tmp_path / "out"))
    alpha, beta = _serving(), _serving()
    _install(monkeypatch, {"alpha": alpha, "beta": beta})
    for pinned, client, idle in (("alpha", alpha, beta), ("beta", beta, alpha)):
        key = channels_service.register_telegram(
            database_url=sqlite_url, reference="@trantor", account=pinned
        )
        client.calls.clear()
        idle.calls.clear()
        run_channel_embedded(settings=settings, channel=key)
        assert client.calls
        assert not idle.calls

    telegram_ingest.shutdown_accounts()
    lost = {"alpha": LostAccountClient(errors.AuthKeyUnregisteredError)}
    lost["beta"] = LostAccountClient(errors.UserDeactivatedBanError)
    _install(monkeypatch, lost)
    key = channels_service.register_telegram(database_url=sqlite_url, reference="@trantor", account="alpha")
    with pytest.raises(AccountLostError, match="every Telegram account is logged out or banned"):
        run_channel_embedded(settings=settings, channel=key)
    assert accounts_component(settings)[2] is True  # type: ignore[index]
