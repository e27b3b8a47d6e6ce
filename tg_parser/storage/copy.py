"""Copy a whole database into another (SQLite → PostgreSQL), verified by checksums.

:func:`copy_database` copies every table in foreign-key order, in batches,
keeping primary keys, then moves PostgreSQL sequences past the largest id. It
proves the copy with :func:`table_digests`: per table, the row count and a
SHA-256 over the canonical JSON of every row, ordered by primary key, so SQLite
and PostgreSQL agree on equal data:

* times → UTC ISO 8601 with microseconds (SQLite keeps no zone);
* JSON → keys sorted (``jsonb`` reorders them), integral floats as integers
  (``jsonb`` prints ``1e2`` as ``100``);
* text → NUL characters removed (PostgreSQL cannot store them; the copy drops
  them too, see DESIGN.md "Storage");
* binary (a stored topic model) → the SHA-256 of its bytes;
* string primary keys ordered bytewise (``COLLATE "C"`` on PostgreSQL, SQLite's
  default ``BINARY``).

The target is written in one transaction: emptied (with ``force``), filled,
sequences reset, re-read and compared, and committed only when every count
and checksum matches, so a failed copy leaves the target as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, insert, select, text

from tg_parser.errors import ConfigurationError, PermanentError
from tg_parser.storage import migrate
from tg_parser.storage._common import strip_nul
from tg_parser.storage.ops_queries import require_existing_sqlite
from tg_parser.storage.session import get_engine
from tg_parser.storage.tables import Base

_MAX_EXACT_INT = 2**53


class SchemaNotAtHeadError(ConfigurationError):
    """The source database is not migrated to the newest revision (or does not exist)."""


class TargetNotEmptyError(PermanentError):
    """The target holds other data and ``force`` was not given."""


class CopyVerificationError(PermanentError):
    """Row counts or checksums of source and target differ after the copy (nothing committed)."""


@dataclass(frozen=True)
class TableDigest:
    """Row count and checksum of one table.

    Attributes:
        table: Table name.
        rows: Row count.
        sha256: Hex SHA-256 over the canonical rows (see the module docstring).
    """

    table: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_database` did.

    Attributes:
        action: ``copied`` (into an empty target), ``replaced`` (``force`` emptied
            a non-empty target first) or ``unchanged`` (the target already held
            an identical copy).
        tables: Digest of every table, in copy order; source and target agree.
    """

    action: str
    tables: tuple[TableDigest, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"action": self.action, "tables": [asdict(t) for t in self.tables]}


def copy_tables() -> list[Table]:
    """Return every application table in foreign-key order (parents first)."""
    return list(Base.metadata.sorted_tables)


def _canonical_number(value: float | Decimal) -> int | float:
    number = float(value)
    if math.isfinite(number) and number.is_integer() and abs(number) < _MAX_EXACT_INT:
        return int(number)
    return number


