"""A pooled psycopg connection in autocommit, for the per-post statements that skip the ORM.

The process step runs once per post on every worker; its read
(:func:`tg_parser.storage.messages.read_message_to_process`) and its finish
write (:func:`tg_parser.storage.post_finish.finish_post`) talk to psycopg
directly, on a connection of the engine's pool, so that a post costs one round
trip each and little Python. Both need the same care around that connection,
which lives here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from tg_parser.errors import RetryableError
from tg_parser.storage.session import get_engine


def usable(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``conn`` is still open and not broken."""
    return not (conn.closed or conn.broken)


@contextlib.contextmanager
def autocommit_connection(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Lend a pooled psycopg connection of ``database_url`` (PostgreSQL), in autocommit.

    Each statement is its own transaction unless the caller sends ``BEGIN``
    itself (psycopg would otherwise send its own ``BEGIN`` first and wait for
    it: one more round trip). On the way back the connection returns to the
    pool in transaction mode, which is what sessions expect; one left inside a
    transaction or in autocommit is dropped from the pool instead.

    Yields:
        The connection.

    Raises:
        RetryableError: The connection was lost or refused
            (``psycopg.OperationalError``); a broken connection is dropped
            from the pool, so the next checkout opens a new one.
    """
    raw = get_engine(database_url).raw_connection()
    conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
    try:
        try:
            conn.autocommit = True
            yield conn
        except psycopg.OperationalError as exc:
            if conn.broken or conn.closed:
                raw.invalidate(exc)  # the pool opens a new connection; this one is dropped
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"database unavailable: {type(exc).__name__}: {first_line}"
            raise RetryableError(msg) from exc
        finally:
            if usable(conn) and conn.info.transaction_status == TransactionStatus.IDLE:
                conn.autocommit = False
    finally:
        if raw.is_valid and conn.autocommit:
            # Left in autocommit (an aborted transaction that could not be rolled
            # back): never hand it to a session, which expects transactions.
            raw.invalidate()
        raw.close()  # back to the pool (or dropped, when invalidated)
