# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""Turn one message object of a Telegram Desktop ``result.json`` into a :class:`Message`.

Private helpers of :mod:`tg_parser.sources.desktop_export`. Format rules come from
Telegram Desktop's JSON writer (``Telegram/SourceFiles/export/output/
export_output_json.cpp`` in telegramdesktop/tdesktop: ``SerializeText``,
``SerializeMessage``) and from the real exports under ``shared/data/exports``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tg_parser.domain import Entity, EntityType, Message, Reaction
from tg_parser.domain.post_fields import PostFields
from tg_parser.errors import InputError
from tg_parser.sources._desktop_media import media_of

#: Media keys Desktop writes when a message has no ``media_type`` of its own,
#: in the order they are checked, and the media type each one stands for.
_MEDIA_KEYS: tuple[tuple[str, str], ...] = (
    ("photo", "photo"),
    ("file", "document"),
    ("poll", "poll"),
    ("contact_information", "contact"),
    ("place_name", "venue"),
    ("location_information", "location"),
    ("game_title", "game"),
    ("invoice_information", "invoice"),
    ("giveaway_information", "giveaway"),
    ("giveaway_results", "giveaway_results"),
    ("paid_stars_amount", "paid_media"),
)

#: JSON scalar types as error messages name them (bool before int: bool is an int).
_JSON_SCALARS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
)

#: Bounds of the database's BIGINT (the store's id and count columns): a larger
#: integer (valid JSON, read by the fallback decoder) is refused as an input error.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_ENTITY_TYPES = {t.value: t for t in EntityType}
# Members bound once: attribute access on an Enum class is slow in a hot loop.
_PLAIN = EntityType.PLAIN.value
_UNKNOWN = EntityType.UNKNOWN
_UNKNOWN_VALUE = EntityType.UNKNOWN.value
_TEXT_LINK = EntityType.TEXT_LINK
_LINK = EntityType.LINK
_MENTION_NAME = EntityType.MENTION_NAME
_PRE = EntityType.PRE


def flatten_text(text: str | list[Any]) -> tuple[str, tuple[Entity, ...]]:
    """Flatten a Desktop ``text`` (or ``text_entities``) value into text and entities.

    Rule source: Telegram Desktop's ``SerializeText`` writes a message's text as
    one string when it has no formatting, else as a list of plain strings and
    ``{"type", "text", "href"|"user_id"|"language"|"document_id"|"collapsed"?}``
    objects; ``text_entities`` is the same list with every part an object
    (plain runs as ``{"type": "plain"}``). The text is the exact concatenation
    of the parts.

    Entity offsets and lengths are counted in Python code points of the
    returned text. ``plain`` parts are not entities. ``text_link`` keeps its
    ``href`` as ``url``; ``link`` gets its own text as ``url``; ``mention_name``
    keeps ``user_id``; ``pre`` keeps a non-empty ``language``. Type names
    Telegram Desktop uses are :class:`EntityType` values; any other name becomes
    :attr:`EntityType.UNKNOWN` with the name in ``raw_type``.

    Args:
        text: A string, or a list of strings and part objects.

    Returns:
        ``(text, entities)``, entities in source order.

    Raises:
        InputError: When ``text`` is neither a string nor a list, or a part is
            neither a string nor an object with a string ``type`` and ``text``.
            The error names no file; callers add it.

    """
    flat, entities = flatten_text_dicts(text)
    return flat, tuple(Entity(**entity) for entity in entities)