def canonical(value: Any) -> Any:
    """Return the dialect-independent form of a column value (see the module docstring).

    Args:
        value: A value as SQLAlchemy returns it from either dialect.

    Returns:
        JSON-serialisable data.

    Raises:
        TypeError: For a type no table holds.
    """
    out: Any
    if value is None or isinstance(value, bool | int):
        out = value
    elif isinstance(value, float | Decimal):
        out = _canonical_number(value)
    elif isinstance(value, str):
        out = value.replace("\x00", "")
    elif isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        out = aware.isoformat(timespec="microseconds")
    elif isinstance(value, Mapping):
        out = {str(k).replace("\x00", ""): canonical(v) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        out = [canonical(v) for v in value]
    elif isinstance(value, bytes | bytearray | memoryview):  # a stored topic model (``topic_fits.model``)
        out = "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    else:
        msg = f"no canonical form for {type(value).__name__}"
        raise TypeError(msg)
    return out


def _row_bytes(row: Mapping[str, Any]) -> bytes:
    data = {name: canonical(value) for name, value in row.items()}
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _ordered_select(table: Table, dialect: str) -> Any:
    order = []
    for column in table.primary_key.columns:
        try:
            is_text = column.type.python_type is str
        except NotImplementedError:
            is_text = False
        order.append(column.collate("C") if is_text and dialect == "postgresql" else column)
    return select(table).order_by(*order)


def _iter_batches(conn: Connection, table: Table, batch_size: int) -> Any:
    stmt = _ordered_select(table, conn.dialect.name)
    result = conn.execution_options(yield_per=batch_size).execute(stmt)
    for batch in result.mappings().partitions():
        yield [dict(row) for row in batch]


def table_digests(conn: Connection, *, batch_size: int = 1000) -> dict[str, TableDigest]:
    """Return the row count and checksum of every application table.

    Args:
        conn: A connection to a database migrated to head.
        batch_size: Rows fetched per round trip.

    Returns:
        ``{table name: digest}``.
    """
    out = {}
    for table in copy_tables():
        digest = hashlib.sha256()
        rows = 0
        for batch in _iter_batches(conn, table, batch_size):
            for row in batch:
                digest.update(_row_bytes(row))
            rows += len(batch)
        out[table.name] = TableDigest(table=table.name, rows=rows, sha256=digest.hexdigest())
    return out


def _require_source(source_url: str) -> None:
    try:
        require_existing_sqlite(source_url)
    except FileNotFoundError as exc:
        msg = f"source {exc}"
        raise SchemaNotAtHeadError(msg) from exc
    current, head = migrate.current_revision(source_url), migrate.head_revision(source_url)
    if current != head:
        msg = (
            f"the source database is at revision {current or 'none (empty)'}, the newest is {head}; "
            "upgrade it first: `DATABASE_URL=<source> tg-parser db upgrade`"
        )
        raise SchemaNotAtHeadError(msg)


def _empty_target(conn: Connection, tables: list[Table]) -> None:
    if conn.dialect.name == "postgresql":
        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(t.name) for t in tables)
        conn.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))
        return
    for table in reversed(tables):
        conn.execute(table.delete())


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Move each PostgreSQL id sequence to ``max(id)`` (next id ``max + 1``; 1 for an empty table)."""
    if conn.dialect.name != "postgresql":
        return
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        t, c = quote(table.name), quote(column.name)
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "  # noqa: S608 - quoted identifiers
                f"COALESCE(MAX({c}), 1), MAX({c}) IS NOT NULL) FROM {t}"
            ),
            {"table": table.name, "column": column.name},
        )


def _storable(row: dict[str, Any]) -> dict[str, Any]:
    return {name: strip_nul(value) for name, value in row.items()}


def _differences(expected: dict[str, TableDigest], found: dict[str, TableDigest]) -> list[str]:
    out = []
    for name, want in expected.items():
        got = found.get(name)
        if got is None or got != want:
            rows = "?" if got is None else got.rows
            same_count = got is not None and got.rows == want.rows
            tail = ", checksums differ)" if same_count else ")"
            out.append(f"{name} (source {want.rows} rows, target {rows} rows{tail}")
    return out


def _copy_tables(
    src: Connection,
    dst: Connection,
    *,
    tables: list[Table],
    batch_size: int,
    on_table: Callable[[TableDigest], None] | None,
) -> dict[str, TableDigest]:
    """Insert every row of ``tables`` from ``src`` into ``dst``; return digests of what was read."""
    copied: dict[str, TableDigest] = {}
    for table in tables:
        digest = hashlib.sha256()
        rows = 0
        for batch in _iter_batches(src, table, batch_size):
            for row in batch:
                digest.update(_row_bytes(row))
            dst.execute(insert(table), [_storable(row) for row in batch])
            rows += len(batch)
        copied[table.name] = TableDigest(table=table.name, rows=rows, sha256=digest.hexdigest())
        if on_table is not None:
            on_table(copied[table.name])
    return copied


def copy_database(
    *,
    source_url: str,
    target_url: str,
    force: bool = False,
    batch_size: int = 1000,
    on_table: Callable[[TableDigest], None] | None = None,
) -> CopyReport:
    """Copy every table of ``source_url`` into ``target_url`` and prove the copy.

    Args:
        source_url: The source database (normally SQLite), migrated to head.
        target_url: The target database (normally PostgreSQL); migrated to head here.
        force: Empty a non-empty target first (``TRUNCATE … RESTART IDENTITY``).
        batch_size: Rows read and inserted per batch.
        on_table: Called with each table's digest once it is copied.

    Returns:
        The report; ``action`` says whether anything was written.

    Raises:
        SchemaNotAtHeadError: The source is missing or not at head.
        TargetNotEmptyError: The target holds different data and ``force`` is false.
        CopyVerificationError: The source changed during the copy, or the
            target read back differs (nothing is committed).
    """
    _require_source(source_url)
    migrate.upgrade(target_url)
    tables = copy_tables()
    source_engine, target_engine = get_engine(source_url), get_engine(target_url)
    with source_engine.connect() as src:
        source = table_digests(src, batch_size=batch_size)
    with target_engine.connect() as dst:
        before = table_digests(dst, batch_size=batch_size)
    target_empty = all(d.rows == 0 for d in before.values())
    if not target_empty:
        if before == source:
            return CopyReport(action="unchanged", tables=tuple(source[t.name] for t in tables))
        if not force:
            held = ", ".join(f"{d.table}: {d.rows}" for d in before.values() if d.rows)
            msg = (
                f"the target is not empty ({held} rows) and differs from the source; "
                "pass --force to empty it and copy again"
            )
            raise TargetNotEmptyError(msg)

    with target_engine.begin() as dst, source_engine.connect() as src:
        if not target_empty:
            _empty_target(dst, tables)
        copied = _copy_tables(src, dst, tables=tables, batch_size=batch_size, on_table=on_table)
        _reset_sequences(dst, tables)
        if copied != source:
            changed = ", ".join(_differences(source, copied))
            msg = f"the source changed during the copy ({changed}); stop the workers writing to it and retry"
            raise CopyVerificationError(msg)
        after = table_digests(dst, batch_size=batch_size)
        if after != copied:
            differ = ", ".join(_differences(copied, after))
            msg = f"the target differs from the source after the copy: {differ}"
            raise CopyVerificationError(msg)
    action = "copied" if target_empty else "replaced"
    return CopyReport(action=action, tables=tuple(copied[t.name] for t in tables))
