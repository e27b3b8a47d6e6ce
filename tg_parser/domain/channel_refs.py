"""Channel references: every way a user names a Telegram channel, parsed once.

Accepted forms (Telegram's link formats: https://core.telegram.org/api/links):

* ``@name``, ``name``: a public username;
* ``t.me/name``, ``https://t.me/name``, ``https://t.me/name/123`` (a post link),
  ``https://t.me/s/name`` (the web preview), ``telegram.me/name``;
* ``tg://resolve?domain=name`` (optionally ``&post=123``);
* ``https://t.me/c/<id>`` and ``https://t.me/c/<id>/<msg>`` (a private chat's
  post link, the id without the ``-100`` prefix);
* numeric ids: ``1878264527``, ``-1001878264527`` (a channel or supergroup in
  Bot API form) and ``-12345`` (a basic group).

Invite links (``t.me/+…``, ``t.me/joinchat/…``) name no chat one can read
without joining, and are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

from tg_parser.domain.permalinks import bare_channel_id, channel_key, normalise_username
from tg_parser.errors import InputError

_BOT_API_PREFIX = 1_000_000_000_000
_HOSTS = ("t.me", "telegram.me", "telegram.dog")
_INVITE_RE = re.compile(r"^(?:\+|joinchat/)", re.IGNORECASE)


class RefKind(StrEnum):
    """What a reference names: a public username, a channel/supergroup id, or a basic group id."""

    USERNAME = "username"
    CHANNEL_ID = "channel_id"
    CHAT_ID = "chat_id"


@dataclass(frozen=True)
class ChannelRef:
    """A parsed channel reference.

    Attributes:
        kind: See :class:`RefKind`.
        username: The public username as written (case kept) for ``username`` refs.
        telegram_id: The bare positive id (no ``-100``) for id refs, else ``None``.
        post_id: The post a post link pointed at, when it did (ignored for the channel).
    """

    kind: RefKind
    username: str | None = None
    telegram_id: int | None = None
    post_id: int | None = None

    @property
    def key(self) -> str:
        """The channel key this reference gives (see :func:`~tg_parser.domain.channel_key`)."""
        return channel_key(username=self.username, telegram_id=self.telegram_id or 0)

    def __str__(self) -> str:
        """Return the canonical spelling: ``@name``, the bare id, or the negative basic-group id."""
        if self.kind is RefKind.USERNAME:
            return f"@{self.username}"
        if self.kind is RefKind.CHAT_ID:
            return f"-{self.telegram_id}"
        return str(self.telegram_id)


def parse_channel_ref(reference: str | int) -> ChannelRef:
    """Parse what a user typed to name a channel.

    Args:
        reference: Any of the forms in the module docstring, or an ``int`` id.

    Returns:
        The parsed reference; equal channels give equal :attr:`ChannelRef.key`
        (``@durov``, ``t.me/durov``, ``https://t.me/durov/123`` and
        ``https://t.me/s/durov`` all give ``durov``).

    Raises:
        InputError: An invite link, an empty reference, or anything that is
            no username, link or id; the message quotes the reference.
    """
    if isinstance(reference, int):
        return _from_id(reference)
    text = reference.strip()
    if not text:
        msg = "empty channel reference"
        raise InputError(msg)
    if re.fullmatch(r"-?\d+", text):
        return _from_id(int(text))
    if text.lower().startswith("tg://"):
        return _from_tg_url(text, reference)
    path = _t_me_path(text)
    if path is None:
        return _username(text, reference, post_id=None)
    if _INVITE_RE.match(path):
        msg = f"{reference!r} is an invite link; join the chat and add it by @username or id"
        raise InputError(msg)
    parts = [p for p in path.split("/") if p]
    if not parts:
        msg = f"{reference!r} names no channel"
        raise InputError(msg)
    if parts[0].lower() == "c" and len(parts) >= 2 and parts[1].isdigit():  # noqa: PLR2004 - t.me/c/<id>
        post = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None  # noqa: PLR2004
        return ChannelRef(kind=RefKind.CHANNEL_ID, telegram_id=int(parts[1]), post_id=post)
    if parts[0].lower() == "s" and len(parts) >= 2:  # noqa: PLR2004 - t.me/s/<name>: the web preview
        parts = parts[1:]
    post = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return _username(parts[0], reference, post_id=post)


def _t_me_path(text: str) -> str | None:
    """Return the path after a t.me host (no query), or ``None`` when ``text`` is no t.me link."""
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:  # "[" and the like: not a URL at all (urlsplit's "Invalid IPv6 URL")
        return None
    host = host.removeprefix("www.")
    if host not in _HOSTS or not ("/" in text or "://" in text):
        return None
    return parts.path.lstrip("/")


def _from_tg_url(text: str, reference: str | int) -> ChannelRef:
    parts = urlsplit(text)
    query = parse_qs(parts.query)
    if parts.netloc.lower() == "resolve" and query.get("domain"):
        post = query.get("post", [""])[0]
        return _username(query["domain"][0], reference, post_id=int(post) if post.isdigit() else None)
    if parts.netloc.lower() == "privatepost" and query.get("channel", [""])[0].isdigit():
        post = query.get("post", [""])[0]
        return ChannelRef(
            kind=RefKind.CHANNEL_ID,
            telegram_id=int(query["channel"][0]),
            post_id=int(post) if post.isdigit() else None,
        )
    msg = f"{reference!r} is not a tg://resolve?domain=<name> link"
    raise InputError(msg)


def _from_id(value: int) -> ChannelRef:
    if value == 0:
        msg = "0 is not a Telegram chat id"
        raise InputError(msg)
    if value < 0 and -value < _BOT_API_PREFIX:
        return ChannelRef(kind=RefKind.CHAT_ID, telegram_id=-value)
    return ChannelRef(kind=RefKind.CHANNEL_ID, telegram_id=bare_channel_id(value))


def _username(name: str, reference: str | int, *, post_id: int | None) -> ChannelRef:
    try:
        username = normalise_username(name)
    except ValueError as exc:
        msg = f"{reference!r} is not a channel username, t.me link or numeric id"
        raise InputError(msg) from exc
    if username is None:
        msg = "empty channel reference"
        raise InputError(msg)
    return ChannelRef(kind=RefKind.USERNAME, username=username, post_id=post_id)
