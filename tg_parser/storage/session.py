"""Engines and sessions: one engine per process, disposed after fork.

SQLite gets WAL, foreign keys and a busy timeout so the CLI and an embedded run
can share a file; PostgreSQL gets a pooled psycopg 3 engine whose connections
are tested on checkout (:func:`_check_on_checkout`) so a connection killed
server-side (``pg_terminate_backend``, a restart) is replaced, without a
``SELECT 1`` round trip on every checkout of a busy worker.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tg_parser.errors import RetryableError

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_factories: dict[str, sessionmaker[Session]] = {}
_read_factories: dict[str, sessionmaker[Session]] = {}
_sqlite_locks: dict[str, threading.RLock] = {}

DEFAULT_POOL_SIZE = 5
"""Connections a PostgreSQL engine keeps open when nothing asks for more (SQLAlchemy's own default)."""

POOL_OVERFLOW = 5
"""Connections opened beyond the pool size at a burst, closed again when returned."""

_min_pool_size = DEFAULT_POOL_SIZE

PING_AFTER_IDLE_S = 10.0
"""A pooled PostgreSQL connection unused for longer than this is pinged (``SELECT 1``) before use.

Below it, a connection is pinged only when its socket has something to read
(see :func:`_check_on_checkout`). 10 s is long next to the milliseconds
between two posts of a busy worker, and short next to any server or network
idle timeout.
"""

_CHECKED_IN = "tgp_checked_in_at"


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
    engine = create_engine(
        database_url,
        pool_size=_min_pool_size,
        max_overflow=POOL_OVERFLOW,
        pool_recycle=1800,
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _check_on_checkout)
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _check_on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Test a pooled connection before use, with a round trip only when it may be dead.

    This replaces SQLAlchemy's ``pool_pre_ping``, which sends ``SELECT 1`` on
    every checkout: two round trips per post on the cluster. An idle
    PostgreSQL connection has nothing to read, so a readable socket means the
    server wrote to it unasked: it closed the connection
    (``pg_terminate_backend`` and a shutdown send a FATAL error, then EOF).
    The socket is polled without waiting; only when it is readable, or the
    connection sat in the pool longer than :data:`PING_AFTER_IDLE_S` (a
    connection dropped silently by the network), is ``SELECT 1`` sent.
    Raising ``DisconnectionError`` makes the pool drop the connection and
    check out another (SQLAlchemy, "Disconnect Handling - Pessimistic",
    custom checkout events:
    https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic).

    A connection that dies after this test fails its statement; the session
    turns that into :class:`~tg_parser.errors.RetryableError` and the step is
    retried under its policy.

    Raises:
        DisconnectionError: The connection is dead.
    """
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is None:  # fresh from connect()
        return
    if time.monotonic() - checked_in < PING_AFTER_IDLE_S and not _readable(dbapi_connection):
        return
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True  # no BEGIN: one round trip, no transaction left open
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.autocommit = autocommit
    except Exception as exc:
        msg = f"pooled connection is dead: {exc}"
        raise DisconnectionError(msg) from exc


def _readable(dbapi_connection: Any) -> bool:
    """Whether the connection's socket has data (or EOF) to read, without waiting; ``True`` if unknown."""
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # noqa: BLE001 - a closed connection has no socket: it is dead
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    readable, _, broken = select.select([fd], [], [fd], 0)
    return bool(readable or broken)


def reserve_connections(concurrency: int) -> None:
    """Size the connection pool of every PostgreSQL engine for ``concurrency`` threads of this process.

    A Celery worker with ``--pool threads -c 32`` runs 32 posts at once, each
    holding a connection for its transactions. With a smaller pool the
    threads beyond it either wait for a connection or open one that is closed
    again when returned (the overflow), and a PostgreSQL connection costs a
    server process fork each time. So the pool keeps at least one connection
    per thread: ``pool_size = max(DEFAULT_POOL_SIZE, concurrency)``. Engines
    already made with a smaller pool are dropped and made again on next use.

    Args:
        concurrency: Threads of this process that use the database at once (``>= 1``).
    """
    global _min_pool_size  # noqa: PLW0603 - one pool size per process, set at its start
    size = max(DEFAULT_POOL_SIZE, concurrency)
    with _lock:
        if size <= _min_pool_size:
            return
        _min_pool_size = size
        for url in [u for u, e in _engines.items() if not u.startswith("sqlite")]:
            _engines.pop(url).dispose()
            _factories.pop(url, None)
            _read_factories.pop(url, None)


def pool_size(database_url: str) -> int:
    """Return how many connections the process-wide engine of ``database_url`` keeps (its pool size).

    Raises:
        TypeError: The engine's pool has no fixed size (SQLite's).
    """
    pool = get_engine(database_url).pool
    size = getattr(pool, "size", None)
    if size is None:
        msg = f"the pool of {type(pool).__name__} has no size"
        raise TypeError(msg)
    return int(size())


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


def _read_factory(database_url: str) -> sessionmaker[Session]:
    """Return the factory of sessions without a transaction (PostgreSQL autocommit) for reads."""
    engine = get_engine(database_url)
    with _lock:
        factory = _read_factories.get(database_url)
        if factory is None:
            if database_url.startswith("sqlite"):
                # pysqlite opens a transaction only before a write: a read never has one.
                factory = _factories[database_url]
            else:
                bind = engine.execution_options(isolation_level="AUTOCOMMIT")
                factory = sessionmaker(bind, expire_on_commit=False)
            _read_factories[database_url] = factory
        return factory


@contextmanager
def session_scope(database_url: str, *, read_only: bool = False) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error.

    Args:
        database_url: The database.
        read_only: The caller only reads: on PostgreSQL every statement then
            runs on its own (autocommit), without ``BEGIN`` and ``COMMIT``
            round trips, so several reads do not share one snapshot; on
            SQLite the in-process writer lock is not taken. Writing in such a
            session is a bug (each write would commit at once).

    Raises:
        RetryableError: The database connection was lost or refused
            (``pg_terminate_backend``, a restart, a locked SQLite file); the
            caller's retry policy applies.
    """
    if read_only:
        yield from _scope(_read_factory(database_url))
        return
    with _writer_lock(database_url):
        yield from _scope(session_factory(database_url))


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


def _scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
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
        _read_factories.clear()


def _after_fork_in_child() -> None:
    # The parent's pooled sockets must not be closed (or used) by the child:
    # dispose(close=False) forgets them without sending a Terminate message.
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _factories.clear()
    _read_factories.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
