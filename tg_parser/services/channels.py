"""Channel use cases: register from an export or a live reference, schedule, pause, remove, list.

The CLI and the HTTP API call these; neither opens a session itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from tg_parser.domain import ChatInfo, channel_key, normalise_username
from tg_parser.domain.channel_refs import RefKind, parse_channel_ref
from tg_parser.domain.periods import parse_period
from tg_parser.errors import InputError, NotFoundError
from tg_parser.services.sources import (
    ExportSourceRef,
    TelegramSourceRef,
    list_export_chats,
    resolve_export_file,
)
from tg_parser.storage import channels, session_scope
from tg_parser.storage.channels import ChannelSummary

MIN_SCHEDULE_S = 60
"""Beat ticks once a minute, so no schedule is shorter."""


@dataclass(frozen=True)
class RegisteredChannel:
    """A channel registered from an export: its key and chat."""

    key: str
    chat: ChatInfo


def register_export(
    *,
    database_url: str,
    path: str | Path,
    username: str | None = None,
    export_dir: str | None = None,
) -> list[RegisteredChannel]:
    """Register every chat of a Telegram Desktop export as a channel.

    Args:
        database_url: Where channels are stored.
        path: The export file (or a folder holding one).
        username: Public username of the chat, for ``t.me/<username>`` links;
            only for a file that holds one chat.
        export_dir: Where this channel's exports go on later runs.

    Returns:
        One entry per chat, in file order.

    Raises:
        InputError: The file is unreadable, holds no chat, ``username`` is no
            username, or it was given for a file of several chats.
    """
    file_path = resolve_export_file(path)
    chats = list_export_chats(file_path)
    if not chats:
        msg = "export holds no chat"
        raise InputError(msg, path=str(file_path))
    try:
        name = normalise_username(username)
    except ValueError as exc:
        raise InputError(str(exc), path=str(file_path)) from exc
    if name and len(chats) > 1:
        msg = f"--username applies to a single chat, but this export holds {len(chats)} chats"
        raise InputError(msg, path=str(file_path))
    out = []
    with session_scope(database_url) as session:
        for chat in chats:
            uname = name or chat.username
            key = channel_key(username=uname, telegram_id=chat.telegram_id)
            ref = ExportSourceRef(path=str(Path(path).resolve()), chat_id=chat.telegram_id)
            channels.upsert_channel(
                session,
                key=key,
                telegram_id=chat.telegram_id,
                username=uname,
                title=chat.title,
                chat_type=chat.chat_type,
                source_kind="export",
                source=ref.to_json(),
                export_dir=str(Path(export_dir).resolve()) if export_dir else None,
            )
            out.append(RegisteredChannel(key=key, chat=chat))
    return out


def register_telegram(
    *,
    database_url: str,
    reference: str,
    export_dir: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    account: str | None = None,
) -> str:
    """Register a live Telegram channel by any reference ``parse_channel_ref`` accepts.

    Nothing is sent to Telegram here; the first run resolves the channel.
    ``since`` and ``limit`` bound the first run's backfill (posts sent at or
    after ``since``, among the ``limit`` most recent). ``account`` pins it to
    a named account (``tg-parser auth login --account NAME``); unpinned
    channels are spread over the named accounts.

    Returns:
        The channel key (``durov`` for ``@durov``, ``https://t.me/s/durov``, …; ``c<id>`` for ids).

    Raises:
        InputError: The reference is no username, link or id.
    """
    ref = parse_channel_ref(reference)
    name = ref.username if ref.kind is RefKind.USERNAME else None
    telegram_id = 0 if name else (ref.telegram_id or 0)
    with session_scope(database_url) as session:
        channels.upsert_channel(
            session,
            key=ref.key,
            telegram_id=telegram_id,
            username=name,
            title=name or ref.key,
            chat_type=None,
            source_kind="telegram",
            source=TelegramSourceRef(
                reference=name or str(ref), since=since, limit=limit, account=account
            ).to_json(),
            export_dir=str(Path(export_dir).resolve()) if export_dir else None,
        )
    return ref.key


def parse_schedule(every: str) -> int:
    """Parse a schedule period (``15m``, ``1h``, ``1d``) into seconds.

    Raises:
        InputError: Not a period, or shorter than one minute (Beat ticks every minute).
    """
    seconds = int(parse_period(every).total_seconds())
    if seconds < MIN_SCHEDULE_S:
        msg = "the shortest schedule is 1m (Beat ticks once a minute)"
        raise InputError(msg)
    return seconds


def add_channel(
    *,
    database_url: str,
    source: str,
    every: str | None = None,
    username: str | None = None,
    export_dir: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    account: str | None = None,
) -> list[str]:
    """Add a channel: an export file/folder (every chat in it) or a live reference, optionally scheduled.

    Args:
        database_url: The database.
        source: A path that exists (an export), else a channel reference.
        every: Schedule period (``15m``…), or ``None`` for on-demand runs.
        username: Public username for an export of one chat.
        export_dir: The channels' export folder.
        since: Live channels: the first run backfills posts since then.
        limit: Live channels: the first run backfills at most this many posts.
        account: Live channels: the named Telegram account to read it with.

    Returns:
        The keys of the added channels.

    Raises:
        InputError: A bad period, reference or export.
    """
    every_s = parse_schedule(every) if every else None
    if Path(source).exists():
        keys = [
            c.key
            for c in register_export(
                database_url=database_url, path=source, username=username, export_dir=export_dir
            )
        ]
    else:
        keys = [
            register_telegram(
                database_url=database_url,
                reference=source,
                export_dir=export_dir,
                since=since,
                limit=limit,
                account=account,
            )
        ]
    with session_scope(database_url) as session:
        for key in keys:
            channels.set_schedule(session, key=key, every_s=every_s)
    return keys


def resolve_channel_keys(*, database_url: str, references: list[str]) -> list[str]:
    """Turn what a user typed (a key, ``@name``, a t.me link, an id) into known channel keys.

    Raises:
        NotFoundError: A reference names no known channel.
    """
    keys = []
    with session_scope(database_url) as session:
        for reference in references:
            try:
                channels.get_channel(session, key=reference)
                keys.append(reference)
                continue
            except NotFoundError:
                pass
            try:
                key = parse_channel_ref(reference).key
            except InputError:
                key = reference
            channels.get_channel(session, key=key)  # raises NotFoundError naming the key
            keys.append(key)
    return keys


def set_paused(*, database_url: str, key: str, paused: bool) -> None:
    """Pause or resume a channel's scheduled runs.

    Raises:
        NotFoundError: Unknown channel.
    """
    with session_scope(database_url) as session:
        channels.set_paused(session, key=key, paused=paused)


def remove_channel(*, database_url: str, key: str) -> None:
    """Remove a channel with its posts, documents, topics and runs.

    Raises:
        NotFoundError: Unknown channel.
    """
    with session_scope(database_url) as session:
        channels.remove_channel(session, key=key)


def list_channels(*, database_url: str) -> list[ChannelSummary]:
    """Return every channel with its counts, by key, its ``source`` described for humans.

    ``source`` reads ``export <path> (chat <id>)`` or ``telegram <reference>``.
    """
    with session_scope(database_url) as session:
        rows = channels.list_channels(session)
    return [replace(r, source=_describe_source(r.source_kind, r.source)) for r in rows]


def show_channel(*, database_url: str, key: str) -> ChannelSummary:
    """Return one channel with its counts, its ``source`` described as :func:`list_channels` does.

    Raises:
        NotFoundError: Unknown channel.
    """
    with session_scope(database_url) as session:
        rows = channels.list_channels(session, key=key)
    if not rows:
        msg = f"no channel with key {key!r} (see `tg-parser channels list`)"
        raise NotFoundError(msg)
    row = rows[0]
    return replace(row, source=_describe_source(row.source_kind, row.source))


def _describe_source(kind: str, source: str) -> str:
    if kind == "telegram":
        return f"telegram {TelegramSourceRef.from_json(source).reference}"
    if kind == "export":
        data = json.loads(source)
        return f"export {data['path']} (chat {data['chat_id']})"
    return source
