"""Telegram permalinks and channel keys.

Rule source: Telegram's public post links are ``https://t.me/<username>/<id>``;
posts of chats without a public username are linked as
``https://t.me/c/<channel_id>/<id>`` where ``channel_id`` is the id without the
``-100`` prefix (https://core.telegram.org/api/links#message-links).
"""

from __future__ import annotations

import re

_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_BOT_API_PREFIX = 1_000_000_000_000


def bare_channel_id(telegram_id: int) -> int:
    """Strip the Bot API ``-100`` prefix and the sign from a chat id.

    Args:
        telegram_id: ``1878264527``, ``-1001878264527`` or ``-1878264527``.

    Returns:
        The positive id used in ``t.me/c/`` links, e.g. ``1878264527``.
    """
    value = abs(telegram_id)
    if value > _BOT_API_PREFIX:
        value -= _BOT_API_PREFIX
    return value


def normalise_username(username: str | None) -> str | None:
    """Return a public username without ``@`` or ``https://t.me/``, or ``None``.

    Raises:
        ValueError: When the name is not a valid Telegram username (5 to 32
            characters of letters, digits and underscores, starting with a letter).
    """
    if username is None:
        return None
    name = username.strip()
    for prefix in ("https://t.me/", "http://t.me/", "t.me/", "@"):
        if name.lower().startswith(prefix):
            name = name[len(prefix) :]
    name = name.strip("/")
    if not name:
        return None
    if not _USERNAME_RE.match(name):
        msg = f"{username!r} is not a Telegram username (5-32 letters, digits or _, starting with a letter)"
        raise ValueError(msg)
    return name


def permalink(*, username: str | None, channel_id: int, message_id: int) -> str:
    """Return the public link of a post.

    Args:
        username: The chat's public username, or ``None`` when unknown.
        channel_id: The chat's Telegram id (any of the forms :func:`bare_channel_id` accepts).
        message_id: The post's id.

    Returns:
        ``https://t.me/<username>/<id>`` or ``https://t.me/c/<channel_id>/<id>``.
    """
    return f"{permalink_base(username=username, channel_id=channel_id)}{message_id}"


def permalink_base(*, username: str | None, channel_id: int) -> str:
    """Return what every post link of a chat starts with: :func:`permalink` without the message id.

    Args:
        username: The chat's public username, or ``None`` when unknown.
        channel_id: The chat's Telegram id (any of the forms :func:`bare_channel_id` accepts).

    Returns:
        ``https://t.me/<username>/`` or ``https://t.me/c/<channel_id>/``.
    """
    if username:
        return f"https://t.me/{username}/"
    return f"https://t.me/c/{bare_channel_id(channel_id)}/"


def channel_key(*, username: str | None, telegram_id: int) -> str:
    """Return the stable key of a channel: its username (lowercase) or ``c<id>``.

    The key names the channel in the database, in export folders and in
    document ids, so it never changes for a given chat and username.
    """
    if username:
        return username.lower()
    return f"c{bare_channel_id(telegram_id)}"
