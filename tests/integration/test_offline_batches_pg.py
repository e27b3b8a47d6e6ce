"""Embedded offline processing by batches on PostgreSQL: the document rows of the one-post path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _create_pg_database, _drop_pg_database, need, port_open
from tests.unit.test_offline_batches import check_batches_match_one_post_path
from tg_parser.storage.session import dispose_engines

pytestmark = pytest.mark.integration


def test_batches_write_the_documents_of_the_one_post_path_on_postgresql(tmp_path: Path) -> None:
    """On PostgreSQL, batches in-process and in 2 worker processes write what post by post writes."""
    need(port_open("127.0.0.1", 5432), "PostgreSQL is not answering on 127.0.0.1:5432")
    made: list[str] = []

    def database(_name: str) -> str:
        made.append(_create_pg_database())
        return made[-1]

    try:
        check_batches_match_one_post_path(tmp_path, database)
    finally:
        dispose_engines()
        for url in made:
            _drop_pg_database(url)
