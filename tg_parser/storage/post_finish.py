"""What one post came to, written in one transaction and, on PostgreSQL, in one round trip.

:func:`finish_post` is the write at the end of a post's process step: its
document (upserted), one ``llm_calls`` row per provider call, its run item
``pending`` → ``done``, and the test for the run's end (``processing`` →
``topicizing`` once no item is pending). These are the statements of
:func:`~tg_parser.storage.documents.upsert_document`,
:func:`~tg_parser.storage.usage.record_llm_calls`,
:func:`~tg_parser.storage.runs.finish_item` and
:func:`~tg_parser.storage.runs.claim_processing_done`, with the same rows and
the same guards.

On PostgreSQL they go to the server in **pipeline mode** (libpq's pipeline,
through psycopg: https://www.psycopg.org/psycopg3/docs/advanced/pipeline.html):
``BEGIN``, the statements and ``COMMIT`` are sent together and their results
read back after one ``Sync``, so the post's write waits for the network once
instead of once per statement. They stay separate statements, so each one
still takes its own snapshot under ``READ COMMITTED``
(https://www.postgresql.org/docs/current/transaction-iso.html): the run-end
test runs after ``SELECT … FOR UPDATE`` has locked the run's row, and of two
racing last posts the one that gets the lock second sees the other's item
committed, as in :func:`~tg_parser.storage.runs.claim_processing_done`. (A
single statement with a CTE chain would test the run's end on the snapshot
taken before the lock wait, and both racing posts could see the other pending.)
The lock is held only from that statement to the ``COMMIT`` right after it.

Elsewhere (SQLite) the same writes run through one
:func:`~tg_parser.storage.session.session_scope` transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from tg_parser.domain import Document
from tg_parser.domain.runs import ItemStatus, RunStatus, check_item_transition, check_run_transition
from tg_parser.processing.base import LLMUsage
from tg_parser.storage import documents, runs, usage
from tg_parser.storage._psycopg import autocommit_connection, usable
from tg_parser.storage.session import session_scope
from tg_parser.storage.tables import utcnow

_Statement = tuple[LiteralString | bytes, Sequence[Any]]
"""A statement and its parameters."""

_JSON_COLUMNS = frozenset({"keywords", "entities", "output"})
"""``documents`` columns stored as ``jsonb``."""

_FINISH_ITEM = (
    "UPDATE run_items SET status = %s, attempts = 1, error = NULL, updated_at = %s"
    " WHERE run_id = %s AND message_pk = %s AND status = %s"
)
_LOCK_RUN = "SELECT id FROM runs WHERE id = %s FOR UPDATE"
_CLAIM_RUN_END = (
    "UPDATE runs SET status = %s, processed_at = %s"
    " WHERE id = %s AND status = %s"
    " AND NOT EXISTS (SELECT 1 FROM run_items WHERE run_id = %s AND status = %s)"
    " RETURNING id"
)
_FLUSH_RUN = "UPDATE runs SET processed_at = processed_at WHERE id = %s"
"""A synchronous write of the run's row: it waits for the WAL flush that makes the claim durable."""


def finish_post(
    database_url: str,
    *,
    message_pk: int,
    channel_pk: int,
    run_id: str | None,
    document: Document | None = None,
    calls: Sequence[LLMUsage] = (),
    synchronous_commit: bool = True,
) -> bool:
    """Write a post's outcome and test for its run's end, in one transaction.

    With ``synchronous_commit=False`` (PostgreSQL only; ``POST_SYNCHRONOUS_COMMIT``)
    the transaction commits asynchronously (``SET LOCAL synchronous_commit = off``,
    https://www.postgresql.org/docs/current/wal-async-commit.html): the call
    returns without waiting for the commit's WAL flush, which the WAL writer
    makes within ``3 x wal_writer_delay`` (600 ms by default). A crash of the
    PostgreSQL server (not a restart or fast shutdown, which flush) may then
    lose the last posts finished before it, all of a post or none of it: their
    items stay ``pending`` and the stuck-run sweeper sends them again (their
    provider calls are made and paid twice). When the commit ends the run's
    processing, a synchronous write of the run's row follows before returning,
    so the hand-off to topicize is never lost.

    Args:
        database_url: The database.
        message_pk: The post's key.
        channel_pk: Its channel's key.
        run_id: The run whose item the post is, or ``None`` (a bare
            ``tg-parser process``: no item, no run-end test).
        document: The post's new document, or ``None`` (a post skipped or
            already current: only its item is marked).
        calls: The provider calls made for it (one ``llm_calls`` row each).
        synchronous_commit: Wait for the commit's WAL flush (this function's
            default); ``False``: see above (the process step passes
            ``POST_SYNCHRONOUS_COMMIT``, false by default). Ignored outside PostgreSQL.

    Returns:
        ``True`` for the one caller that moved the run from ``processing`` to
        ``topicizing`` (it must hand the run on to topicize); ``False``
        otherwise, and always without a ``run_id``.

    Raises:
        RetryableError: The connection was lost or refused, or the server
            rolled the transaction back (deadlock, serialisation); nothing
            was written.
    """
    check_item_transition(ItemStatus.PENDING, ItemStatus.DONE)
    check_run_transition(RunStatus.PROCESSING, RunStatus.TOPICIZING)
    if not database_url.startswith("postgresql"):
        return _finish_in_session(
            database_url,
            message_pk=message_pk,
            channel_pk=channel_pk,
            run_id=run_id,
            document=document,
            calls=calls,
        )
    now = utcnow()
    statements: list[_Statement] = []
    if document is not None:
        row = documents.document_row(message_pk=message_pk, channel_pk=channel_pk, document=document)
        row |= {"created_at": now, "updated_at": now}
        statements.append(
            (
                _upsert_document_sql(tuple(row)),
                [channel_pk, *(Jsonb(v) if k in _JSON_COLUMNS else v for k, v in row.items())],
            )
        )
    if calls:
        rows = usage.llm_call_rows(calls, run_id=run_id, channel_pk=channel_pk, message_pk=message_pk)
        statements.append(
            (_insert_calls_sql(tuple(rows[0]), len(rows)), [v for r in rows for v in r.values()])
        )
    claim: _Statement | None = None
    if run_id is not None:
        pending, done = ItemStatus.PENDING.value, ItemStatus.DONE.value
        statements.append((_FINISH_ITEM, (done, now, run_id, message_pk, pending)))
        statements.append((_LOCK_RUN, (run_id,)))
        claim = (
            _CLAIM_RUN_END,
            (RunStatus.TOPICIZING.value, now, run_id, RunStatus.PROCESSING.value, run_id, pending),
        )
    return _pipelined(database_url, statements, claim, synchronous_commit=synchronous_commit, run_id=run_id)


