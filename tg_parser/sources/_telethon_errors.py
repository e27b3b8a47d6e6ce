"""Telethon and network exceptions mapped to our error tree (private to :mod:`.telethon_source`).

Messages name the channel only, never a secret. An account Telegram logged
out or banned (``AUTH_KEY_UNREGISTERED``, ``USER_DEACTIVATED_BAN``…,
https://core.telegram.org/api/errors#401-unauthorized) is an
:class:`~tg_parser.errors.AccountLostError`, so a caller with several
accounts moves the channel to another one.
"""

from __future__ import annotations

from telethon import errors

from tg_parser.errors import AccountLostError, PermanentError, RetryableError, TgParserError

#: 401 errors that mean this account can no longer be used at all (not just this channel).
ACCOUNT_LOST: tuple[type[Exception], ...] = (
    errors.AuthKeyUnregisteredError,
    errors.UserDeactivatedBanError,
    errors.UserDeactivatedError,
    errors.SessionRevokedError,
    errors.SessionExpiredError,
)

_PERMANENT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (errors.ChannelPrivateError, "is private or this account was banned from it; join it first"),
    (errors.ChatAdminRequiredError, "needs admin rights this account does not have"),
    (errors.UsernameNotOccupiedError, "no channel has this username"),
    (errors.UsernameInvalidError, "is not a valid username"),
    (errors.ChannelInvalidError, "is not a channel this account can see"),
    (errors.ChatForbiddenError, "is forbidden to this account"),
    (
        errors.UnauthorizedError,
        "cannot be read: the Telegram session is not authorised; run `tg-parser auth login`",
    ),
)


def translate(exc: Exception, channel: str | int) -> TgParserError:
    """Map a Telethon or network exception to our error tree (messages name the channel only).

    Returns:
        :class:`AccountLostError` for :data:`ACCOUNT_LOST`, :class:`PermanentError`
        for what retrying cannot fix, :class:`RetryableError` for server and
        network failures.
    """
    if isinstance(exc, ACCOUNT_LOST):
        return AccountLostError(
            f"channel {channel} cannot be read: this Telegram account is logged out or banned "
            f"({type(exc).__name__}); log it in again with `tg-parser auth login`"
        )
    for cls, reason in _PERMANENT_REASONS:
        if isinstance(exc, cls):
            return PermanentError(f"channel {channel} {reason} ({type(exc).__name__})")
    if isinstance(exc, ValueError):
        return PermanentError(
            f"channel {channel} cannot be resolved: not a known username or id for this session "
            "(add it by @username or join it first)"
        )
    if isinstance(exc, errors.ServerError | errors.TimedOutError | errors.FloodError):
        return RetryableError(f"channel {channel}: Telegram server error ({type(exc).__name__})")
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return RetryableError(f"channel {channel}: connection to Telegram failed ({type(exc).__name__})")
    return PermanentError(f"channel {channel}: Telegram refused the request ({type(exc).__name__})")
