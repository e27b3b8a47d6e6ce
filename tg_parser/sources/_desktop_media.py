# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The media metadata of one message object of a Telegram Desktop ``result.json`` (issue 13).

Private helper of :mod:`tg_parser.sources._desktop_message`. Field names come
from Telegram Desktop's JSON writer (``SerializeMessage`` in tdesktop's
``export/output/export_output_json.cpp``) and the real exports under
``shared/data/exports``:

* a photo: ``photo`` (the path), ``photo_file_size``, ``width``, ``height``;
* a file (document, video, audio, voice, sticker, animation…): ``file`` (the
  path), ``file_name``, ``file_size``, ``mime_type``, ``duration_seconds``,
  ``width``, ``height``, and ``media_type`` for the kinds that have one.

When the file was not exported, Desktop writes a sentence in place of the
path (``(File not included. Change data exporting settings to download.)``,
``(File exceeds maximum size. ...)``, ``(File unavailable, please try again
later)``): the path is then ``None``.
"""

from __future__ import annotations

from typing import Any

from tg_parser.domain import Media

#: How every "file not exported" placeholder of Desktop starts (``FormatFilePath`` notes).
_NOT_EXPORTED = "(File "


def media_of(raw: dict[str, Any], media_type: str) -> Media:
    """Build the :class:`Media` of a message that has media.

    Values of the wrong shape (a width that is not an integer…) are left out
    as unknown rather than failing the post: the post's text matters more.

    Args:
        raw: One Desktop message object.
        media_type: Its media type (``photo``, ``document``, ``video_file``…).

    Returns:
        The media metadata, ``None`` in every field the export does not have.
    """
    if "photo" in raw:
        path = raw.get("photo")
        size = raw.get("photo_file_size")
    else:
        path = raw.get("file")
        size = raw.get("file_size")
    return Media.model_construct(
        type=media_type,
        file_name=_text(raw.get("file_name")),
        mime_type=_text(raw.get("mime_type")),
        size_bytes=_count(size),
        duration_s=_count(raw.get("duration_seconds")),
        width=_count(raw.get("width")),
        height=_count(raw.get("height")),
        path=_path(path),
    )


def _path(value: Any) -> str | None:
    if not isinstance(value, str) or not value or value.startswith(_NOT_EXPORTED):
        return None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
