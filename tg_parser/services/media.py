"""Media files of live channels (issue 13): which to download, the content-addressed store, the step.

``MEDIA_DOWNLOAD`` says which posts' files are fetched: ``none`` (default),
``photos``, ``documents`` (every other file: videos, audio, voice, stickers,
documents) or ``all``; ``MEDIA_MAX_SIZE_MB`` skips larger files (a file whose
size is unknown is fetched). Each file is one ``tg_parser.download_media``
step under ``RETRY_MEDIA_*``, sent after its post's batch is committed, so a
download never holds up ingest or text processing; FloodWait and an expired
file reference are retried (the retry fetches the post again, which brings a
fresh file reference: https://core.telegram.org/api/file_reference).

Files are stored by content under ``MEDIA_DIR``:
``<sha256[:2]>/<sha256[2:4]>/<sha256><extension>``, so the same file posted
twice is stored once; the post's ``metadata.media.path`` becomes that path
relative to ``MEDIA_DIR``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

from tg_parser.config import Settings
from tg_parser.domain import Message
from tg_parser.domain.runs import TaskName
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.sources import TelegramSourceRef
from tg_parser.services.steps import Backoff, GaveUp, Step, StepRunner
from tg_parser.storage import channels, messages, session_scope
from tg_parser.storage.channels import ChannelRecord

log = structlog.get_logger(__name__)

#: Media types that are files other than photos (the Desktop export's names).
DOCUMENT_TYPES = frozenset(
    {"document", "video_file", "audio_file", "voice_message", "video_message", "animation", "sticker"}
)
_MIB = 1 << 20


def wanted(settings: Settings, media: Any) -> bool:
    """Tell whether ``MEDIA_DOWNLOAD``/``MEDIA_MAX_SIZE_MB`` ask for this media (a ``Media`` or its JSON)."""
    if media is None or settings.media_download == "none":
        return False
    kind = media.get("type") if isinstance(media, dict) else media.type
    size = media.get("size_bytes") if isinstance(media, dict) else media.size_bytes
    is_photo = kind == "photo"
    if not (is_photo or kind in DOCUMENT_TYPES):
        return False  # polls, locations, contacts…: no file
    if settings.media_download == "photos" and not is_photo:
        return False
    if settings.media_download == "documents" and is_photo:
        return False
    limit = settings.media_max_size_mb
    return limit is None or size is None or size <= limit * _MIB


def downloads_of(settings: Settings, posts: Iterable[Message]) -> list[int]:
    """Return the message ids of ``posts`` whose media is to be downloaded."""
    return [p.message_id for p in posts if wanted(settings, p.media)]


def send_downloads(
    settings: Settings, dispatcher: Dispatcher | None, *, channel: ChannelRecord, posts: Iterable[Message]
) -> int:
    """Send a ``download_media`` step for each committed live post whose media is wanted; return how many."""
    if dispatcher is None or channel.source_kind != "telegram" or settings.media_download == "none":
        return 0
    ids = downloads_of(settings, posts)
    for message_id in ids:
        dispatcher.download_media(channel_key=channel.key, message_id=message_id)
    return len(ids)


def content_path(digest: str, *, file_name: str | None, mime_type: str | None) -> str:
    """Return a file's place in the store, relative to ``MEDIA_DIR``: ``ab/cd/abcd….ext``."""
    suffix = Path(file_name).suffix.lower() if file_name else ""
    if not suffix and mime_type:
        suffix = mimetypes.guess_extension(mime_type) or ""
    if not suffix:
        suffix = ".jpg" if file_name is None and mime_type is None else ""
    return f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


def download(settings: Settings, *, channel_key: str, message_id: int) -> str:
    """Download one post's media into the store and record its path; idempotent.

    Returns:
        ``downloaded``, ``present`` (already stored), ``skipped`` (not wanted
        now, or the post or its media is gone).

    Raises:
        RetryableError: FloodWait, an expired file reference, network failures.
        PermanentError: The channel cannot be read.
    """
    from tg_parser.services.telegram_ingest import download_post_media

    db = settings.database_url
    with session_scope(db) as session:
        ch = channels.get_channel(session, key=channel_key)
        media, stored = messages.stored_media(session, channel_pk=ch.pk, message_id=message_id)
    store = Path(settings.media_dir)
    if stored is not None and (store / stored).is_file():
        return "present"
    if ch.source_kind != "telegram" or not wanted(settings, media):
        return "skipped"
    ref = TelegramSourceRef.from_json(ch.source)
    tmp_dir = store / ".incoming"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{channel_key}-{message_id}-{secrets.token_hex(4)}"
    try:
        got = download_post_media(
            settings=settings,
            reference=ref.reference,
            channel_key=ch.key,
            account=ref.account,
            message_id=message_id,
            file=str(tmp),
        )
        if not got or not tmp.is_file():
            return "skipped"
        digest = _sha256(tmp)
        relative = content_path(digest, file_name=media.get("file_name"), mime_type=media.get("mime_type"))  # type: ignore[union-attr]
        final = store / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink()
        else:
            tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    with session_scope(db) as session:
        messages.set_media_path(session, channel_pk=ch.pk, message_id=message_id, path=relative)
    log.info("media_downloaded", channel=channel_key, message_id=message_id, path=relative)
    return "downloaded"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def execute_download(
    *, settings: Settings, channel_key: str, message_id: int, backoff: Backoff, attempt: int = 1
) -> str:
    """Download under the ``media`` retry policy (``RETRY_MEDIA_*``); one that gives up is dead-lettered.

    Returns:
        What :func:`download` returned, or ``failed`` (dead-lettered; ``dlq replay`` sends it again).
    """
    step = Step(
        task_name=TaskName.DOWNLOAD_MEDIA, args={"channel_key": channel_key, "message_id": message_id}
    )
    outcome = StepRunner(settings=settings, backoff=backoff).run(
        step, lambda: download(settings, channel_key=channel_key, message_id=message_id), attempt=attempt
    )
    return "failed" if isinstance(outcome, GaveUp) else outcome
