"""A live channel with a discussion thread behind the Telethon runtime, for comment tests (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telethon.tl import types

from tests.unit.test_live_ingest import ConnectableFakeClient
from tests.unit.test_telethon_source import CHAN_ID, DISCUSSION_ID, channel, post
from tg_parser.config import load_settings
from tg_parser.services import channels as channels_service
from tg_parser.services import telegram_ingest
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.sources import telethon_runtime


def comment(mid: int, text: str, *, head: int = 70) -> types.Message:
    """A comment of Ann Lee in the discussion group, under the thread head ``head``."""
    return post(
        mid, text, cid=DISCUSSION_ID, post=False, from_id=types.PeerUser(501),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=head),
    )  # fmt: skip


def replies(n: int, max_id: int) -> types.MessageReplies:
    """The ``replies`` of a channel post with ``n`` comments, the last one ``max_id``."""
    return types.MessageReplies(
        replies=n, replies_pts=1, comments=True, channel_id=DISCUSSION_ID, max_id=max_id
    )


@contextmanager
def telegram_with_thread() -> Iterator[ConnectableFakeClient]:
    """Serve @trantor (posts 1-3, post 1 with two comments) as this process's Telethon client."""
    client = ConnectableFakeClient(chunk=5)
    client.add_channel(
        channel(),
        [
            post(1, "Пост о науке #наука", replies=replies(2, 72)),
            post(2, "Второй пост о технологиях"),
            post(3, "Третий пост о науке"),
        ],
    )
    client.add_channel(channel(DISCUSSION_ID, None, "Trantor Chat", broadcast=False, megagroup=True))
    client.by_id[501] = types.User(id=501, first_name="Ann", last_name="Lee")
    client.threads[(CHAN_ID, 1)] = [comment(71, "Отличный пост"), comment(72, 'Согласен "полностью"\\')]
    telethon_runtime.shutdown_runtime()
    telegram_ingest._source = None  # noqa: SLF001 - fresh per test
    telethon_runtime.get_runtime(client_factory=lambda: client)
    try:
        yield client
    finally:
        telethon_runtime.shutdown_runtime()
        telegram_ingest._source = None  # noqa: SLF001


def run_live(database_url: str, out: Path, *, comments: str) -> Any:
    """Register @trantor and run it embedded with ``COMMENTS=comments``; return the run's report."""
    settings = load_settings(database_url=database_url, export_dir=str(out), comments=comments)
    key = channels_service.register_telegram(database_url=database_url, reference="@trantor")
    return run_channel_embedded(settings=settings, channel=key)


def read_lines(out: Path) -> list[dict[str, Any]]:
    """The objects of @trantor's documents.ndjson, in file order."""
    text = (out / "trantor" / "documents.ndjson").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line]
