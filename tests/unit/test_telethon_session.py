"""Telegram settings, session files and login: file modes and secrets kept out of logs and errors."""

# Test helpers and fakes need no docstrings; every test has one.
# ruff: noqa: D102, D103

from __future__ import annotations

import os
import stat
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs
from telethon import TelegramClient, errors
from telethon.crypto import AuthKey
from telethon.sessions import StringSession
from telethon.tl import types

from tg_parser.config.telegram import TelegramSettings, load_telegram_settings
from tg_parser.errors import ConfigurationError, InputError
from tg_parser.sources.telegram_session import build_client, login, open_session, prepare_session_file

API_HASH = "0123456789abcdef0123456789abcdef"
PHONE = "+15550001234"
PASSWORD = "correct horse battery"  # noqa: S105 - a test secret that must not leak
CODE = "24680"


def real_string_session() -> str:
    """Return a valid StringSession string (DC address plus a random auth key)."""
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(os.urandom(256))
    return session.save()


@pytest.fixture
def tg_env(monkeypatch, tmp_path):
    for name in ("TELEGRAM_SESSION", "TELEGRAM_SESSION_FILE", "TELEGRAM_PHONE", "TELEGRAM_API_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.setenv("TELEGRAM_API_HASH", API_HASH)
    monkeypatch.setenv("TELEGRAM_PHONE", PHONE)
    return tmp_path


@pytest.mark.usefixtures("tg_env")
def test_settings_defaults_and_env_names(monkeypatch) -> None:
    """TELEGRAM_* variables fill the settings; edit window and flood limit have documented defaults."""
    settings = load_telegram_settings()
    assert settings.api_id == 12345
    assert settings.api_hash.get_secret_value() == API_HASH
    assert settings.edit_window == 50
    assert settings.flood_sleep_max_s == 30
    assert settings.session_file.name == "telegram.session"
    assert "~" not in str(settings.session_file)
    monkeypatch.setenv("TELEGRAM_EDIT_WINDOW", "-1")
    with pytest.raises(ConfigurationError, match="TELEGRAM_EDIT_WINDOW"):
        load_telegram_settings()


def test_session_file_is_created_owner_only(tg_env, monkeypatch) -> None:
    """The session file is 0600 in a 0700 folder whatever the umask, and a wider existing one is tightened."""
    old = os.umask(0o000)
    try:
        monkeypatch.setenv("TELEGRAM_SESSION_FILE", str(tg_env / "state" / "acct"))
        client = build_client(load_telegram_settings())
        path = tg_env / "state" / "acct.session"
        assert path.exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        client.session.close()
        wide = tg_env / "wide.session"
        wide.write_text("")
        wide.chmod(0o644)
        prepare_session_file(wide)
        assert stat.S_IMODE(wide.stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.usefixtures("tg_env")
def test_string_session_wins_and_a_bad_one_is_refused_without_echo(monkeypatch) -> None:
    """TELEGRAM_SESSION builds a StringSession; an invalid one fails without its value in the message."""
    monkeypatch.setenv("TELEGRAM_SESSION", real_string_session())
    session = open_session(load_telegram_settings())
    assert isinstance(session, StringSession)
    assert session.dc_id == 2
    bad = "1NOT-A-REAL-SESSION-xyzzy-secret"
    monkeypatch.setenv("TELEGRAM_SESSION", bad)
    with pytest.raises(ConfigurationError) as caught:
        open_session(load_telegram_settings())
    assert bad not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.usefixtures("tg_env")
def test_build_client_turns_telethon_flood_sleep_off() -> None:
    """The client leaves every FloodWait to TelethonSource, which applies TELEGRAM_FLOOD_SLEEP_MAX_S."""
    client = build_client(load_telegram_settings(session=real_string_session()))
    assert isinstance(client, TelegramClient)
    assert client.flood_sleep_threshold == 0
    missing = TelegramSettings(api_id=None, api_hash=None)
    with pytest.raises(ConfigurationError, match=r"my\.telegram\.org"):
        build_client(missing)


@pytest.mark.usefixtures("tg_env")
def test_secrets_never_appear_in_repr_str_or_settings_errors(monkeypatch) -> None:
    """repr/str of the settings and of configuration errors show no api hash, session or phone."""
    session_string = real_string_session()
    monkeypatch.setenv("TELEGRAM_SESSION", session_string)
    settings = load_telegram_settings()
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    for secret in (API_HASH, PHONE, session_string):
        assert secret not in shown
    assert API_HASH not in settings.account_key()
    monkeypatch.setenv("TELEGRAM_FLOOD_SLEEP_MAX_S", "lots")
    with pytest.raises(ConfigurationError) as caught:
        load_telegram_settings()
    for secret in (API_HASH, PHONE, session_string):
        assert secret not in str(caught.value)


class FakeLoginClient:
    """Telethon's login calls, with real Telethon errors; a 2FA account unless told otherwise."""

    def __init__(self, session: Any, api_id: int, api_hash: str, *, fail: Exception | None = None) -> None:
        self.session = session
        self.api_id, self.api_hash = api_id, api_hash
        self.fail = fail
        self.sent: list[str] = []
        self.disconnected = False

    async def connect(self) -> None:
        return None

    async def is_user_authorized(self) -> bool:
        return False

    async def send_code_request(self, phone: str) -> None:
        self.sent.append(phone)
        if self.fail is not None:
            raise self.fail

    async def sign_in(
        self, phone: str | None = None, code: str | None = None, password: str | None = None
    ) -> None:
        if password is None:
            assert (phone, code) == (PHONE, CODE)
            raise errors.SessionPasswordNeededError(request=None)
        if password != PASSWORD:
            raise errors.PasswordHashInvalidError(request=None)

    async def get_me(self) -> Any:
        return types.User(id=777, first_name="Hari", last_name="Seldon")

    async def disconnect(self) -> None:
        self.disconnected = True


def test_login_with_two_step_password_writes_a_private_session_and_logs_no_secret(tg_env) -> None:
    """Code then 2FA password log the account in; the file is 0600 and no secret reaches the logs."""
    made: list[FakeLoginClient] = []

    def factory(session: Any, api_id: int, api_hash: str) -> FakeLoginClient:
        made.append(FakeLoginClient(session, api_id, api_hash))
        return made[-1]

    with capture_logs() as logs:
        result = login(
            api_id=12345,
            api_hash=SecretStr(API_HASH),
            phone=SecretStr(PHONE),
            code_callback=lambda: CODE,
            password_callback=lambda: PASSWORD,
            session_file=tg_env / "login.session",
            client_factory=factory,
        )
    assert result.account == "Hari Seldon"
    assert result.session_file == tg_env / "login.session"
    assert stat.S_IMODE(result.session_file.stat().st_mode) == 0o600
    assert made[0].sent == [PHONE]
    assert made[0].disconnected
    dumped = repr(logs) + repr(result)
    for secret in (API_HASH, PHONE, PASSWORD, CODE):
        assert secret not in dumped
    assert any(entry["event"] == "telegram.login" for entry in logs)


@pytest.mark.usefixtures("tg_env")
def test_login_errors_name_the_problem_but_not_the_secrets() -> None:
    """A wrong password or a bad phone number fail as InputError with no phone, code or password in them."""

    def wrong_password() -> str:
        return "guess"

    with pytest.raises(InputError, match="password is wrong") as wrong:
        login(
            api_id=12345,
            api_hash=API_HASH,
            phone=PHONE,
            code_callback=lambda: CODE,
            password_callback=wrong_password,
            string_session=True,
            client_factory=FakeLoginClient,
        )
    with pytest.raises(InputError, match="phone number is not valid") as bad_phone:
        login(
            api_id=12345,
            api_hash=API_HASH,
            phone=PHONE,
            code_callback=lambda: CODE,
            password_callback=lambda: PASSWORD,
            string_session=True,
            client_factory=lambda s, i, h: FakeLoginClient(
                s, i, h, fail=errors.PhoneNumberInvalidError(request=None)
            ),
        )
    for caught in (wrong, bad_phone):
        text = str(caught.value) + repr(caught.value)
        for secret in (API_HASH, PHONE, PASSWORD, CODE, "guess"):
            assert secret not in text
        assert caught.value.__cause__ is None
