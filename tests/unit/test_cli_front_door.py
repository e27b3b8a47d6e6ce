"""The CLI is a thin front door: it goes through the launcher and the services, never Celery or sessions."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from tests.conftest import ROOT, SAMPLE_EXPORT
from tg_parser.cli import app
from tg_parser.config import Settings
from tg_parser.services import launch
from tg_parser.services.launch import EmbeddedLauncher


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder with a SQLite database, no broker and JSON logs; logging reset after."""
    monkeypatch.chdir(tmp_path)
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'tg_parser.db'}")
    monkeypatch.setenv("LOG_FORMAT", "json")
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield tmp_path
    # The CLI configures logging for the rest of its process (a handler, a correlation id,
    # warnings captured); this process goes on to other tests.
    for handler in [h for h in root.handlers if h not in saved_handlers]:
        root.removeHandler(handler)
    root.setLevel(saved_level)
    logging.captureWarnings(capture=False)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


@dataclass
class ClusterLikeLauncher:
    """A launcher that says ``cluster`` but finishes each run here, recording what the CLI asked of it."""

    settings: Settings
    mode: str = "cluster"
    started: list[dict[str, Any]] = field(default_factory=list)
    flushed: int = 0
    probe: Any = None

    def start_run(self, channel: str, **kwargs: Any) -> str:
        """Record the call; run the channel to its end (the CLI then finds the run terminal)."""
        self.started.append({"channel": channel, **kwargs})
        return EmbeddedLauncher(self.settings).start_run(channel, export_dir=kwargs.get("export_dir"))

    def dispatcher(self) -> Any:
        """Return the in-process dispatcher."""
        return EmbeddedLauncher(self.settings).dispatcher()

    def flush(self) -> None:
        """Count the flushes."""
        self.flushed += 1

    def cluster_probe(self) -> Any:
        """Return the probe given."""
        return self.probe


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> list[ClusterLikeLauncher]:
    """Make ``get_launcher`` return a :class:`ClusterLikeLauncher`; the list holds the ones built."""
    built: list[ClusterLikeLauncher] = []

    def factory(settings: Settings) -> ClusterLikeLauncher:
        built.append(ClusterLikeLauncher(settings))
        return built[-1]

    monkeypatch.setattr(launch, "get_launcher", factory)
    return built


def test_embedded_run_prints_the_summary_and_the_rerun_reads_nothing_new(cli_env: Path) -> None:
    """`run -f` succeeds with a summary block; `run --channel @name` re-reads the source: 0 new, 0 changed."""
    runner = CliRunner()
    first = runner.invoke(app, ["run", "-f", str(SAMPLE_EXPORT), "-u", "TechDigestDemo"])
    assert first.exit_code == 0, first.stderr
    assert "succeeded" in first.stdout
    assert (cli_env / "exports" / "techdigestdemo" / "documents.ndjson").is_file()
    again = runner.invoke(app, ["run", "--channel", "@TechDigestDemo"])
    assert again.exit_code == 0, again.stderr
    assert "0 new, 0 changed" in again.stdout


def test_cluster_run_is_dispatched_with_the_correlation_id_and_followed(
    cli_env: Path, cluster: list[ClusterLikeLauncher]
) -> None:
    """On the cluster, `run` prints the dispatch line with the correlation id, then the run's summary."""
    result = CliRunner().invoke(app, ["run", "-f", str(SAMPLE_EXPORT), "--correlation-id", "cid-42"])
    assert result.exit_code == 0, result.stderr
    [launcher] = cluster
    [call] = launcher.started
    assert call["correlation_id"] == "cid-42"
    assert f"of {call['channel']} to the cluster (correlation id cid-42)" in result.stderr
    run_id = result.stderr.split("dispatched run ", 1)[1].split()[0]
    assert run_id in result.stdout
    assert "succeeded" in result.stdout


def test_unknown_channel_fails_naming_it(cli_env: Path) -> None:
    """`run --channel nosuchchannel` exits 1 and names the channel on stderr."""
    result = CliRunner().invoke(app, ["run", "--channel", "nosuchchannel"])
    assert result.exit_code == 1
    assert "nosuchchannel" in result.stderr


