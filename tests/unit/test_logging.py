"""Tests of tg_parser.logging: JSON/text rendering, stdlib routing, context, redaction."""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
from datetime import UTC, datetime

import pytest
import structlog
from pydantic import SecretStr

from tg_parser.errors import ConfigurationError
from tg_parser.logging import (
    bind_context,
    clear_context,
    configure_logging,
    get_logger,
    redact,
    unbind_context,
)

PG_PASSWORD = "pg-Pa55word-xyz"  # noqa: S105  # fake secret the test hunts for
REDIS_PASSWORD = "redisPassw0rd77"  # noqa: S105  # fake secret
OPENAI_KEY = "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv"
ANTHROPIC_KEY = "sk-ant-api03-ZyXwVu9876543210TsRqPoNmLk"
API_HASH = "0123456789abcdef0123456789abcdef"
PHONE = "+447700900123"
# Shaped like Telethon's StringSession: "1" + URL-safe base64 of dc, ip, port, 256-byte auth key.
STRING_SESSION = "1BVtsOKABu" + "Qm9vZ2xlU2Vzc2lvbktleTEyMzQ1Njc4OTBhYmNkZWZHSElKS0xNTk9Q" * 6 + "xYz0="
BOT_TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"  # noqa: S105  # fake secret
GOOGLE_KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"

SECRETS = (
    PG_PASSWORD,
    REDIS_PASSWORD,
    OPENAI_KEY,
    ANTHROPIC_KEY,
    API_HASH,
    PHONE,
    STRING_SESSION,
    BOT_TOKEN,
    GOOGLE_KEY,
)


@pytest.fixture
def stream():
    """Configure nothing; hand out a buffer and restore logging state afterwards."""
    root = logging.getLogger()
    saved_handlers = list(root.handlers)
    saved_level = root.level
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)
    logging.captureWarnings(capture=False)
    clear_context()
    structlog.reset_defaults()


def lines_of(buffer: io.StringIO) -> list[str]:
    """Return the non-empty lines written so far."""
    return [line for line in buffer.getvalue().splitlines() if line.strip()]


def fail(error: Exception) -> None:
    """Raise ``error`` (a frame in the traceback that the log line must render)."""
    raise error


def json_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    """Parse every line as JSON (fails the test on the first that is not)."""
    return [json.loads(line) for line in lines_of(buffer)]


def test_json_every_line_is_json_including_stdlib_and_warnings(stream):
    """In json mode structlog, stdlib (celery, sqlalchemy, alembic), warnings and tracebacks are JSON."""
    configure_logging(log_format="json", log_level="DEBUG", stream=stream)
    get_logger("tg_parser.test").info("post ingested", message_id=7)
    logging.getLogger("celery.worker.strategy").info("Task %s received", "tg_parser.process_message")
    logging.getLogger("sqlalchemy.engine.Engine").warning("multi\nline\nmessage")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade -> 0001")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logging.getLogger("celery.app.trace").exception("Task failed")
        get_logger("tg_parser.test").exception("structlog failure")

    records = json_lines(stream)
    assert len(records) == 7
    for record in records:
        assert {"timestamp", "level", "event", "logger"} <= record.keys()
        stamp = datetime.fromisoformat(str(record["timestamp"]))
        assert stamp.utcoffset() == UTC.utcoffset(None)
    assert records[0]["event"] == "post ingested"
    assert records[0]["message_id"] == 7
    by_logger = {r["logger"]: r for r in records[1:]}
    assert by_logger["celery.worker.strategy"]["event"] == "Task tg_parser.process_message received"
    assert by_logger["celery.worker.strategy"]["level"] == "info"
    assert by_logger["sqlalchemy.engine.Engine"]["event"] == "multi\nline\nmessage"
    assert by_logger["py.warnings"]["level"] == "warning"
    assert "ZeroDivisionError" in str(by_logger["celery.app.trace"]["exception"])
    assert "ZeroDivisionError" in str(records[-1]["exception"])


