"""Logging for tg_parser: structlog in front, stdlib ``logging`` underneath.

:func:`configure_logging` installs one handler on the root logger whose
:class:`structlog.stdlib.ProcessorFormatter` renders *every* record, ours and
those of celery, sqlalchemy, alembic, telethon and :mod:`warnings`, the same way:

* ``json``: one JSON object per line with ``timestamp`` (ISO 8601, UTC),
  ``level``, ``event``, ``logger`` and whatever was bound;
* ``text``: structlog's :class:`~structlog.dev.ConsoleRenderer`, coloured only
  on a terminal.

Context bound with :func:`bind_context` (``task_id``, ``task_name``,
``run_id``, ``channel``, ``message_id``, ``correlation_id``, …) lives in
:mod:`contextvars` and is merged into every line, stdlib lines included.

Secrets never reach the output: the values of secret-looking keys, pydantic
``SecretStr`` values, passwords in URLs, provider API keys and Telegram
session strings are masked in the event, in every value and in exception text
(see :func:`redact`). Nothing happens at import time.

Example:
    >>> configure_logging(log_format="json", log_level="INFO")
    >>> bind_context(run_id="r-1", channel="durov")
    >>> get_logger(__name__).info("post ingested", message_id=42)

"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TextIO

import structlog
from pydantic import SecretBytes, SecretStr

from tg_parser.errors import ConfigurationError

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "CONTEXT_KEYS",
    "MASK",
    "bind_context",
    "clear_context",
    "configure_logging",
    "get_logger",
    "redact",
    "unbind_context",
]

MASK: Final = "***"
"""What a secret is replaced with."""

CONTEXT_KEYS: Final = ("task_id", "task_name", "run_id", "channel", "message_id", "correlation_id")
"""Context keys the task layer binds; any other key may be bound too."""

LOG_FORMATS: Final = ("json", "text")

_HANDLER_NAME: Final = "tg_parser"
_MAX_DEPTH: Final = 8

# A key is secret when one of its words (split on ``_ - . space`` and camelCase)
# ends in one of these, e.g. ``api_key``, ``apiKey``, ``bot_token``,
# ``telegram_session``, ``db_password``; or when it holds ``api_hash``.
# ``keywords``, ``content_hash`` and ``prompt_tokens`` (an int) stay visible.
_SECRET_WORD: Final = re.compile(
    r"(?:^|[^a-z0-9])[a-z0-9]*"
    r"(?:key|token|secret|password|passwd|pwd|session|phone|authorization|cookie|credentials?|dsn)"
    r"s?(?=$|[^a-z0-9])"
    r"|api_?hash",
)
_NOT_SECRET_KEYS: Final = frozenset(
    {"channel_key", "routing_key", "cache_key", "lock_key", "sort_key", "idempotency_key"},
)
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Text patterns, applied in order by redact().
_URL_PASSWORD: Final = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s\"'<>]*):(?P<pw>[^\s/\"'<>]+)@",
)
_KV_SECRET: Final = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|token|api_key|apikey|api_hash|access_token"
    r"|refresh_token|session|string_session)\s*[=:]\s*)(?P<q>[\"']?)(?P<value>[^\s\"'&,;]+)",
)
_BEARER: Final = re.compile(r"(?i)\b(?P<head>bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")
_OPENAI_KEY: Final = re.compile(r"\bsk-(?:[A-Za-z]+-)*[A-Za-z0-9_\-]{16,}")
_GOOGLE_KEY: Final = re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}")
_BOT_TOKEN: Final = re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_\-]{30,}")
# Telethon's StringSession is ~350 characters of URL-safe base64 (auth key of
# 256 bytes); any long base64 run mixing cases and digits is treated as one.
_LONG_BASE64: Final = re.compile(r"[A-Za-z0-9+/_\-]{80,}={0,2}")


def _mask_base64(match: re.Match[str]) -> str:
    """Mask a long base64 run unless it lacks the mix of a random token (e.g. hex digests)."""
    run = match.group(0)
    mixed = any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run)
    return MASK if mixed else run


def redact(text: str) -> str:
    """Mask the secrets found in a piece of text.

    Masks passwords inside URLs (``postgresql://tg:pw@host`` → ``tg:***@host``,
    ``redis://:pw@host`` → ``:***@host``), ``password=…``-style pairs,
    ``Bearer`` tokens, OpenAI/Anthropic keys (``sk-…``), Google API keys
    (``AIza…``), Telegram bot tokens and long base64 strings such as a
    Telethon ``StringSession``.

    Args:
        text: Any text: a log event, a value, a traceback, a rendered line.

    Returns:
        The text with each secret replaced by :data:`MASK`.

    """
    if not text:
        return text
    text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    text = _KV_SECRET.sub(rf"\g<head>\g<q>{MASK}", text)
    text = _BEARER.sub(rf"\g<head>{MASK}", text)
    text = _OPENAI_KEY.sub(f"sk-{MASK}", text)
    text = _GOOGLE_KEY.sub(MASK, text)
    text = _BOT_TOKEN.sub(MASK, text)
    return _LONG_BASE64.sub(_mask_base64, text)


def _is_secret_key(key: object) -> bool:
    """Tell whether a key's name says its value is a secret."""
    if not isinstance(key, str):
        return False
    name = _CAMEL.sub("_", key).lower()
    return name not in _NOT_SECRET_KEYS and _SECRET_WORD.search(name) is not None


def _redact_value(value: Any, depth: int = 0) -> Any:
    """Return ``value`` with secrets masked, walking mappings and sequences."""
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: _redact_item(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v, depth + 1) for v in value]
    return value


