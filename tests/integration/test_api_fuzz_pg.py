"""The schemathesis fuzz of the HTTP API on PostgreSQL (stricter than SQLite: NUL characters, int widths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_api_fuzz import fuzz_every_operation

pytestmark = pytest.mark.integration


def test_no_input_makes_a_5xx_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """Any generated request gets a documented status and schema-conforming body on PostgreSQL too."""
    fuzz_every_operation(pg_url, tmp_path)
