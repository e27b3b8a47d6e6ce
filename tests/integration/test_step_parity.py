"""Embedded and cluster runs of the same failing input end the same way (one step runner for both).

The fault is real: a PostgreSQL trigger on ``topics`` raises a serialization
failure (SQLSTATE 40001, a retryable database error) for the first N insert
statements, counted by a sequence (sequences are not rolled back). So
topicize fails with a retryable error N times, in either execution mode, and
the ``RETRY_TOPICS_*`` policy decides what happens.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _create_pg_database, _drop_pg_database
from tests.integration.cluster import celery_workers, cluster_env

pytestmark = pytest.mark.integration

RETRY_ENV = {
    "RETRY_TOPICS_MAX_ATTEMPTS": "3",
    "RETRY_BACKOFF_BASE": "0.1",
    "RETRY_BACKOFF_MAX": "1",
    "RETRY_JITTER": "0",
}


def _inject_topicize_faults(url: str, failures: int) -> None:
    """Make the first ``failures`` INSERT statements on ``topics`` fail with SQLSTATE 40001."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE SEQUENCE topicize_faults"))
        conn.execute(
            text(
                f"""
                CREATE FUNCTION inject_topicize_fault() RETURNS trigger AS $$
                BEGIN
                  IF nextval('topicize_faults') <= {int(failures)} THEN
                    RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
                  END IF;
                  RETURN NULL;
                END $$ LANGUAGE plpgsql
                """
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER topicize_fault BEFORE INSERT ON topics "
                "FOR EACH STATEMENT EXECUTE FUNCTION inject_topicize_fault()"
            )
        )
    engine.dispose()


def _outcome(url: str) -> tuple[object, ...]:
    """The run's final state, its topic count, its error type and its dead letters (task, attempts, type)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            status, topics, error = conn.execute(text("select status, topics, error from runs")).one()
            letters = conn.execute(
                text("select task_name, attempts, error_type from dead_letters order by id")
            ).all()
            faults = conn.execute(text("select last_value from topicize_faults")).scalar_one()
    finally:
        engine.dispose()
    error_type = error.split(":", 1)[0] if error else None
    return status, topics, error_type, [tuple(d) for d in letters], faults


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("tg-parser"))
    return subprocess.run(
        [exe, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture
def second_pg_url(pg_url: str) -> Iterator[str]:
    """Another throwaway PostgreSQL database migrated to head (one per execution mode)."""
    from tg_parser.storage import migrate

    url = _create_pg_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        from tg_parser.storage.session import dispose_engines

        dispose_engines()
        _drop_pg_database(url)


def _run_both_modes(
    *, failures: int, embedded_url: str, cluster_url: str, redis_url: str, sample: Path, tmp: Path
) -> tuple[tuple[int, tuple[object, ...]], tuple[int, tuple[object, ...]]]:
    for url in (embedded_url, cluster_url):
        _inject_topicize_faults(url, failures)
    emb_env = cluster_env(database_url=embedded_url, broker_url="", **RETRY_ENV)
    emb_env.pop("CELERY_BROKER_URL")
    (tmp / "emb").mkdir()
    emb = _cli("run", "-f", str(sample), "-o", str(tmp / "emb" / "out"), env=emb_env, cwd=tmp / "emb")
    env = cluster_env(database_url=cluster_url, broker_url=redis_url, **RETRY_ENV)
    (tmp / "cl").mkdir()
    with celery_workers(env, count=1, log_dir=tmp / "cl"):
        cl = _cli(
            "run",
            "-f",
            str(sample),
            "-o",
            str(tmp / "cl" / "out"),
            "--timeout-s",
            "300",
            env=env,
            cwd=tmp / "cl",
        )
    return (emb.returncode, _outcome(embedded_url)), (cl.returncode, _outcome(cluster_url))


def test_topicize_failing_twice_then_succeeding_ends_the_same_in_both_modes(
    pg_url: str, second_pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """Two retryable topicize failures are retried in both modes; the runs succeed with no dead letter."""
    embedded, cluster = _run_both_modes(
        failures=2,
        embedded_url=pg_url,
        cluster_url=second_pg_url,
        redis_url=redis_url,
        sample=sample_export,
        tmp=tmp_path,
    )
    assert embedded == cluster
    code, (status, topics, error_type, letters, faults) = embedded
    assert (code, status, error_type, letters) == (0, "succeeded", None, [])
    assert topics > 0
    assert faults >= 3  # two injected failures, then the insert that went through


def test_topicize_always_failing_dead_letters_in_both_modes(
    pg_url: str, second_pg_url: str, redis_url: str, sample_export: Path, tmp_path: Path
) -> None:
    """Always-failing topicize gives up after RETRY_TOPICS_MAX_ATTEMPTS in both modes: failed, one letter."""
    embedded, cluster = _run_both_modes(
        failures=10**6,
        embedded_url=pg_url,
        cluster_url=second_pg_url,
        redis_url=redis_url,
        sample=sample_export,
        tmp=tmp_path,
    )
    assert embedded == cluster
    code, (status, topics, error_type, letters, faults) = embedded
    assert (code, status, topics, error_type) == (1, "failed", None, "RetryableError")
    assert letters == [("tg_parser.topicize_channel", 3, "RetryableError")]
    assert faults == 3
