"""Alembic wrappers behind ``tg-parser db …`` (the schema comes only from migrations)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tg_parser.storage.session import get_engine


def _migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config for ``database_url`` using the packaged scripts."""
    ini = _migrations_dir().parent / "alembic.ini"
    cfg = Config(str(ini)) if ini.is_file() else Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Downgrade the database to ``revision`` (``base`` drops everything)."""
    command.downgrade(alembic_config(database_url), revision)


def stamp(database_url: str, revision: str) -> None:
    """Record ``revision`` as current without running migrations."""
    command.stamp(alembic_config(database_url), revision)


def history(database_url: str) -> list[str]:
    """Return one line per revision, newest first."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    return [f"{rev.revision}  {rev.doc}  (down: {rev.down_revision})" for rev in script.walk_revisions()]


def current_revision(database_url: str) -> str | None:
    """Return the database's current revision, or ``None`` for an empty database."""
    with get_engine(database_url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(database_url: str) -> str | None:
    """Return the newest revision of the packaged migrations."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def is_at_head(database_url: str) -> bool:
    """Return whether the database is migrated to the newest revision."""
    return current_revision(database_url) == head_revision(database_url)
