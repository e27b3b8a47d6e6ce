"""Settings of the live Telegram source (``TELEGRAM_*`` variables).

The application reads them as ``get_settings().telegram``, the ``telegram``
branch of the one settings tree of :mod:`tg_parser.config`; the class lives
here, next to the adapter it configures. Nothing is read at import time; tests
build it alone with :func:`load_telegram_settings`.

Secrets (the api hash, the session string, the phone number) are
:class:`pydantic.SecretStr`: their ``repr``/``str`` show ``**********`` and they
never reach a log line or an exception message.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SESSION_FILE = Path("~/.tg_parser/telegram.session")
"""Where ``tg-parser auth login`` writes the session when ``TELEGRAM_SESSION_FILE`` is unset."""

DEFAULT_ACCOUNTS_DIR = Path("~/.tg_parser/accounts")
"""Where ``auth login --account NAME`` writes ``NAME.session`` when ``TELEGRAM_ACCOUNTS_DIR`` is unset."""


_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TelegramSettings(BaseSettings):
    """Telegram settings, read from ``TELEGRAM_*`` variables and ``.env``.

    Attributes:
        api_id: ``TELEGRAM_API_ID``, the application id from https://my.telegram.org.
        api_hash: ``TELEGRAM_API_HASH``, the application hash (secret).
        session: ``TELEGRAM_SESSION``, a Telethon ``StringSession`` (secret). When
            set it wins over the session file.
        session_file: ``TELEGRAM_SESSION_FILE``, path of the SQLite session file
            (``~`` is expanded). Default ``~/.tg_parser/telegram.session``.
        phone: ``TELEGRAM_PHONE``, the account's phone number for ``auth login`` (secret).
        edit_window: ``TELEGRAM_EDIT_WINDOW``, how many of the most recent
            already-fetched posts each incremental run reads again to catch
            edits and deletions (0 turns the window off).
        accounts_dir: ``TELEGRAM_ACCOUNTS_DIR``, the folder of named accounts
            sessions (``<name>.session``, issue 13). When it holds any, live
            channels are read with them (pinned or spread), not with
            ``session``/``session_file``. Default ``~/.tg_parser/accounts``.
        flood_sleep_max_s: ``TELEGRAM_FLOOD_SLEEP_MAX_S``, the longest FloodWait
            slept in place; a longer one fails the fetch with a retryable error
            carrying the wait.

    Raises:
        pydantic.ValidationError: On construction, when a value is out of
            range; :func:`tg_parser.config.load_settings` and
            :func:`load_telegram_settings` turn it into
            :class:`~tg_parser.errors.ConfigurationError`.
    """

    model_config = SettingsConfigDict(
        env_prefix="TELEGRAM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_id: int | None = Field(None, gt=0)
    api_hash: SecretStr | None = None
    session: SecretStr | None = None
    session_file: Path = DEFAULT_SESSION_FILE
    phone: SecretStr | None = None
    edit_window: int = Field(50, ge=0, le=1000)
    flood_sleep_max_s: float = Field(30.0, ge=0, le=3600)
    accounts_dir: Path = DEFAULT_ACCOUNTS_DIR

    @field_validator("session_file", "accounts_dir")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        """Expand ``~`` so the path is the one the session is really written to."""
        return value.expanduser()

    @field_validator("api_hash", "session", "phone")
    @classmethod
    def _empty_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        """Treat ``TELEGRAM_SESSION=`` (empty) as unset rather than as an empty secret."""
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    def for_account(self, name: str) -> TelegramSettings:
        """Return these settings for the named account: its session file under :attr:`accounts_dir`.

        Raises:
            ValueError: ``name`` is not 1-64 letters, digits, ``_`` or ``-``.
        """
        if not _ACCOUNT_NAME.fullmatch(name):
            msg = f"account name {name!r} must be 1-64 letters, digits, '_' or '-'"
            raise ValueError(msg)
        return self.model_copy(
            update={"session": None, "session_file": self.accounts_dir / f"{name}.session"}
        )

    def account_names(self) -> list[str]:
        """Return the named accounts with a session file under :attr:`accounts_dir`, sorted."""
        if not self.accounts_dir.is_dir():
            return []
        return sorted(p.stem for p in self.accounts_dir.glob("*.session") if _ACCOUNT_NAME.fullmatch(p.stem))

    def account_key(self) -> str:
        """Return a stable, non-secret key naming the Telegram account session.

        The key is used for the per-account Redis lock: the api id plus a short
        SHA-256 fingerprint of the session (the session string, or the session
        file's absolute path), so no secret can be read back from it.

        Returns:
            ``"<api_id>:<16 hex chars>"``.
        """
        if self.session is not None:
            material = "string:" + self.session.get_secret_value()
        else:
            material = "file:" + str(self.session_file.absolute())
        digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]
        return f"{self.api_id or 0}:{digest}"


def load_telegram_settings(**overrides: object) -> TelegramSettings:
    """Build the Telegram settings alone (``get_settings().telegram`` in the application).

    Args:
        **overrides: Field values that win over the environment (``edit_window=10``).

    Returns:
        The validated settings.

    Raises:
        ConfigurationError: A value is invalid; the message names the variable
            (``TELEGRAM_EDIT_WINDOW``) but never echoes a secret's value.
    """
    from tg_parser.config import build_settings  # here: tg_parser.config imports this module

    return build_settings(TelegramSettings, **overrides)
