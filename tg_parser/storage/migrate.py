"""Alembic wrappers behind ``tg-parser db …`` (the schema comes only from migrations)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tg_parser.storage.session import get_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic itself is imported by the functions that run it: every CLI command
# checks the schema first (``is_at_head``), and importing Alembic and loading
# each migration module cost about a third of a second of a short command.


def _migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config for ``database_url`` using the packaged scripts."""
    from alembic.config import Config

    ini = _migrations_dir().parent / "alembic.ini"
    cfg = Config(str(ini)) if ini.is_file() else Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the database to ``revision`` (``base`` drops everything)."""
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


def stamp(database_url: str, revision: str) -> None:
    """Record ``revision`` as current without running migrations."""
    from alembic import command

    command.stamp(alembic_config(database_url), revision)


def history(database_url: str) -> list[str]:
    """Return one line per revision, newest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(database_url))
    return [f"{rev.revision}  {rev.doc}  (down: {rev.down_revision})" for rev in script.walk_revisions()]


def current_revision(database_url: str) -> str | None:
    """Return the database's current revision, or ``None`` for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(database_url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(database_url: str) -> str | None:
    """Return the newest revision of the packaged migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def is_at_head(database_url: str) -> bool:
    """Return whether the database is migrated to the newest revision.

    The cheap form of ``current_revision(url) == head_revision(url)``, run
    before every CLI command: one ``SELECT`` of ``alembic_version`` (the table
    where Alembic records the applied revision; none on an empty database),
    compared with the heads read from the migration files' ``revision`` and
    ``down_revision`` assignments, without importing Alembic or the migration
    modules. ``tests/integration/test_migrations.py`` checks both against
    Alembic's own answers.
    """
    return stored_revisions(database_url) == script_heads()


def stored_revisions(database_url: str) -> frozenset[str]:
    """Return the revisions recorded in the database's ``alembic_version`` (empty when there is none).

    Raises:
        sqlalchemy.exc.OperationalError: The database cannot be reached.
    """
    with get_engine(database_url).connect() as conn:
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except DBAPIError as exc:
            if _missing_table(exc):
                return frozenset()
            raise
    return frozenset(str(r) for r in rows)


def _missing_table(exc: DBAPIError) -> bool:
    """Tell whether ``exc`` says ``alembic_version`` does not exist (PostgreSQL or SQLite wording)."""
    if getattr(exc.orig, "sqlstate", None) == "42P01":  # psycopg: undefined_table
        return True
    return "no such table" in str(exc.orig)


@functools.cache
def script_heads() -> frozenset[str]:
    """Return the head revisions of the packaged migrations, read from their files without running them.

    A head is a ``revision`` no other file names as its ``down_revision``
    (a string or a tuple of strings, as Alembic writes them).

    Raises:
        TypeError: A file under ``migrations/versions`` has no literal ``revision``.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((_migrations_dir() / "versions").glob("*.py")):
        if path.name == "__init__.py":
            continue
        values = _literal_assignments(path, ("revision", "down_revision"))
        revision = values.get("revision")
        if not isinstance(revision, str):
            msg = f"{path}: no literal revision"
            raise TypeError(msg)
        revisions.add(revision)
        down = values.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


def _literal_assignments(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Return the literal values assigned at module level to ``names`` in a Python file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        target: ast.expr | None = None
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(value)
    return found