def flatten_text_dicts(text: str | list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """Flatten like :func:`flatten_text`, with each entity as ``Entity.json_dict`` would give it.

    The rules, checks and errors of :func:`flatten_text` (which builds its
    :class:`Entity` models from these dicts), without the models.

    Raises:
        InputError: As :func:`flatten_text`.
    """
    if isinstance(text, str):
        return text, []
    if not isinstance(text, list):
        msg = f"text is {json_kind(text)}, expected a string or a list of parts"
        raise InputError(msg)
    pieces: list[str] = []
    entities: list[dict[str, Any]] = []
    offset = 0
    for position, part in enumerate(text):
        if isinstance(part, str):
            piece = part
        elif isinstance(part, dict):
            part_text = part.get("text")
            if not isinstance(part_text, str):
                msg = f"text part {position} has {json_kind(part_text)} as its text, expected a string"
                raise InputError(msg)
            piece = part_text
            entity = _entity(part, offset=offset, piece=piece, position=position)
            if entity is not None:
                entities.append(entity)
        else:
            msg = f"text part {position} is {json_kind(part)}, expected a string or an object"
            raise InputError(msg)
        pieces.append(piece)
        offset += len(piece)
    return "".join(pieces), entities


def _entity(part: dict[str, Any], *, offset: int, piece: str, position: int) -> dict[str, Any] | None:
    """Return the entity of one text part as ``Entity.json_dict`` gives it (``None`` for plain text)."""
    raw_type = part.get("type")
    if not isinstance(raw_type, str):
        msg = f"text part {position} has {json_kind(raw_type)} as its type, expected a string"
        raise InputError(msg)
    if raw_type == _PLAIN:
        return None
    entity_type = _ENTITY_TYPES.get(raw_type, _UNKNOWN)
    if entity_type is _UNKNOWN:
        out: dict[str, Any] = {"type": _UNKNOWN_VALUE, "offset": offset, "length": len(piece), "text": piece}
        if raw_type != _UNKNOWN_VALUE:
            out["raw_type"] = raw_type
        return out
    # A known type's value is its name in the file.
    out = {"type": raw_type, "offset": offset, "length": len(piece), "text": piece}
    _add_target(out, entity_type, part=part, piece=piece)
    return out


def _add_target(out: dict[str, Any], entity_type: EntityType, *, part: dict[str, Any], piece: str) -> None:
    """Add what a link, a mention or a code block points at (the optional keys of ``Entity.json_dict``)."""
    if entity_type is _TEXT_LINK:
        href = part.get("href")
        if isinstance(href, str) and href:
            out["url"] = href
    elif entity_type is _LINK:
        out["url"] = piece
    elif entity_type is _MENTION_NAME:
        user_id = _optional_int(part.get("user_id"))
        if user_id is not None:
            out["user_id"] = user_id
    elif entity_type is _PRE:
        lang = part.get("language")
        if isinstance(lang, str) and lang:
            out["language"] = lang


def is_post(raw: dict[str, Any]) -> bool:
    """Tell whether a message object is a post (``"type": "message"``).

    Desktop writes ``service`` for service messages (joins, pins, title
    changes…) and ``unsupported`` for messages it could not export; neither is
    a post.

    Args:
        raw: One message object.

    Returns:
        ``True`` for a post.

    Raises:
        InputError: When ``type`` is missing or not a string.

    """
    kind = raw.get("type")
    if not isinstance(kind, str):
        msg = f"message type is {json_kind(kind)}, expected a string such as 'message' or 'service'"
        raise InputError(msg)
    return kind == "message"


def to_message(raw: dict[str, Any], *, channel_id: int) -> Message:
    """Build the :class:`Message` of one post object.

    Times: ``date_unixtime`` / ``edited_unixtime`` (newer exports) are the true
    UTC epoch seconds. Older exports carry only ``date`` / ``edited``, the
    wall-clock time of the exporting machine with no zone; lacking the zone, we
    read that time as UTC (so such times can be off by the exporter's UTC
    offset). A zone-qualified ``date`` is converted to UTC.

    Args:
        raw: One message object with ``"type": "message"``.
        channel_id: The chat's ``id`` from the export.

    Returns:
        The post; ``raw`` is kept as :attr:`Message.raw`.

    Raises:
        InputError: When a field has the wrong shape (no file named; the
            caller adds file and message id).

    """
    post = to_post_fields(raw, channel_id=channel_id)
    # Every field has been checked to be of its declared type (entities and
    # reactions are built as validated models here), and Message has no other
    # constraint, so validation would only copy ``raw`` (about half the cost
    # of a post). tests/unit/test_desktop_export.py checks that validating the
    # result changes nothing.
    return Message.model_construct(
        channel_id=post.channel_id,
        message_id=post.message_id,
        date=post.date,
        text=post.text,
        entities=tuple(Entity(**entity) for entity in post.entities),
        edited=post.edited,
        author=post.author,
        reply_to=post.reply_to,
        forwarded_from=post.forwarded_from,
        media_type=post.media_type,
        views=post.views,
        reactions=tuple(Reaction(**reaction) for reaction in post.reactions),
        forwards=post.forwards,
        media=post.media,
        raw=raw,
    )


def to_post_fields(raw: dict[str, Any], *, channel_id: int) -> PostFields:
    """Read one post object into the plain values of its :class:`Message` (see :func:`to_message`).

    The same rules, checks and errors as :func:`to_message`, without building
    the models: the import of an export into PostgreSQL encodes these values
    for ``COPY`` directly.

    Args:
        raw: One message object with ``"type": "message"``.
        channel_id: The chat's ``id`` from the export.

    Returns:
        The post's values; entities as ``Entity.json_dict`` gives them,
        reactions as ``{"emoji", "count"}``.

    Raises:
        InputError: As :func:`to_message`.

    """
    message_id: Any = raw.get("id")
    if not _is_int(message_id) or not _INT64_MIN <= message_id <= _INT64_MAX:
        msg = f"message id is {json_kind(message_id)}, expected a 64-bit integer"
        raise InputError(msg)
    if "text_entities" in raw:
        parts = raw["text_entities"]
        if not isinstance(parts, list):
            msg = f"text_entities is {json_kind(parts)}, expected a list"
            raise InputError(msg)
        text, entities = flatten_text_dicts(parts)
        if _concatenate(raw.get("text", "")) != text:
            msg = "text_entities do not spell the same text as text"
            raise InputError(msg)
    else:
        text, entities = flatten_text_dicts(raw.get("text", ""))
    if not _is_int(channel_id):
        msg = f"chat id is {json_kind(channel_id)}, expected an integer"
        raise InputError(msg)
    media_type = _media_type(raw)
    return PostFields(
        channel_id,
        message_id,
        _required_time(raw, "date"),
        text,
        entities,
        _time(raw, "edited", required=False),
        _author(raw),
        _int_field(raw, "reply_to_message_id"),
        _optional_str(raw.get("forwarded_from")),
        media_type,
        _int_field(raw, "views"),
        _reactions(raw.get("reactions")),
        raw,
        # tg-depth (issue 13): forwards and media metadata; None on the common text-only post.
        forwards=_int_field(raw, "forwards"),
        media=media_of(raw, media_type) if media_type is not None else None,
    )


def _concatenate(text: Any) -> str:
    """Return the text of a ``text`` value without building entities."""
    if isinstance(text, list):
        pieces = [
            part if isinstance(part, str) else part.get("text") if isinstance(part, dict) else None
            for part in text
        ]
        if all(isinstance(piece, str) for piece in pieces):
            return "".join(pieces)  # type: ignore[arg-type]
    return flatten_text(text)[0]  # raises the precise error


def _required_time(raw: dict[str, Any], key: str) -> datetime:
    value = _time(raw, key, required=True)
    if value is None:  # pragma: no cover - _time raises first
        msg = f"message has no {key}"
        raise InputError(msg)
    return value


def _time(raw: dict[str, Any], key: str, *, required: bool) -> datetime | None:
    unix = raw.get(f"{key}_unixtime")
    if unix is not None:
        return _from_unixtime(unix, key=f"{key}_unixtime")
    value = raw.get(key)
    if value is None:
        if required:
            msg = f"message has no {key}"
            raise InputError(msg)
        return None
    if not isinstance(value, str):
        msg = f"{key} is {json_kind(value)}, expected an ISO 8601 string"
        raise InputError(msg)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        msg = f"{key} {value!r} is not an ISO 8601 date"
        raise InputError(msg) from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _from_unixtime(value: Any, *, key: str) -> datetime:
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(key)  # noqa: TRY301 - one message for every bad shape
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        msg = f"{key} {value!r} is not a Unix time in seconds"
        raise InputError(msg) from exc


def _author(raw: dict[str, Any]) -> str | None:
    signature = raw.get("author")
    if isinstance(signature, str) and signature:
        return signature
    return _optional_str(raw.get("from"))


def _media_type(raw: dict[str, Any]) -> str | None:
    declared = raw.get("media_type")
    if isinstance(declared, str) and declared:
        return declared
    for key, media_type in _MEDIA_KEYS:
        if raw.get(key) is not None:
            return media_type
    return None


def _reactions(value: Any) -> list[dict[str, Any]]:
    """Read Desktop ``reactions``: ``[{"type", "count", "emoji"|"document_id"?, "recent"?}]``.

    Rule source: ``SerializeMessage`` / ``Reaction::TypeToString`` in
    tdesktop (types ``emoji``, ``custom_emoji``, ``paid``, ``empty``). Older
    exports wrote ``{"emoji", "count"}`` without a type. Keys (issue 13): the
    emoji itself, ``custom:<document id>`` for a custom emoji, ``paid`` for
    paid stars; ``empty`` reactions are dropped and a key met twice has its
    counts added, so the result is a mapping in first-seen order.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        msg = f"reactions is {json_kind(value)}, expected a list"
        raise InputError(msg)
    counts: dict[str, int] = {}
    for reaction in value:
        if not isinstance(reaction, dict):
            msg = f"a reaction is {json_kind(reaction)}, expected an object"
            raise InputError(msg)
        count = reaction.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            msg = f"reaction count {count!r} is not a non-negative integer"
            raise InputError(msg)
        kind = reaction.get("type", "emoji")
        if kind == "empty":
            continue
        if kind == "custom_emoji":
            document_id = reaction.get("document_id")
            key = f"custom:{document_id}" if document_id not in (None, "") else "custom:unknown"
        elif kind == "paid":
            key = "paid"
        else:
            key = _optional_str(reaction.get("emoji")) or str(kind)
        counts[key] = counts.get(key, 0) + count
    return [{"emoji": key, "count": count} for key, count in counts.items()]


def _int_field(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if not _is_int(value) or not _INT64_MIN <= value <= _INT64_MAX:
        msg = f"{key} is {json_kind(value)}, expected a 64-bit integer"
        raise InputError(msg)
    return int(value)


def _optional_int(value: Any) -> int | None:
    if _is_int(value) and _INT64_MIN <= value <= _INT64_MAX:
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_kind(value: Any) -> str:
    """Name a JSON value's type for error messages (``a string ('x')``, ``null``…)."""
    if value is None:
        return "null"
    for cls, name in _JSON_SCALARS:
        if isinstance(value, cls):
            return f"{name} ({value[:40] if isinstance(value, str) else value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
