"""Read-only queries behind ``tg-parser health`` and the Prometheus exporter.

Everything here reads the database as it is *now*; the exporter turns the
numbers into counters on each scrape, so they stay right however many worker
processes wrote them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, case, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tg_parser.domain.runs import ItemStatus, RunStatus, TaskName
from tg_parser.storage.session import get_engine
from tg_parser.storage.tables import (
    ChannelRow,
    DeadLetterRow,
    LLMCallRow,
    MessageRow,
    RunItemRow,
    RunRow,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

FINISHED_RUN_STATES = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value)
"""Run states that end a run; only these count as finished runs."""

UNKNOWN_CHANNEL = "unknown"
"""Label of dead letters whose channel cannot be told."""

PROCESS_TASK = TaskName.PROCESS.value


def require_existing_sqlite(database_url: str) -> None:
    """Refuse a SQLite file that does not exist (opening it would create an empty one).

    Args:
        database_url: A SQLAlchemy URL; other dialects pass.

    Raises:
        FileNotFoundError: The SQLite file does not exist.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    if not Path(str(url.database)).is_file():
        msg = f"SQLite database {url.database} does not exist"
        raise FileNotFoundError(msg)


def ping_database(database_url: str) -> None:
    """Open a connection and run ``SELECT 1``.

    Args:
        database_url: A SQLAlchemy URL.

    Raises:
        FileNotFoundError: A SQLite file that does not exist (it is not created).
        sqlalchemy.exc.SQLAlchemyError: The database cannot be reached.
    """
    require_existing_sqlite(database_url)
    with get_engine(database_url).connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


@dataclass(frozen=True)
class DurationHistogram:
    """Durations of finished runs, in seconds, bucketed like a Prometheus histogram.

    Attributes:
        buckets: ``(upper bound in seconds, runs with duration ≤ bound)``,
            cumulative, bounds ascending (``+Inf`` not included).
        count: Finished runs.
        sum_s: Sum of their durations in seconds.
    """

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_s: float


@dataclass(frozen=True)
class MetricsSnapshot:
    """The numbers the exporter publishes, read in one pass.

    Attributes:
        channels: Every channel key, sorted.
        posts_ingested: Posts stored per channel key (a post counts once, when first seen).
        posts_processed: Run items ``done`` per channel key.
        posts_failed: ``process_message`` dead letters per channel key.
        dead_letters: All dead letters per channel key (``unknown`` when it cannot be told).
        llm_tokens: ``(provider, model) → (input tokens, output tokens)``.
        llm_cost_usd: ``(provider, model) → cost in US dollars`` (calls without a price count 0).
        llm_calls: ``(provider, model) → calls``.
        runs_by_status: Run count per status (every status).
        run_durations: Durations of finished runs.
    """

    channels: list[str]
    posts_ingested: dict[str, int]
    posts_processed: dict[str, int]
    posts_failed: dict[str, int]
    dead_letters: dict[str, int]
    llm_tokens: dict[tuple[str, str], tuple[int, int]]
    llm_cost_usd: dict[tuple[str, str], float]
    llm_calls: dict[tuple[str, str], int]
    runs_by_status: dict[str, int]
    run_durations: DurationHistogram


def _duration_s(dialect: str) -> ColumnElement[Any]:
    """Return SQL for a run's duration in seconds (``finished_at - created_at``)."""
    if dialect == "postgresql":
        return func.extract("epoch", RunRow.finished_at - RunRow.created_at)
    # SQLite stores ISO text; julianday() gives fractional days.
    return (func.julianday(RunRow.finished_at) - func.julianday(RunRow.created_at)) * 86400.0


