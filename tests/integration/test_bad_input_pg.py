"""Damaged exports on PostgreSQL: errors (offsets, unread ranges) cross over from the reader process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, in_ci
from tg_parser.config import Settings
from tg_parser.domain import Message
from tg_parser.processing.offline import OfflineProcessor
from tg_parser.services import channels, pipeline
from tg_parser.services.runs import show_run
from tg_parser.sources.desktop_export import DesktopExportSource

TRANTOR = SHARED_DATA / "exports" / "trantor_library_public_channel.json"
pytestmark = pytest.mark.skipif(not TRANTOR.is_file() and not in_ci(), reason=f"{TRANTOR} is missing")


def _ingest(pg_url: str, path: Path, run_id: str) -> pipeline.IngestReport:
    settings = Settings(_env_file=None, database_url=pg_url)
    (chat,) = channels.register_export(database_url=pg_url, path=path, username=None, export_dir=None)
    pipeline.start_run(database_url=pg_url, channel=chat.key, run_id=run_id, mode="embedded")
    return pipeline.ingest_channel(
        settings=settings, channel=chat.key, run_id=run_id, processor=OfflineProcessor(), dispatcher=None
    )


def test_damaged_and_truncated_export_on_postgres(pg_url: str, tmp_path: Path) -> None:
    """One post damaged, the file cut: every other post before the cut is stored; the run records the tail."""
    data = TRANTOR.read_bytes()
    at = data.index(b'"date"', data.index(b'"id": 500,'))
    cut = len(data) * 3 // 4
    path = tmp_path / "result.json"
    path.write_bytes(data[:at] + b"\x01" + data[at + 1 : cut])
    starts = [m.start() for m in re.finditer(rb'\n  \{\n   "id": ', data)] + [len(data)]
    ids = [int(re.match(rb'\s*\{\s*"id": (-?\d+)', data[s : s + 40]).group(1)) for s in starts[:-1]]  # type: ignore[union-attr]
    complete = {mid for mid, end in zip(ids, starts[1:], strict=True) if end <= cut}
    posts = {
        m.message_id for m in DesktopExportSource(TRANTOR).iter_chat(1878264527) if isinstance(m, Message)
    }
    expected = (complete & posts) - {500}
    report = _ingest(pg_url, path, "run-damaged")
    assert report.input_errors == 2
    assert any("message 500" in line for line in report.errors)
    run = show_run(database_url=pg_url, run_id="run-damaged").run
    assert run.partial
    (unread,) = run.unread_ranges
    assert (unread["path"], unread["end"]) == (str(path), cut)
    assert json.loads(json.dumps(run.unread_ranges)) == run.unread_ranges
    assert report.posts_read == len(expected)
