"""Engines and sessions: one engine per process, disposed after fork.

SQLite gets WAL, foreign keys and a busy timeout so the CLI and an embedded run
can share a file; PostgreSQL gets a pooled psycopg 3 engine with pre-ping so a
connection killed server-side (``pg_terminate_backend``) is replaced.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tg_parser.errors import RetryableError

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}
_sqlite_locks: dict[str, threading.RLock] = {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the file and loses no committed transaction
    # when the process dies; only a power loss may undo the last commits (SQLite
    # docs, "PRAGMA synchronous"). FULL would fsync on every commit: several per post.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """Create a new engine for ``database_url`` (no caching).

    Args:
        database_url: A SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://``).
    """
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_recycle=1800)


def get_engine(database_url: str) -> Engine:
    """Return the process-wide engine for ``database_url``, creating it once."""
    with _lock:
        engine = _engines.get(database_url)
        if engine is None:
            engine = make_engine(database_url)
            _engines[database_url] = engine
            _factories[database_url] = sessionmaker(engine, expire_on_commit=False)
        return engine


def session_factory(database_url: str) -> sessionmaker[Session]:
    """Return the process-wide session factory for ``database_url``."""
    get_engine(database_url)
    return _factories[database_url]


@contextmanager
def session_scope(database_url: str) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error.

    Raises:
        RetryableError: The database connection was lost or refused
            (``pg_terminate_backend``, a restart, a locked SQLite file); the
            caller's retry policy applies.
    """
    with _writer_lock(database_url):
        yield from _scope(database_url)


def _writer_lock(database_url: str) -> contextlib.AbstractContextManager[object]:
    """Serialise this process's transactions on one SQLite file (nothing for other databases).

    SQLite has one writer at a time; a second writer waits in its busy
    handler, which sleeps in steps of up to 100 ms (SQLite ``sqliteDefaultBusyCallback``).
    Threads of one process (embedded mode's concurrent posts) queue on this
    lock instead and are woken the moment the transaction before them ends.
    Re-entrant, so a transaction opened inside another in the same thread
    behaves as before.
    """
    if not database_url.startswith("sqlite"):
        return contextlib.nullcontext()
    with _lock:
        lock = _sqlite_locks.get(database_url)
        if lock is None:
            lock = _sqlite_locks[database_url] = threading.RLock()
    return lock


def _scope(database_url: str) -> Iterator[Session]:
    session = session_factory(database_url)()
    try:
        yield session
        session.commit()
    except (OperationalError, InterfaceError) as exc:
        _safe_rollback(session)
        if not _transient(exc):
            raise
        cause = exc.orig or exc
        msg = f"database unavailable: {type(cause).__name__}: {cause}"
        raise RetryableError(msg.splitlines()[0]) from exc
    except DBAPIError as exc:
        _safe_rollback(session)
        if exc.connection_invalidated:
            msg = f"database connection lost: {exc.orig}"
            raise RetryableError(msg.splitlines()[0]) from exc
        raise
    except BaseException:
        _safe_rollback(session)
        raise
    finally:
        with contextlib.suppress(DBAPIError):  # a dead connection cannot be returned cleanly
            session.close()


def _transient(exc: DBAPIError) -> bool:
    """Whether a database error is a lost or busy connection rather than a schema or SQL fault."""
    text = str(exc.orig or exc).lower()
    return not any(s in text for s in ("no such table", "no such column", "syntax error", "does not exist"))


def _safe_rollback(session: Session) -> None:
    with contextlib.suppress(DBAPIError):  # the connection is already gone; the pool replaces it
        session.rollback()


def dispose_engines() -> None:
    """Drop every pooled connection (call in a child process after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()
        _factories.clear()


def _after_fork_in_child() -> None:
    # The parent's pooled sockets must not be closed (or used) by the child:
    # dispose(close=False) forgets them without sending a Terminate message.
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _factories.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
