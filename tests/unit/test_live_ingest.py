"""A live channel through the whole pipeline: Telethon objects → ingest → documents → export (SQLite).

Telegram is never called: a fake client serving real Telethon TL objects sits
behind the process's Telethon runtime, exactly where the real client would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_telethon_source import FakeClient, channel, post
from tg_parser.config import load_settings
from tg_parser.services import channels as channels_service
from tg_parser.services import telegram_ingest
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.sources import telethon_runtime


class ConnectableFakeClient(FakeClient):
    """The fake client with the connection methods the runtime calls."""

    connected = False

    def is_connected(self) -> bool:
        """Whether connect() was awaited."""
        return self.connected

    async def connect(self) -> None:
        """Pretend to connect."""
        self.connected = True

    async def disconnect(self) -> None:
        """Pretend to disconnect."""
        self.connected = False


@pytest.fixture
def fake_telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectableFakeClient]:
    """Install a fake client as this process's Telethon client."""
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")
    client = ConnectableFakeClient(chunk=5)
    client.add_channel(
        channel(), [post(i, f"Пост номер {i} о науке и технологиях #наука") for i in range(1, 31)]
    )
    telethon_runtime.shutdown_runtime()
    telegram_ingest._source = None  # noqa: SLF001 - fresh per test
    telethon_runtime.get_runtime(client_factory=lambda: client)
    yield client
    telethon_runtime.shutdown_runtime()
    telegram_ingest._source = None  # noqa: SLF001


def _docs(out: Path) -> dict[int, dict[str, object]]:
    lines = (out / "trantor" / "documents.ndjson").read_text(encoding="utf-8").splitlines()
    return {json.loads(x)["metadata"]["message_id"]: json.loads(x) for x in lines}


def test_live_channel_backfills_then_syncs_edits_and_deletions(
    fake_telegram: ConnectableFakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    """First run backfills every post; the next sees an edit, a deletion and a new post, nothing else."""
    settings = load_settings(database_url=sqlite_url, export_dir=str(tmp_path / "out"))
    key = channels_service.register_telegram(database_url=sqlite_url, reference="https://t.me/trantor")
    assert key == "trantor"
    first = run_channel_embedded(settings=settings, channel=key)
    assert first.ingest.posts_read == 30
    docs = _docs(tmp_path / "out")
    assert sorted(docs) == list(range(1, 31))
    assert docs[7]["metadata"]["source"] == "https://t.me/trantor/7"
    assert docs[7]["text"] == "Пост номер 7 о науке и технологиях #наука"

    history = fake_telegram.history[channel().id]
    history[29] = post(29, "Пост 29, исправленный", edit_date=post(29).date)
    del history[28]
    history[31] = post(31, "Новый пост номер 31")
    second = run_channel_embedded(settings=settings, channel=key)
    assert second.ingest.new == 1
    assert second.ingest.changed == 1
    assert second.ingest.to_process == 2  # only the edited and the new post are processed again
    docs = _docs(tmp_path / "out")
    assert 28 not in docs
    assert docs[29]["text"] == "Пост 29, исправленный"
    assert docs[29]["metadata"]["edited"] is not None
    assert 31 in docs


def test_private_channel_fails_the_run_with_a_clear_error(
    fake_telegram: ConnectableFakeClient, sqlite_url: str, tmp_path: Path
) -> None:
    """An unknown channel fails its run with a message naming it; other channels are untouched."""
    settings = load_settings(database_url=sqlite_url, export_dir=str(tmp_path / "out"))
    key = channels_service.register_telegram(database_url=sqlite_url, reference="@nosuchchannel")
    from tg_parser.errors import PermanentError

    with pytest.raises(PermanentError, match="nosuchchannel"):
        run_channel_embedded(settings=settings, channel=key)
    ok = run_channel_embedded(
        settings=settings,
        channel=channels_service.register_telegram(database_url=sqlite_url, reference="@trantor"),
    )
    assert ok.ingest.posts_read == 30