def test_context_keys_appear_in_structlog_and_stdlib_lines(stream):
    """Bound task context shows on every line until cleared or unbound."""
    configure_logging(log_format="json", stream=stream)
    context = {
        "task_id": "t-1",
        "task_name": "tg_parser.process_message",
        "run_id": "r-1",
        "channel": "durov",
        "message_id": 42,
        "correlation_id": "c-1",
    }
    bind_context(**context)
    get_logger("tg_parser.tasks").info("task started")
    logging.getLogger("celery.app.trace").info("Task succeeded")
    unbind_context("message_id")
    get_logger("tg_parser.tasks").info("after unbind")
    clear_context()
    get_logger("tg_parser.tasks").info("after clear")

    first, second, third, fourth = json_lines(stream)
    for record in (first, second):
        for key, value in context.items():
            assert record[key] == value
    assert "message_id" not in third
    assert third["run_id"] == "r-1"
    assert not set(context) & fourth.keys()


def test_no_secret_reaches_json_output(stream):
    """Secrets in kwargs, SecretStr, URLs, messages, extras and tracebacks are all masked."""
    configure_logging(log_format="json", stream=stream)
    log = get_logger("tg_parser.secrets")
    log.info(
        "connecting",
        database_url=f"postgresql+psycopg://tg:{PG_PASSWORD}@postgres:5432/tg_parser",
        broker=f"redis://:{REDIS_PASSWORD}@redis:6379/0",
        openai_api_key=OPENAI_KEY,
        apiKey=ANTHROPIC_KEY,
        telegram_api_hash=API_HASH,
        phone_number=PHONE,
        telegram_session=SecretStr(STRING_SESSION),
        settings={"nested": {"password": PG_PASSWORD, "items": [GOOGLE_KEY]}},
    )
    log.info(f"using key {OPENAI_KEY} and session {STRING_SESSION}")  # noqa: G004  # secrets in the event itself
    log.warning("bot %s", BOT_TOKEN)
    logging.getLogger("sqlalchemy.pool").warning(
        "connect to postgresql://tg:%s@db/x failed", PG_PASSWORD, extra={"token": BOT_TOKEN}
    )
    logging.getLogger("telethon.client").info("password=%s api_hash: %s", PG_PASSWORD, API_HASH)
    try:
        fail(RuntimeError(f"auth failed for Bearer {OPENAI_KEY} with session {STRING_SESSION}"))
    except RuntimeError:
        log.exception("provider call failed")
        logging.getLogger("celery.app.trace").exception("task raised")

    output = stream.getvalue()
    records = json_lines(stream)
    assert len(records) == 7
    for secret in SECRETS:
        assert secret not in output, secret
    first = records[0]
    assert first["database_url"] == "postgresql+psycopg://tg:***@postgres:5432/tg_parser"
    assert first["broker"] == "redis://:***@redis:6379/0"
    assert first["openai_api_key"] == "***"
    assert first["telegram_session"] == "***"
    assert first["settings"] == {"nested": {"password": "***", "items": ["***"]}}
    assert "RuntimeError" in str(records[-1]["exception"])


def test_text_mode_is_plain_console_output_without_colours_or_secrets(stream):
    """Text mode renders key=value lines with no ANSI colours off a tty and still masks secrets."""
    configure_logging(log_format="text", stream=stream)
    bind_context(run_id="r-9")
    get_logger("tg_parser.cli").info("export written", path="/tmp/x.ndjson", api_key=OPENAI_KEY)  # noqa: S108
    logging.getLogger("alembic").info("upgrade to postgresql://tg:%s@h/db", PG_PASSWORD)
    try:
        fail(ValueError(STRING_SESSION))
    except ValueError:
        get_logger("tg_parser.cli").exception("boom")

    output = stream.getvalue()
    assert "\x1b[" not in output
    assert "export written" in output
    assert "run_id=r-9" in output
    assert "api_key=***" in output
    assert "tg:***@h/db" in output
    assert "ValueError" in output
    for secret in SECRETS:
        assert secret not in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines_of(stream)[0])