def run_duration_histogram(session: Session, *, bounds_s: Sequence[float]) -> DurationHistogram:
    """Bucket the durations of finished runs in one query.

    Args:
        session: Open session.
        bounds_s: Bucket upper bounds in seconds, ascending.

    Returns:
        Cumulative bucket counts, the count and the sum of durations.
    """
    duration = _duration_s(session.get_bind().dialect.name)
    columns = [func.count(), func.coalesce(func.sum(duration), 0.0)]
    columns += [func.coalesce(func.sum(case((duration <= bound, 1), else_=0)), 0) for bound in bounds_s]
    row = session.execute(
        select(*columns).where(RunRow.status.in_(FINISHED_RUN_STATES), RunRow.finished_at.is_not(None))
    ).one()
    count, total = int(row[0]), float(row[1])
    buckets = tuple((float(b), int(n)) for b, n in zip(bounds_s, row[2:], strict=True))
    return DurationHistogram(buckets=buckets, count=count, sum_s=max(0.0, total))


def _dead_letters_by_channel(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """Return ``(all dead letters, process_message ones)`` per channel key.

    The channel is the run's when the letter names a run, else ``args.channel``.
    """
    stmt = (
        select(DeadLetterRow.task_name, DeadLetterRow.args, ChannelRow.key)
        .outerjoin(RunRow, RunRow.id == DeadLetterRow.run_id)
        .outerjoin(ChannelRow, ChannelRow.id == RunRow.channel_id)
    )
    every: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for task_name, args, run_channel in session.execute(stmt).yield_per(1000):
        channel = run_channel
        if channel is None and isinstance(args, dict) and isinstance(args.get("channel"), str):
            channel = args["channel"]
        label = channel or UNKNOWN_CHANNEL
        every[label] += 1
        if task_name == PROCESS_TASK:
            failed[label] += 1
    return dict(every), dict(failed)


def metrics_snapshot(database_url: str, *, bounds_s: Sequence[float]) -> MetricsSnapshot:
    """Read every number the exporter publishes.

    Args:
        database_url: A SQLAlchemy URL.
        bounds_s: Run-duration bucket bounds in seconds, ascending.

    Returns:
        The snapshot.

    Raises:
        FileNotFoundError: A SQLite file that does not exist (it is not created).
        sqlalchemy.exc.SQLAlchemyError: The database cannot be read.
    """
    require_existing_sqlite(database_url)
    engine = get_engine(database_url)
    with Session(engine) as session:
        keys = {int(pk): str(key) for pk, key in session.execute(select(ChannelRow.id, ChannelRow.key))}
        ingested = {
            keys[int(pk)]: int(n)
            for pk, n in session.execute(
                select(MessageRow.channel_id, func.count()).group_by(MessageRow.channel_id)
            )
            if int(pk) in keys
        }
        processed = {
            keys[int(pk)]: int(n)
            for pk, n in session.execute(
                select(MessageRow.channel_id, func.count())
                .join(RunItemRow, RunItemRow.message_pk == MessageRow.id)
                .where(RunItemRow.status == ItemStatus.DONE.value)
                .group_by(MessageRow.channel_id)
            )
            if int(pk) in keys
        }
        dead, failed = _dead_letters_by_channel(session)
        tokens: dict[tuple[str, str], tuple[int, int]] = {}
        cost: dict[tuple[str, str], float] = {}
        calls: dict[tuple[str, str], int] = {}
        usage = select(
            LLMCallRow.provider,
            LLMCallRow.model,
            func.count(),
            func.coalesce(func.sum(LLMCallRow.input_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.output_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0),
        ).group_by(LLMCallRow.provider, LLMCallRow.model)
        for provider, model, n, tin, tout, usd in session.execute(usage):
            tokens[(provider, model)] = (int(tin), int(tout))
            cost[(provider, model)] = float(usd or 0.0)
            calls[(provider, model)] = int(n)
        runs = {
            str(status): int(n)
            for status, n in session.execute(select(RunRow.status, func.count()).group_by(RunRow.status))
        }
        durations = run_duration_histogram(session, bounds_s=bounds_s)
    return MetricsSnapshot(
        channels=sorted(keys.values()),
        posts_ingested=ingested,
        posts_processed=processed,
        posts_failed=failed,
        dead_letters=dead,
        llm_tokens=tokens,
        llm_cost_usd=cost,
        llm_calls=calls,
        runs_by_status=runs,
        run_durations=durations,
    )
