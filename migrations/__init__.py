"""Alembic migrations of the tg_parser database (shipped inside the package)."""