def test_dlq_replay_flushes_the_launcher(cli_env: Path, cluster: list[ClusterLikeLauncher]) -> None:
    """`dlq replay --all` sends through the launcher's dispatcher and flushes it once."""
    result = CliRunner().invoke(app, ["dlq", "replay", "--all"])
    assert result.exit_code == 0, result.stderr
    assert "no unresolved dead letters" in result.stdout
    assert cluster[0].flushed == 1


def test_health_takes_its_cluster_probe_from_the_launcher(
    cli_env: Path, cluster: list[ClusterLikeLauncher], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a broker configured, a broker the launcher's probe cannot reach makes health exit 1."""

    class DownProbe:
        def check_broker(self) -> None:
            msg = "connection refused"
            raise ConnectionError(msg)

        def active_queues(self) -> dict[str, list[str]]:
            return {}

    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@127.0.0.1:1//")
    CliRunner().invoke(app, ["db", "upgrade"])

    def factory(settings: Settings) -> ClusterLikeLauncher:
        built = ClusterLikeLauncher(settings, probe=DownProbe())
        cluster.append(built)
        return built

    monkeypatch.setattr(launch, "get_launcher", factory)
    result = CliRunner().invoke(app, ["health"])
    assert result.exit_code == 1
    assert "unhealthy" in result.stderr
    assert "broker" in result.stderr
    assert "connection refused" in result.stdout


def test_bad_period_is_a_usage_error(cli_env: Path) -> None:
    """`channels add --every 10s` and `usage --since garbage` exit 2 with the parser's message."""
    runner = CliRunner()
    short = runner.invoke(app, ["channels", "add", "@durov", "--every", "10s"])
    assert short.exit_code == 2
    assert "shortest schedule is 1m" in short.stderr
    bad = runner.invoke(app, ["usage", "--since", "garbage"])
    assert bad.exit_code == 2
    assert "neither an ISO date/time nor a period" in bad.stderr


def test_python_dash_m_runs_the_cli() -> None:
    """`python -m tg_parser.cli --help` prints the app's help."""
    proc = subprocess.run(
        [sys.executable, "-m", "tg_parser.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "topic-grouped documents" in proc.stdout


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_cli_imports_no_celery_and_no_sessions() -> None:
    """No module of tg_parser/cli imports tasks, celery or sessions; storage only for migrations and copy."""
    allowed = ("tg_parser.storage.migrate", "tg_parser.storage.copy")
    for path in sorted((ROOT / "tg_parser" / "cli").glob("*.py")):
        names = _imported_modules(path)
        assert not {n for n in names if n.split(".")[0] in {"tasks", "celery", "sqlalchemy"}}, path
        storage = {n for n in names if n.startswith("tg_parser.storage.")}
        assert all(n.startswith(allowed) for n in storage), (path, storage)
        assert "tg_parser.storage.session_scope" not in names, path


@pytest.mark.parametrize(
    ("references", "key"),
    [
        (
            [
                "@durov",
                "t.me/durov",
                "https://t.me/durov/123",
                "https://t.me/s/durov",
                "durov",
                "tg://resolve?domain=durov",
            ],
            "durov",
        ),
        (["https://t.me/c/1006503122/7", "1006503122", "-1001006503122"], "c1006503122"),
    ],
)
def test_channels_add_gives_one_key_for_every_reference_form(
    cli_env: Path, references: list[str], key: str
) -> None:
    """`channels add` accepts every reference form; the forms of one channel give one key and one channel."""
    runner = CliRunner()
    keys = []
    for ref in references:
        args = ["channels", "add", "--", ref] if ref.startswith("-") else ["channels", "add", ref]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        keys.append(result.output.split("added ", 1)[1].split(":", 1)[0])
    assert keys == [key] * len(references)
    listed = runner.invoke(app, ["channels", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count(f'"key": "{key}"') == 1


def test_channels_add_refuses_an_invite_link_with_the_reason(cli_env: Path) -> None:
    """An invite link is refused naming the problem; nothing is added."""
    runner = CliRunner()
    result = runner.invoke(app, ["channels", "add", "https://t.me/+AbCdEf"])
    assert result.exit_code != 0
    assert "invite link" in result.output
    assert '"key"' not in runner.invoke(app, ["channels", "list", "--json"]).output
