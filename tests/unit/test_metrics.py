"""The Prometheus collector on a SQLite database filled by the real pipeline."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tg_parser.config import Settings, load_settings
from tg_parser.errors import PermanentError
from tg_parser.processing.base import LLMUsage
from tg_parser.services import channels as channels_service
from tg_parser.services import execute
from tg_parser.services.embedded import run_channel_embedded
from tg_parser.services.metrics import RUN_DURATION_BUCKETS_S, build_registry
from tg_parser.storage import channels, dead_letters, documents, migrate
from tg_parser.storage import usage as usage_store
from tg_parser.storage.session import get_engine, session_scope

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "tg_parser_dashboard.json"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(database_url: str) -> Samples:
    """Render the exporter's text format and parse it back: ``{(sample name, labels): value}``."""
    text = generate_latest(build_registry(database_url=database_url)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def published_names(database_url: str) -> set[str]:
    """Every sample name the exporter can publish, from the families it declares (even without samples)."""
    text = generate_latest(build_registry(database_url=database_url)).decode()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {f.name + s for f in text_string_to_metric_families(text) for s in suffixes[f.type]}


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; fails the test when the sample is missing."""
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"{name}{labels} not published; have {sorted(k for k in samples if k[0] == name)}"
    return samples[key]


def sample_posts(sample_export: Path) -> int:
    """Count the posts (not service messages) of the sample export, read straight from the file."""
    data = json.loads(sample_export.read_text(encoding="utf-8"))
    return sum(1 for m in data["messages"] if m.get("type") == "message")


@pytest.fixture(scope="module")
def processed_sample(
    sample_export: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, float]:
    """Run the sample export through the real embedded pipeline once; return file, key, wall time."""
    path = tmp_path_factory.mktemp("metrics-db") / "processed.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    key = channels_service.register_export(database_url=url, path=sample_export)[0].key
    started = time.monotonic()
    run_channel_embedded(settings=_settings(url, path.parent), channel=key)
    wall_s = time.monotonic() - started
    get_engine(url).dispose()
    return path, key, wall_s


def _settings(url: str, folder: Path) -> Settings:
    return load_settings(database_url=url, export_dir=str(folder / "exports"))


@pytest.fixture
def db(processed_sample: tuple[Path, str, float], tmp_path: Path) -> tuple[str, str]:
    """Copy the processed database for one test; return its URL and the channel key."""
    path, key, _wall = processed_sample
    target = tmp_path / "metrics.db"
    with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return f"sqlite:///{target}", key


def test_post_and_run_counters_match_the_pipeline(
    db: tuple[str, str], processed_sample: tuple[Path, str, float], sample_export: Path
) -> None:
    """After one run: every post ingested, every text post processed, one succeeded run in the histogram."""
    url, key = db
    samples = scrape(url)
    with session_scope(url) as session:
        documents = usage_store.count_rows(session)["documents"]
    assert value(samples, "tg_parser_metrics_database_up") == 1
    assert value(samples, "tg_parser_posts_ingested_total", channel=key) == sample_posts(sample_export)
    assert value(samples, "tg_parser_posts_processed_total", channel=key) == documents > 100
    assert value(samples, "tg_parser_posts_failed_total", channel=key) == 0
    assert value(samples, "tg_parser_dead_letters_total", channel=key) == 0
    assert value(samples, "tg_parser_runs_total", status="succeeded") == 1
    assert value(samples, "tg_parser_runs_total", status="failed") == 0
    assert not [k for k in samples if k[0] == "tg_parser_runs_in_progress"]

    wall_s = processed_sample[2]
    assert value(samples, "tg_parser_run_duration_seconds_count") == 1
    assert 0 < value(samples, "tg_parser_run_duration_seconds_sum") <= wall_s + 1
    buckets = [
        value(samples, "tg_parser_run_duration_seconds_bucket", le=str(b)) for b in RUN_DURATION_BUCKETS_S
    ]
    assert buckets == sorted(buckets)
    assert value(samples, "tg_parser_run_duration_seconds_bucket", le="+Inf") == 1
    duration = value(samples, "tg_parser_run_duration_seconds_sum")
    for bound, n in zip(RUN_DURATION_BUCKETS_S, buckets, strict=True):
        assert n == (1 if duration <= bound else 0)


def test_a_second_run_counts_a_run_but_no_new_posts(db: tuple[str, str], tmp_path: Path) -> None:
    """Re-running the same export adds a finished run; stored, processed posts are not counted again."""
    url, key = db
    before = scrape(url)
    run_channel_embedded(settings=_settings(url, tmp_path), channel=key)
    after = scrape(url)
    for name in ("tg_parser_posts_ingested_total", "tg_parser_posts_processed_total"):
        assert value(after, name, channel=key) == value(before, name, channel=key)
    assert value(after, "tg_parser_runs_total", status="succeeded") == 2
    assert value(after, "tg_parser_run_duration_seconds_count") == 2


def test_failures_and_dead_letters_are_counted_per_channel(db: tuple[str, str], tmp_path: Path) -> None:
    """A post that gave up counts as failed and dead-lettered for its channel; no channel is `unknown`."""
    url, key = db
    with session_scope(url) as session:
        channel_pk = channels.get_channel(session, key=key).id
        post_pk = documents.topic_inputs(session, channel_pk=channel_pk)[0][0]
    execute.record_failure(
        settings=_settings(url, tmp_path),
        run_id=None,
        message_pk=post_pk,
        error=PermanentError("invalid output"),
        attempts=3,
        dispatcher=None,
    )
    with session_scope(url) as session:
        dead_letters.add_dead_letter(
            session,
            run_id=None,
            task_name="tg_parser.ingest_channel",
            args={"channel": key},
            error_type="InputError",
            error_message="bad message",
            attempts=1,
        )
        dead_letters.add_dead_letter(
            session,
            run_id=None,
            task_name="tg_parser.export_channel",
            args={},
            error_type="OSError",
            error_message="disk full",
            attempts=3,
        )
    samples = scrape(url)
    assert value(samples, "tg_parser_posts_failed_total", channel=key) == 1
    assert value(samples, "tg_parser_dead_letters_total", channel=key) == 2
    assert value(samples, "tg_parser_dead_letters_total", channel="unknown") == 1


def test_llm_tokens_and_cost_per_provider_model_and_direction(db: tuple[str, str]) -> None:
    """Token counts split by direction and summed cost come out per provider and model."""
    url, key = db
    usage = [
        LLMUsage(
            provider="openai", model="gpt-5-mini", input_tokens=1200, output_tokens=300, cost_usd=0.0009
        ),
        LLMUsage(provider="openai", model="gpt-5-mini", input_tokens=800, output_tokens=100, cost_usd=0.0005),
        LLMUsage(provider="ollama", model="qwen2.5:7b", input_tokens=50, output_tokens=20, cost_usd=None),
    ]
    with session_scope(url) as session:
        channel_pk = channels.get_channel(session, key=key).id
        usage_store.record_llm_calls(
            session, usage=usage, run_id=None, channel_pk=channel_pk, message_pk=None
        )
    samples = scrape(url)
    openai = {"provider": "openai", "model": "gpt-5-mini"}
    ollama = {"provider": "ollama", "model": "qwen2.5:7b"}
    assert value(samples, "tg_parser_llm_tokens_total", **openai, direction="in") == 2000
    assert value(samples, "tg_parser_llm_tokens_total", **openai, direction="out") == 400
    assert value(samples, "tg_parser_llm_cost_usd_total", **openai) == pytest.approx(0.0014)
    assert value(samples, "tg_parser_llm_calls_total", **openai) == 2
    assert value(samples, "tg_parser_llm_tokens_total", **ollama, direction="in") == 50
    assert value(samples, "tg_parser_llm_cost_usd_total", **ollama) == 0


def test_unreadable_database_is_reported_not_raised(tmp_path: Path) -> None:
    """Scraping a database that cannot be opened answers `tg_parser_metrics_database_up 0`, not an error."""
    samples = scrape(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    assert samples == {("tg_parser_metrics_database_up", ()): 0}


def test_dashboard_queries_only_published_metrics(db: tuple[str, str]) -> None:
    """Every tg_parser_* series the dashboard queries is published; every published family is shown."""
    published = published_names(db[0])
    exprs = []

    def walk(panels: list[dict[str, object]]) -> None:
        for panel in panels:
            exprs.extend(str(t.get("expr", "")) for t in panel.get("targets", []))  # type: ignore[union-attr]
            walk(panel.get("panels", []))  # type: ignore[arg-type]

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    walk(dashboard["panels"])
    queried = {m for e in exprs for m in re.findall(r"\btg_parser_[a-z_]+", e)}
    assert queried
    assert queried <= published, sorted(queried - published)
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in published} - {
        "tg_parser_metrics_database_up",
        "tg_parser_metrics_scrape_duration_seconds",
        "tg_parser_llm_calls",
    }
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in queried}
    assert families <= shown, sorted(families - shown)