def _finish_in_session(
    database_url: str,
    *,
    message_pk: int,
    channel_pk: int,
    run_id: str | None,
    document: Document | None,
    calls: Sequence[LLMUsage],
) -> bool:
    """:func:`finish_post` through the ORM session (SQLite, and any non-PostgreSQL database)."""
    with session_scope(database_url) as session:
        if document is not None:
            documents.upsert_document(
                session, message_pk=message_pk, channel_pk=channel_pk, document=document
            )
        usage.record_llm_calls(
            session, usage=calls, run_id=run_id, channel_pk=channel_pk, message_pk=message_pk
        )
        if run_id is None:
            return False
        runs.finish_item(session, run_id=run_id, message_pk=message_pk, status=ItemStatus.DONE)
        return runs.claim_processing_done(session, run_id=run_id)


def _pipelined(
    database_url: str,
    statements: Sequence[_Statement],
    claim: _Statement | None,
    *,
    synchronous_commit: bool,
    run_id: str | None,
) -> bool:
    """Run ``BEGIN``, ``statements``, ``claim`` (on ``run_id``'s row) and ``COMMIT`` in one pipeline.

    Returns:
        Whether ``claim`` returned a row.
    """
    with autocommit_connection(database_url) as conn:
        won = _send(conn, statements, claim, synchronous_commit=synchronous_commit)
        if won and not synchronous_commit:
            # The run's end is handed on to topicize once we return: make it
            # durable first. A write committed synchronously waits for the WAL
            # up to its commit record, which holds the claim's commit.
            conn.execute(_FLUSH_RUN, (run_id,))
        return won


def _send(
    conn: psycopg.Connection[Any],
    statements: Sequence[_Statement],
    claim: _Statement | None,
    *,
    synchronous_commit: bool,
) -> bool:
    # BEGIN and COMMIT are sent by us, inside the pipeline (the connection is in autocommit).
    try:
        cur, claim_cur = conn.cursor(), conn.cursor()
        with conn.pipeline():
            cur.execute("BEGIN")
            if not synchronous_commit:
                cur.execute("SET LOCAL synchronous_commit = off")
            for sql, params in statements:
                cur.execute(sql, params)
            if claim is not None:
                claim_cur.execute(claim[0], claim[1])
            cur.execute("COMMIT")
        return claim is not None and claim_cur.fetchone() is not None
    except BaseException:
        # A failed statement leaves the transaction aborted (the pipeline skipped the COMMIT).
        if usable(conn) and conn.info.transaction_status != TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
        raise


def _values(width: int) -> sql.Composed:
    """``(%s, %s, …)``: one row of ``width`` placeholders."""
    return sql.SQL("({})").format(sql.SQL(", ").join([sql.Placeholder()] * width))


@lru_cache(maxsize=8)
def _upsert_document_sql(columns: tuple[str, ...]) -> bytes:
    """``INSERT … ON CONFLICT (message_pk) DO UPDATE`` of ``documents``; ``created_at`` is kept on update.

    Rendered to bytes once per column set (``as_bytes(None)``: the names are
    quoted without a connection), so a post neither composes nor renders it
    again, and psycopg's own cache of converted queries, keyed by the query's
    bytes, serves it.

    The row is stamped with the channel's next change value, taken by the
    ``UPDATE channels`` of the statement's first CTE (the lock on the channel's
    row that orders the commits, see :mod:`tg_parser.storage.changes`); its
    parameter is the channel's key, before the row's values.
    """
    updated = [sql.Identifier(c) for c in columns if c not in {"message_pk", "created_at"}]
    updated.append(sql.Identifier("change_seq"))
    statement = sql.SQL(
        "WITH seq AS (UPDATE channels SET change_seq = change_seq + 1 WHERE id = %s RETURNING change_seq) "
        "INSERT INTO documents ({}, change_seq) VALUES ({}, (SELECT change_seq FROM seq)) "
        "ON CONFLICT (message_pk) DO UPDATE SET {}"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join([sql.Placeholder()] * len(columns)),
        sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(c, c) for c in updated),
    )
    return statement.as_bytes(None)


@lru_cache(maxsize=16)
def _insert_calls_sql(columns: tuple[str, ...], count: int) -> bytes:
    """One multi-row ``INSERT`` of ``count`` ``llm_calls`` rows, rendered once per shape (as above)."""
    return (
        sql.SQL("INSERT INTO llm_calls ({}) VALUES {}")
        .format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join([_values(len(columns))] * count),
        )
        .as_bytes(None)
    )
