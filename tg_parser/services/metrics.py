"""Prometheus metrics of the pipeline, read from the database on every scrape.

Workers write their results to the database, never to in-process counters, so
one exporter (``tg-parser metrics serve``) stays right however many worker
processes and machines there are: :class:`PipelineCollector` is a
``prometheus_client`` custom collector that turns a
:class:`~tg_parser.storage.ops_queries.MetricsSnapshot` into metric families
each time Prometheus scrapes.

Published (names follow https://prometheus.io/docs/practices/naming/):

* ``tg_parser_posts_ingested_total{channel}``: posts stored (once per post).
* ``tg_parser_posts_processed_total{channel}``: run items that ended ``done``.
* ``tg_parser_posts_failed_total{channel}``: posts that gave up (``process_message`` dead letters).
* ``tg_parser_dead_letters_total{channel}``: every dead letter.
* ``tg_parser_llm_tokens_total{provider,model,direction}``: ``direction`` is ``in`` or ``out``.
* ``tg_parser_llm_cost_usd_total{provider,model}`` and ``tg_parser_llm_calls_total{provider,model}``.
* ``tg_parser_runs_total{status}``: finished runs (``succeeded``, ``failed``).
* ``tg_parser_runs_in_progress{status}``: runs not finished yet, by stage (gauge).
* ``tg_parser_run_duration_seconds``: histogram of finished runs' durations
  (creation to finish).
* ``tg_parser_metrics_database_up``: 1 when the scrape could read the database.

Counters are derived from rows that are only ever added, with one exception:
``tg-parser dlq replay`` moves a failed run back to processing, so
``tg_parser_runs_total{status="failed"}`` can step down after a replay
(Prometheus treats that as a counter reset).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from tg_parser.logging import redact
from tg_parser.storage.ops_queries import FINISHED_RUN_STATES, MetricsSnapshot, metrics_snapshot

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator, Sequence
    from wsgiref.simple_server import WSGIServer

log = structlog.get_logger(__name__)

RUN_DURATION_BUCKETS_S: tuple[float, ...] = (
    1.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    21600.0,
    86400.0,
)
"""Run-duration bucket bounds in seconds: a small export takes seconds, a large LLM run hours."""


class PipelineCollector(Collector):
    """Publishes the pipeline's counters, read from the database at each scrape.

    Args:
        database_url: The database the workers write to.
        bounds_s: Run-duration bucket bounds in seconds, ascending.
    """

    def __init__(  # noqa: D107
        self, *, database_url: str, bounds_s: Sequence[float] = RUN_DURATION_BUCKETS_S
    ) -> None:
        self._database_url = database_url
        self._bounds_s = tuple(sorted(bounds_s))

    def describe(self) -> list[Metric]:
        """Return nothing, so registering the collector does not query the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the database and yield every metric family.

        A database that cannot be read gives ``tg_parser_metrics_database_up 0``
        and nothing else, instead of a failed scrape.

        Yields:
            Metric families.
        """
        started = time.perf_counter()
        up = GaugeMetricFamily("tg_parser_metrics_database_up", "1 when this scrape could read the database.")
        try:
            snapshot = metrics_snapshot(self._database_url, bounds_s=self._bounds_s)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the outage instead of failing
            log.warning("metrics_database_unreadable", error=redact(f"{type(exc).__name__}: {exc}"))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(snapshot)
        took = GaugeMetricFamily(
            "tg_parser_metrics_scrape_duration_seconds", "Time this scrape spent reading the database."
        )
        took.add_metric([], time.perf_counter() - started)
        yield took


def _per_channel(name: str, doc: str, values: dict[str, int], channels: Sequence[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["channel"])
    for channel in sorted(set(channels) | set(values)):
        family.add_metric([channel], values.get(channel, 0))
    return family


def families(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    """Turn a snapshot into Prometheus metric families.

    Every known channel gets a sample (0 when nothing happened), so a panel
    shows the channel before its first failure.

    Args:
        snapshot: What :func:`~tg_parser.storage.ops_queries.metrics_snapshot` read.

    Yields:
        Metric families, names as in the module docstring.
    """
    channels = snapshot.channels
    yield _per_channel(
        "tg_parser_posts_ingested",
        "Posts stored, per channel (a post counts once).",
        snapshot.posts_ingested,
        channels,
    )
    yield _per_channel(
        "tg_parser_posts_processed",
        "Posts processed by runs (run items done), per channel.",
        snapshot.posts_processed,
        channels,
    )
    yield _per_channel(
        "tg_parser_posts_failed",
        "Posts that gave up after their retries, per channel.",
        snapshot.posts_failed,
        channels,
    )
    yield _per_channel(
        "tg_parser_dead_letters",
        "Dead letters (work that gave up), per channel.",
        snapshot.dead_letters,
        channels,
    )

    tokens = CounterMetricFamily(
        "tg_parser_llm_tokens",
        "LLM tokens reported by the provider.",
        labels=["provider", "model", "direction"],
    )
    cost = CounterMetricFamily(
        "tg_parser_llm_cost_usd", "Estimated LLM cost in US dollars.", labels=["provider", "model"]
    )
    calls = CounterMetricFamily("tg_parser_llm_calls", "LLM provider calls.", labels=["provider", "model"])
    for (provider, model), (tin, tout) in sorted(snapshot.llm_tokens.items()):
        tokens.add_metric([provider, model, "in"], tin)
        tokens.add_metric([provider, model, "out"], tout)
        cost.add_metric([provider, model], snapshot.llm_cost_usd.get((provider, model), 0.0))
        calls.add_metric([provider, model], snapshot.llm_calls.get((provider, model), 0))
    yield tokens
    yield cost
    yield calls

    runs = CounterMetricFamily("tg_parser_runs", "Finished runs by final status.", labels=["status"])
    in_progress = GaugeMetricFamily(
        "tg_parser_runs_in_progress", "Runs not finished yet, by stage.", labels=["status"]
    )
    for status in FINISHED_RUN_STATES:
        runs.add_metric([status], snapshot.runs_by_status.get(status, 0))
    for status, n in sorted(snapshot.runs_by_status.items()):
        if status not in FINISHED_RUN_STATES:
            in_progress.add_metric([status], n)
    yield runs
    yield in_progress

    hist = snapshot.run_durations
    duration = HistogramMetricFamily(
        "tg_parser_run_duration_seconds", "Duration of finished runs (created to finished), in seconds."
    )
    buckets = [(_le(bound), float(n)) for bound, n in hist.buckets] + [("+Inf", float(hist.count))]
    duration.add_metric([], buckets=buckets, sum_value=hist.sum_s)
    yield duration


def _le(bound: float) -> str:
    """Format a bucket bound the way prometheus_client's own histograms do (``1.0``, ``300.0``)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def build_registry(*, database_url: str) -> CollectorRegistry:
    """Return a registry holding only the pipeline collector.

    Args:
        database_url: The database the workers write to.

    Returns:
        A registry for ``generate_latest`` or an HTTP server.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(database_url=database_url))
    return registry


def start_exporter(*, database_url: str, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` on ``host:port`` from a background thread.

    Args:
        database_url: The database the workers write to.
        host: Address to bind (``127.0.0.1`` keeps it local; ``0.0.0.0`` for a pod).
        port: TCP port (9464 by convention for exporters of this kind; 0 picks a free one).

    Returns:
        The server (``server.server_port`` is the bound port) and its thread;
        call ``server.shutdown()`` to stop.

    Raises:
        OSError: The address is in use or cannot be bound.
    """
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=build_registry(database_url=database_url))
