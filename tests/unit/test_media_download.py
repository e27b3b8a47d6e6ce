"""MEDIA_DOWNLOAD on a live channel, embedded on SQLite (issue 13).

A fake client serves real Telethon TL objects and file bytes; one download
meets an expired file reference and one a FloodWait, as Telegram answers them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telethon import errors
from telethon.tl import types

from tests.unit.test_live_ingest import ConnectableFakeClient
from tests.unit.test_telethon_source import T0, channel, post
from tg_parser.config import load_settings
from tg_parser.domain import Media
from tg_parser.services import channels as channels_service
from tg_parser.services import pipeline, telegram_ingest
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.services.media import content_path, wanted
from tg_parser.sources import telethon_runtime

PHOTO_BYTES = b"\xff\xd8\xff photo bytes"


class MediaClient(ConnectableFakeClient):
    """The fake client with ``get_messages(ids=…)`` and ``download_media`` over ``blobs``."""

    def __init__(self) -> None:
        super().__init__(chunk=5)
        self.blobs: dict[int, bytes] = {}
        self.expire_once: set[int] = set()
        self.flood_once: dict[int, int] = {}

    async def get_messages(self, entity: Any, limit: int | None = None, *, ids: Any = None, **kw: Any) -> Any:
        """One message by id (a fresh copy, as Telegram returns it), else the history pages."""
        if ids is None:
            return await super().get_messages(entity, limit, **kw)
        self._request("get_message", ids)
        found = self.history[entity.id].get(ids)
        return self._finish([found])[0] if found is not None else None

    async def download_media(self, message: Any, file: str) -> str:
        """Write the message's bytes to ``file``, after the planned failures."""
        self._request("download", message.id)
        if message.id in self.expire_once:
            self.expire_once.discard(message.id)
            raise errors.FileReferenceExpiredError(request=None)
        if message.id in self.flood_once:
            raise errors.FloodWaitError(request=None, capture=self.flood_once.pop(message.id))
        Path(file).write_bytes(self.blobs[message.id])  # noqa: ASYNC240 - a test double
        return file


def _photo(size: int) -> types.MessageMediaPhoto:
    sizes = [types.PhotoSize(type="y", w=1280, h=720, size=size)]
    return types.MessageMediaPhoto(
        photo=types.Photo(id=1, access_hash=2, file_reference=b"", date=T0, sizes=sizes, dc_id=2)
    )


def _pdf(size: int) -> types.MessageMediaDocument:
    doc = types.Document(
        id=5, access_hash=6, file_reference=b"", date=T0, mime_type="application/pdf", size=size, dc_id=2,
        attributes=[types.DocumentAttributeFilename("paper.pdf")],
    )  # fmt: skip
    return types.MessageMediaDocument(document=doc)


@pytest.fixture
def media_telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[MediaClient]:
    """@trantor: two posts of one photo, a PDF, a big photo; installed as this process's client."""
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")
    client = MediaClient()
    client.add_channel(
        channel(),
        [
            post(1, "Фото лаборатории", media=_photo(len(PHOTO_BYTES))),
            post(2, "Снова то же фото", media=_photo(len(PHOTO_BYTES))),
            post(3, "Статья в PDF", media=_pdf(4096)),
            post(4, "Огромное фото", media=_photo(50 << 20)),
            post(5, "Просто текст"),
        ],
    )
    client.blobs = {1: PHOTO_BYTES, 2: PHOTO_BYTES, 3: b"%PDF-1.7", 4: b"big"}
    telethon_runtime.shutdown_runtime()
    telegram_ingest._source = None  # noqa: SLF001 - fresh per test
    telethon_runtime.get_runtime(client_factory=lambda: client)
    yield client
    telethon_runtime.shutdown_runtime()
    telegram_ingest._source = None  # noqa: SLF001


def _lines(out: Path) -> dict[int, dict[str, Any]]:
    text = (out / "trantor" / "documents.ndjson").read_text(encoding="utf-8")
    return {json.loads(x)["metadata"]["message_id"]: json.loads(x)["metadata"] for x in text.splitlines()}


def test_photos_are_stored_once_by_content_and_named_in_the_export(
    media_telegram: MediaClient, sqlite_url: str, tmp_path: Path
) -> None:
    """MEDIA_DOWNLOAD=photos under 10 MB: one file for two posts of one photo; expiry, FloodWait retried."""
    media_telegram.expire_once = {1}
    media_telegram.flood_once = {2: 1}
    settings = load_settings(
        database_url=sqlite_url,
        export_dir=str(tmp_path / "out"),
        media_download="photos",
        media_max_size_mb=10,
        media_dir=str(tmp_path / "media"),
        retry_media_backoff_base=0.1,
        retry_media_backoff_max=1,
    )
    key = channels_service.register_telegram(database_url=sqlite_url, reference="@trantor")
    run_channel_embedded(settings=settings, channel=key)
    expected = content_path(hashlib.sha256(PHOTO_BYTES).hexdigest(), file_name=None, mime_type=None)
    assert (tmp_path / "media" / expected).read_bytes() == PHOTO_BYTES
    downloads = [arg for what, arg in media_telegram.calls if what == "download"]
    assert downloads == [1, 1, 2, 2]  # each retried once: expired reference, FloodWait; 3 and 4 not wanted
    # The retry after the expired reference fetched the post again (a fresh file reference).
    assert [arg for what, arg in media_telegram.calls if what == "get_message"] == [1, 1, 2, 2]
    # Downloads run after the run's own steps (they never hold it up): the next export names the files.
    pipeline.export_channel(settings=settings, channel=key, run_id=None)
    lines = _lines(tmp_path / "out")
    assert lines[1]["media"]["path"] == lines[2]["media"]["path"] == expected
    assert lines[3]["media"]["path"] is None
    assert lines[4]["media"]["path"] is None
    assert lines[5]["media"] is None
    assert list((tmp_path / "media").rglob("*.jpg")) == [tmp_path / "media" / expected]

    media_telegram.calls.clear()
    run_channel_embedded(settings=settings, channel=key)  # the edit window re-reads the posts
    assert not [what for what, _ in media_telegram.calls if what == "download"]  # already stored
    assert _lines(tmp_path / "out")[2]["media"]["path"] == expected  # a re-read keeps the path


def test_media_download_none_fetches_nothing(
    media_telegram: MediaClient, sqlite_url: str, tmp_path: Path
) -> None:
    """The default MEDIA_DOWNLOAD=none downloads no file."""
    settings = load_settings(
        database_url=sqlite_url, export_dir=str(tmp_path / "out"), media_dir=str(tmp_path / "m")
    )
    key = channels_service.register_telegram(database_url=sqlite_url, reference="@trantor")
    run_channel_embedded(settings=settings, channel=key)
    assert not [what for what, _ in media_telegram.calls if what == "download"]
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("mode", "photo", "pdf", "poll"),
    [("photos", True, False, False), ("documents", False, True, False), ("all", True, True, False)],
)
def test_which_media_are_wanted(mode: str, photo: bool, pdf: bool, poll: bool) -> None:  # noqa: FBT001
    """The modes photos / documents / all choose by media type; polls have no file; the size cap applies."""
    settings = load_settings(media_download=mode, media_max_size_mb=1)
    assert wanted(settings, Media(type="photo", size_bytes=1000)) is photo
    assert wanted(settings, Media(type="document", size_bytes=1000)) is pdf
    assert wanted(settings, Media(type="poll")) is poll
    assert wanted(settings, Media(type="photo", size_bytes=2 << 20)) is False