def test_configure_twice_keeps_one_handler_and_switches_format(stream):
    """A second call replaces the first handler: no duplicate lines, new format applies."""
    configure_logging(log_format="text", stream=stream)
    configure_logging(log_format="json", stream=stream)
    get_logger("tg_parser.x").info("once")
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "tg_parser"]
    assert len(ours) == 1
    assert [r["event"] for r in json_lines(stream)] == ["once"]


def test_logger_made_before_configuration_uses_it(stream):
    """A module-level logger created before configure_logging renders with the configuration."""
    early = get_logger("tg_parser.early")
    configure_logging(log_format="json", stream=stream)
    early.info("late")
    assert json_lines(stream)[0]["logger"] == "tg_parser.early"


def test_level_filters_structlog_and_stdlib(stream):
    """LOG_LEVEL=WARNING drops info lines from both structlog and stdlib loggers."""
    configure_logging(log_format="json", log_level="warning", stream=stream)
    get_logger("tg_parser.a").info("hidden")
    logging.getLogger("celery").info("hidden too")
    get_logger("tg_parser.a").warning("shown")
    assert [r["event"] for r in json_lines(stream)] == ["shown"]


@pytest.mark.parametrize(
    ("log_format", "log_level"), [("xml", "INFO"), ("json", "LOUD")], ids=["format", "level"]
)
def test_invalid_settings_raise_configuration_error(stream, log_format, log_level):
    """An unknown LOG_FORMAT or LOG_LEVEL is refused with a message naming the variable."""
    with pytest.raises(ConfigurationError, match=r"LOG_(FORMAT|LEVEL)"):
        configure_logging(log_format=log_format, log_level=log_level, stream=stream)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://user:pass@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("postgresql+psycopg://tg:p@ss@db/x", "postgresql+psycopg://tg:***@db/x"),
        ("redis://:secret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("amqp://guest:guest@rabbit//", "amqp://guest:***@rabbit//"),
        (f"key {OPENAI_KEY} used", "key sk-*** used"),
        (f"key {ANTHROPIC_KEY}", "key sk-***"),
        (f"Authorization: Bearer {API_HASH}", "Authorization: Bearer ***"),
        (f"password={PG_PASSWORD} user=tg", "password=*** user=tg"),
        (f"session {STRING_SESSION}.", "session ***."),
        (f"bot{BOT_TOKEN}/getMe", "bot***/getMe"),
        (f"k={GOOGLE_KEY}", "k=***"),
    ],
)
def test_redact_masks_secrets(text, expected):
    """redact() masks each kind of secret and keeps the text around it."""
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://t.me/durov/123",
        "postgresql://tg@postgres:5432/tg_parser",
        "sha256 " + "ab12" * 16,
        "keywords: rag, llm; prompt_tokens=512",
        "Привет, мир! " * 20,
        "a" * 200,
        "",
    ],
)
def test_redact_keeps_ordinary_text(text):
    """redact() leaves text without secrets untouched (permalinks, hashes, counts, long words)."""
    assert redact(text) == text


def test_non_secret_keys_and_token_counts_stay_visible(stream):
    """Keys like keywords, content_hash, channel_key and integer token counts are not masked."""
    configure_logging(log_format="json", stream=stream)
    get_logger("tg_parser.llm").info(
        "llm call",
        keywords=["rag"],
        content_hash="ab" * 32,
        channel_key="durov",
        prompt_tokens=120,
        completion_tokens=30,
        api_key=None,
    )
    record = json_lines(stream)[0]
    assert record["keywords"] == ["rag"]
    assert record["content_hash"] == "ab" * 32
    assert record["channel_key"] == "durov"
    assert (record["prompt_tokens"], record["completion_tokens"]) == (120, 30)
    assert record["api_key"] is None


def test_timestamp_is_utc_iso(stream):
    """The timestamp is ISO 8601 in UTC, ending in Z, close to now."""
    configure_logging(log_format="json", stream=stream)
    get_logger("tg_parser.t").info("tick")
    stamp = str(json_lines(stream)[0]["timestamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", stamp)
    assert abs((datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()) < 60
