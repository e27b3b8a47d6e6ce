"""The error tree of tg_parser.

Every error the library raises on purpose is a :class:`TgParserError`. The tree
tells the task layer what to do with a failure (after dramatiq's error tree):

* :class:`RetryableError`: try again later (timeouts, HTTP 408/409/429/5xx,
  connection loss, Telegram FloodWait, database disconnects). It may carry the
  wait the server asked for (``retry_after_s``).
* :class:`PermanentError`: retrying cannot help (HTTP 4xx, invalid LLM output
  after its own re-asks). The task gives up at once and writes a dead letter.
* :class:`InputError`: a permanent error caused by bad input (a malformed export
  file or message). It names the file and the message id.
"""

from __future__ import annotations

from typing import Any


class TgParserError(Exception):
    """Root of every error raised on purpose by tg_parser."""


class ConfigurationError(TgParserError):
    """The settings are unusable (a value out of range, a missing secret)."""


class RetryableError(TgParserError):
    """A transient failure: the same call may succeed later.

    Args:
        message: What failed, for humans.
        retry_after_s: The wait the server named (FloodWait seconds, HTTP
            ``Retry-After``), in seconds, or ``None`` when it named none.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        """Keep the message and the server's wait."""
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentError(TgParserError):
    """A failure that retrying cannot fix; the work item is dead-lettered."""


class AccountLostError(PermanentError):
    """The Telegram account is logged out or banned: no channel can be read with it (issue 13)."""


class InputError(PermanentError):
    """Bad input: a malformed export file or message.

    Args:
        message: What is wrong.
        path: The file the input came from, when known.
        message_id: The Telegram message id concerned, when known.
        offset: Byte offset in the file where the fault starts, when known.
        unread: ``(start, end)`` byte range of the file that was skipped
            unread (more than the one message named, or an unreadable tail),
            or ``None``. A run whose source had such a range ends partial.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        message_id: int | str | None = None,
        offset: int | None = None,
        unread: tuple[int, int] | None = None,
    ) -> None:
        """Build the message from the reason, the file and the message id."""
        self.path = path
        self.message_id = message_id
        self.offset = offset
        self.unread = unread
        where = []
        if path is not None:
            where.append(f"file {path}")
        if message_id is not None:
            where.append(f"message {message_id}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{message}")
        self.reason = message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by reason, file, message id, offset and range (keyword-only: a plain reduce loses them).

        An import reads the export in a child process and sends its errors to
        the parent (:mod:`tg_parser.services.export_reader`).
        """
        return (_input_error, (self.reason, self.path, self.message_id, self.offset, self.unread))


def _input_error(
    reason: str,
    path: str | None,
    message_id: int | str | None,
    offset: int | None = None,
    unread: tuple[int, int] | None = None,
) -> InputError:
    return InputError(reason, path=path, message_id=message_id, offset=offset, unread=unread)


class NotFoundError(PermanentError):
    """A channel, run or other record named by the caller does not exist."""