def _redact_item(key: object, value: Any, depth: int) -> Any:
    """Mask a whole value under a secret key; numbers, booleans and None stay (token counts)."""
    if _is_secret_key(key) and value is not None and not isinstance(value, bool | int | float):
        return MASK
    return _redact_value(value, depth)


def redact_event_dict(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Structlog processor masking secrets in every key and value of an event.

    Args:
        _logger: The wrapped logger (unused).
        _method: The log method's name (unused).
        event_dict: The event; ``exc_info`` must already be rendered to text
            (``format_exc_info``) for tracebacks to be redacted here.

    Returns:
        A new event dict with secrets masked.

    """
    return {key: _redact_item(key, value, 0) for key, value in event_dict.items()}


class _RedactingRenderer:
    """Wrap a renderer and redact its output: the last net for reprs and tracebacks."""

    def __init__(self, renderer: Processor) -> None:
        self._renderer = renderer

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        rendered = self._renderer(logger, method, event_dict)
        return redact(rendered if isinstance(rendered, str) else str(rendered))


def _shared_processors() -> list[Processor]:
    """Processors run on every event, ours (before wrapping) and stdlib's (pre-chain)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _formatter(log_format: str, stream: TextIO) -> structlog.stdlib.ProcessorFormatter:
    """Build the formatter that renders every record in ``log_format``."""
    renderer: Processor
    if log_format == "json":
        tail: list[Processor] = [structlog.processors.format_exc_info, redact_event_dict]
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        colors = bool(getattr(stream, "isatty", lambda: False)())
        tail = [redact_event_dict]
        # plain_traceback: rich's traceback would print local variables, secrets included.
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            _RedactingRenderer(renderer),
        ],
    )


def _parse_level(log_level: str) -> int:
    """Turn ``"info"``/``"INFO"``/``"20"`` into a stdlib level number.

    Raises:
        ConfigurationError: The name is no logging level.

    """
    text = str(log_level).strip().upper()
    if text.isdigit():
        return int(text)
    level = logging.getLevelNamesMapping().get(text)
    if level is None:
        msg = f"LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
        raise ConfigurationError(msg)
    return level


_ALEMBIC_SETUP_PREFIXES = ("Context impl ", "Will assume ", "setup plugin ")


class _AlembicSetupFilter(logging.Filter):
    """Drop Alembic's set-up chatter below DEBUG: its plugin set-up, "Context impl …", "Will assume … DDL".

    Alembic logs them at INFO on every migration context (``alembic.runtime.plugins``,
    ``alembic.runtime.migration``); "Running upgrade …" lines stay.
    """

    def __init__(self, *, quiet: bool) -> None:
        super().__init__()
        self.quiet = quiet

    def filter(self, record: logging.LogRecord) -> bool:
        """Return ``False`` for a set-up line of Alembic when quiet."""
        if not self.quiet or not record.name.startswith("alembic."):
            return True
        return not str(record.msg).startswith(_ALEMBIC_SETUP_PREFIXES)


def configure_logging(*, log_format: str, log_level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one redacting renderer.

    Idempotent: a second call replaces the handler installed by the first (so
    the format or level can change) and never adds a second one. Handlers that
    others put on the root logger (pytest's, say) are left alone. Call it from
    the CLI and from celery's ``setup_logging`` signal, which fires before the
    worker redirects stdout/stderr.

    Args:
        log_format: ``"json"`` (one JSON object per line) or ``"text"``.
        log_level: A stdlib level name (``DEBUG`` … ``CRITICAL``), any case.
        stream: Where lines go; ``sys.stderr`` (as it is at call time) when None.

    Raises:
        ConfigurationError: ``log_format`` or ``log_level`` is not valid.

    """
    fmt = str(log_format).strip().lower()
    if fmt not in LOG_FORMATS:
        msg = f"LOG_FORMAT={log_format!r}: expected one of {', '.join(LOG_FORMATS)}"
        raise ConfigurationError(msg)
    level = _parse_level(log_level)
    target = stream if stream is not None else sys.stderr

    handler = logging.StreamHandler(target)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(fmt, target))

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler.addFilter(_AlembicSetupFilter(quiet=level > logging.DEBUG))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(capture=True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers made at import time (before this call) must pick up a reconfiguration.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger named ``name`` (usually ``__name__``).

    Safe at import time: the logger is resolved lazily, on first use, against
    whatever :func:`configure_logging` set up.

    Args:
        name: The logger's name, shown as ``logger`` in each line.

    Returns:
        A bound logger with stdlib-style methods (``info``, ``exception``, …).

    """
    return structlog.stdlib.get_logger(name)


def bind_context(**kv: Any) -> None:
    """Bind keys to the current context; every following line carries them.

    Args:
        **kv: E.g. ``task_id``, ``task_name``, ``run_id``, ``channel``,
            ``message_id``, ``correlation_id`` (see :data:`CONTEXT_KEYS`).

    """
    structlog.contextvars.bind_contextvars(**kv)


def unbind_context(*keys: str) -> None:
    """Remove some keys from the current context.

    Args:
        *keys: Names bound earlier with :func:`bind_context`.

    """
    structlog.contextvars.unbind_contextvars(*keys)


def clear_context() -> None:
    """Remove every key from the current context (call at the end of a task)."""
    structlog.contextvars.clear_contextvars()
