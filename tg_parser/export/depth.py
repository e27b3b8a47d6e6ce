"""The issue-13 metadata of an export line: media, views, forwards, reactions, forum topic.

Split from :mod:`tg_parser.export.writer` (whose ``document_line`` spreads
:func:`depth_fields` into every line); ``storage.export_lines`` renders the
same keys and values in SQL.
"""

from __future__ import annotations

from typing import Any

#: Keys of ``metadata.media``, in the order every line writes them (``domain.Media.json_dict``).
MEDIA_KEYS = ("type", "file_name", "mime_type", "size_bytes", "duration_s", "width", "height", "path")


def depth_fields(row: Any) -> dict[str, Any]:
    """Return a line's issue-13 metadata: ``media``, ``views``, ``forwards``, ``reactions``, ``forum_topic``.

    ``storage.export_lines`` renders the same keys and values in SQL; the
    stored ``media`` object is re-laid in :data:`MEDIA_KEYS` order (``jsonb``
    keeps its own key order) and ``reactions`` turns the stored
    ``[{"emoji", "count"}]`` list into an ``{emoji: count}`` mapping.

    Args:
        row: The post's columns (``writer.ExportFields`` with ``media``, ``views``,
            ``forwards``, ``reactions``, ``forum_topic_id``, ``forum_topic_title``
            and, when downloaded, ``media_path``).

    Returns:
        The five keys, ``None``/``{}`` where the source had nothing.
    """
    media = row.media
    topic_id = row.forum_topic_id
    return {
        "media": _media(media, getattr(row, "media_path", None)) if isinstance(media, dict) else None,
        "views": row.views,
        "forwards": row.forwards,
        "reactions": {r["emoji"]: r["count"] for r in row.reactions or ()},
        "forum_topic": None if topic_id is None else {"id": topic_id, "title": row.forum_topic_title},
    }


def _media(media: dict[str, Any], downloaded: str | None) -> dict[str, Any]:
    """Lay ``media`` out in :data:`MEDIA_KEYS` order; a downloaded file's path wins over the stored one."""
    out = {key: media.get(key) for key in MEDIA_KEYS}
    if downloaded is not None:
        out["path"] = downloaded
    return out
