"""`tg-parser metrics serve` on PostgreSQL: Prometheus scrapes it over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ops_cli import ops_argv
from tg_parser.config import load_settings
from tg_parser.services import channels as channels_service
from tg_parser.services.embedded import run_channel_embedded

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def free_port() -> int:
    """Return a local TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str, *, deadline_s: float = 30) -> str:
    """GET ``url`` until it answers (the exporter is starting)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback http
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_serve_publishes_pipeline_counters_from_postgresql(
    pg_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """After a run on PostgreSQL, /metrics shows its posts, the run and its duration; then a second run."""
    settings = load_settings(database_url=pg_url, export_dir=str(tmp_path / "exports"))
    key = channels_service.register_export(database_url=pg_url, path=sample_export)[0].key
    run_channel_embedded(settings=settings, channel=key)
    posts = sum(
        1 for m in json.loads(sample_export.read_text(encoding="utf-8"))["messages"] if m["type"] == "message"
    )

    port = free_port()
    env = {**os.environ, "DATABASE_URL": pg_url, "LOG_FORMAT": "json"}
    env.pop("CELERY_BROKER_URL", None)
    proc = subprocess.Popen(
        ops_argv("metrics", "serve", "--port", str(port)),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = samples(scrape(f"http://127.0.0.1:{port}/metrics"))
        assert first[("tg_parser_metrics_database_up", ())] == 1
        assert first[("tg_parser_posts_ingested_total", (("channel", key),))] == posts
        assert first[("tg_parser_posts_processed_total", (("channel", key),))] > 100
        assert first[("tg_parser_runs_total", (("status", "succeeded"),))] == 1
        assert first[("tg_parser_run_duration_seconds_count", ())] == 1
        assert first[("tg_parser_run_duration_seconds_sum", ())] > 0

        run_channel_embedded(settings=settings, channel=key)
        second = samples(scrape(f"http://127.0.0.1:{port}/metrics"))
        assert second[("tg_parser_runs_total", (("status", "succeeded"),))] == 2
        assert second[("tg_parser_posts_ingested_total", (("channel", key),))] == posts
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert f"127.0.0.1:{port}/metrics" in err


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse the text format into ``{(sample name, labels): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
