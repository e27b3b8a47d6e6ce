"""Bad input end to end: partial runs say so (exit 3), damage is dead-lettered, hostile files are refused.

Real exports from ``../shared/data/exports``, the real CLI (embedded, SQLite).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, SHARED_DATA, in_ci
from tg_parser.cli import app
from tg_parser.config import get_settings
from tg_parser.domain import Message
from tg_parser.errors import InputError
from tg_parser.services.dead_letters import list_dead_letters
from tg_parser.sources.desktop_export import DesktopExportSource

CUDA = SHARED_DATA / "exports" / "cuda_supergroup_old_format.json"
TRANTOR = SHARED_DATA / "exports" / "trantor_library_public_channel.json"

pytestmark = pytest.mark.skipif(not CUDA.is_file() and not in_ci(), reason=f"{CUDA} is missing")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Switch to a folder with its own SQLite database (call it with a name; it returns the folder)."""

    def use(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        monkeypatch.chdir(folder)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{folder / 'tg_parser.db'}")
        get_settings.cache_clear()
        return folder

    for var in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    yield use
    get_settings.cache_clear()


def _documents(folder: Path) -> list[dict[str, Any]]:
    (path,) = (folder / "exports").glob("*/documents.ndjson")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _without_topics(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents without their topic fields.

    Topics are assigned incrementally (a post healed by a later run joins the
    nearest stored topic), so they may differ from a fresh run's; everything
    else about a post must not.
    """
    out = []
    for doc in docs:
        assert doc["metadata"]["topic_id"], doc["id"]
        metadata = {k: v for k, v in doc["metadata"].items() if k not in {"topic_id", "topic_label"}}
        out.append({**doc, "metadata": metadata})
    return out


def _run_id(stdout: str) -> str:
    match = re.search(r"run\s+([0-9a-f-]{32,36})", stdout)
    assert match, stdout
    return match.group(1)


def test_truncated_export_is_a_partial_run_that_exits_3(workdir: Any) -> None:
    """A file cut off mid-way imports what precedes the cut; the run is partial, exits 3, lists the range."""
    folder = workdir("cut")
    data = CUDA.read_bytes()
    cut = len(data) // 2
    damaged = folder / "result.json"
    damaged.write_bytes(data[:cut])
    runner = CliRunner()
    result = runner.invoke(app, ["run", "-f", str(damaged)])
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "partial" in result.stdout
    shown = runner.invoke(app, ["runs", "show", _run_id(result.stdout)])
    assert shown.exit_code == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert run["status"] == "succeeded"
    assert run["partial"] is True
    (unread,) = run["unread_ranges"]
    assert unread["path"] == str(damaged)
    assert unread["end"] == cut
    assert 0 < unread["start"] < cut
    assert run["posts_read"] > 0


def test_one_damaged_post_is_dead_lettered_the_rest_exported_and_a_clean_rerun_converges(
    workdir: Any,
) -> None:
    """A byte flipped in one post: exit 0, every other post exported; a run of the original converges."""
    runner = CliRunner()
    clean_dir = workdir("clean")
    clean = runner.invoke(app, ["run", "-f", str(CUDA)])
    assert clean.exit_code == 0, clean.stderr
    reference = _documents(clean_dir)

    folder = workdir("damaged")
    data = CUDA.read_bytes()
    victim = reference[len(reference) // 2]
    message_id = int(victim["id"].split(":")[-1])
    at = data.index(b'"id": %d,' % message_id)
    at = data.index(b'"date"', at)
    path = folder / "result.json"
    path.write_bytes(data[:at] + b"\x01" + data[at + 1 :])  # a control byte: not JSON there
    damaged = runner.invoke(app, ["run", "-f", str(path)])
    assert damaged.exit_code == 0, (damaged.stdout, damaged.stderr)
    assert f"message {message_id}" in damaged.stderr
    got = {doc["id"] for doc in _documents(folder)}
    assert got == {doc["id"] for doc in reference} - {victim["id"]}
    letters = list_dead_letters(database_url=get_settings().database_url)
    assert [letter.args["message_id"] for letter in letters] == [message_id]

    path.write_bytes(data)
    again = runner.invoke(app, ["run", "-f", str(path)])
    assert again.exit_code == 0, again.stderr
    assert _without_topics(_documents(folder)) == _without_topics(reference)


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        (
            "deep",
            b'{"name": "x", "type": "public_channel", "id": 1, "messages": [' + b"[" * 100_000,
            "nesting deeper",
        ),
        (
            "huge",
            b'{"name": "x", "type": "public_channel", "id": 1, "messages": '
            b'[{"id": 1, "type": "message", "text": "' + b"x" * (40 * 1024 * 1024),
            "MiB",
        ),
        ("binary", bytes(range(256)) * 4096, "not valid JSON"),
        (
            "utf16",
            '{"name": "x", "type": "public_channel", "id": 1, "messages": []}'.encode("utf-16"),
            "UTF-16-LE",
        ),
    ],
)
def test_hostile_file_is_refused_in_bounded_memory(tmp_path: Path, name: str, body: bytes, says: str) -> None:
    """Deep nesting, a 40 MiB string, binary data, UTF-16: a clear InputError, the reader under 300 MB RSS."""
    path = tmp_path / f"{name}.json"
    path.write_bytes(body)
    script = (
        "from tg_parser.errors import InputError\n"
        "from tg_parser.services.sources import ExportSourceRef, export_batches\n"
        "said = []\n"
        "try:\n"
        f"    for batch in export_batches(ExportSourceRef(path={str(path)!r}, chat_id=1)):\n"
        "        said += [str(e) for e in batch.errors]\n"
        "except InputError as exc:\n"
        "    said.append(str(exc))\n"
        # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would count the forked pytest.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(int(hwm) // 1024)\n"
        "print(' | '.join(said))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    rss_mb, said = out.stdout.splitlines()[:2]
    assert int(rss_mb) < 300, rss_mb
    assert says in said, said
    assert str(path) in said


def _posts_and_errors(path: Path, chat_id: int) -> tuple[list[Message], list[InputError]]:
    items = list(DesktopExportSource(path).iter_chat(chat_id))
    return [i for i in items if isinstance(i, Message)], [i for i in items if isinstance(i, InputError)]


def test_bom_and_big_integers(tmp_path: Path) -> None:
    """A UTF-8 BOM reads in full; a 30-digit integer is read (stdlib decoder), refused when it is the id."""
    data = TRANTOR.read_bytes()
    chat_id = 1878264527
    clean, _ = _posts_and_errors(TRANTOR, chat_id)
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + data)
    assert _posts_and_errors(bom, chat_id) == (clean, [])

    at = data.index(b'"id": 500,')
    big = tmp_path / "big.json"
    date = data.index(b'"date"', at)
    big.write_bytes(data[:date] + b'"big": 123456789012345678901234567890, ' + data[date:])
    posts, errors = _posts_and_errors(big, chat_id)
    assert errors == []
    assert [p.message_id for p in posts] == [p.message_id for p in clean]
    (p500,) = [p for p in posts if p.message_id == 500]
    assert p500.raw["big"] == 123456789012345678901234567890

    big_id = tmp_path / "big_id.json"
    big_id.write_bytes(data[:at] + b'"id": 123456789012345678901234567890,' + data[at + len(b'"id": 500,') :])
    posts, errors = _posts_and_errors(big_id, chat_id)
    assert [p.message_id for p in posts] == [p.message_id for p in clean if p.message_id != 500]
    (error,) = errors
    assert error.message_id == 123456789012345678901234567890
    assert "64-bit" in str(error)
