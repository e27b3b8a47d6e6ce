"""Read models of runs: what ``runs list``, ``runs show``, ``tg-parser run`` and ``GET /runs`` show.

They return dataclasses; the front doors only render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tg_parser.domain.runs import TERMINAL_RUN_STATES, RunStatus
from tg_parser.errors import NotFoundError
from tg_parser.services.deltas import encode_cursor
from tg_parser.services.llm_batches import BatchProgress, progress_of
from tg_parser.storage import Session, channels, dead_letters, llm_batches, runs, session_scope
from tg_parser.storage.runs import RunCounts, RunRecord


@dataclass(frozen=True)
class Failure:
    """A dead letter of a run: the task, its arguments and the error."""

    dead_letter_id: int
    task: str
    args: dict[str, Any]
    error: str


@dataclass(frozen=True)
class RunView:
    """A run with its item counts, and, for :func:`show_run`, its channel title and failures.

    Attributes:
        run: The stored run (status, counts, times, error).
        items: Its items by state.
        channel_title: The channel's title.
        failures: Its dead letters (only filled by :func:`show_run`).
        batch: Progress of its provider batches (``None``: it has none).
    """

    run: RunRecord
    items: RunCounts
    channel_title: str = ""
    failures: list[Failure] = field(default_factory=list)
    batch: BatchProgress | None = None

    @property
    def status_text(self) -> str:
        """The status as shown: ``processing (batch: in_progress / 1200 of 2000 done)`` while batching."""
        status = self.run.status.value
        if self.batch is not None and self.run.status is RunStatus.PROCESSING and not self.batch.finished:
            return f"{status} ({self.batch.describe()})"
        return status

    @property
    def finished(self) -> bool:
        """Whether the run is in a terminal state."""
        return self.run.status in TERMINAL_RUN_STATES

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready data (the shape of ``runs show`` and ``GET /runs/{id}``)."""
        r = self.run
        return {
            "run_id": r.id,
            "channel": r.channel_key,
            "status": r.status.value,
            "status_text": self.status_text,
            "batch": None
            if self.batch is None
            else {
                "batches": self.batch.batches,
                "status": self.batch.status,
                "done": self.batch.done,
                "total": self.batch.total,
            },
            "mode": r.mode,
            "posts_read": r.posts_read,
            "posts_new": r.posts_new,
            "posts_changed": r.posts_changed,
            "input_errors": r.input_errors,
            "partial": r.partial,
            "unread_ranges": r.unread_ranges,
            "items": {
                "total": self.items.total,
                "pending": self.items.pending,
                "done": self.items.done,
                "failed": self.items.failed,
            },
            "topics": r.topics,
            "export_dir": r.export_dir,
            "error": r.error,
            "created_at": str(r.created_at),
            "ingested_at": str(r.ingested_at),
            "processed_at": str(r.processed_at),
            "topicized_at": str(r.topicized_at),
            "finished_at": str(r.finished_at),
            "failures": [{"task": f.task, "args": f.args, "error": f.error} for f in self.failures],
            # Pass as `export --since` or the API's ?since= to get what changed after this run's export.
            "delta_cursor": None if r.delta_cursor is None else encode_cursor(r.delta_cursor),
        }


def list_runs(
    *, database_url: str, channel: str | None = None, status: RunStatus | None = None, limit: int = 20
) -> list[RunView]:
    """Return the most recent runs, newest first, with their item counts.

    Raises:
        NotFoundError: ``channel`` names no channel.
    """
    with session_scope(database_url) as session:
        channel_pk = channels.get_channel(session, key=channel).pk if channel else None
        found = runs.list_runs(session, channel_pk=channel_pk, status=status, limit=limit)
        return [
            RunView(run=r, items=runs.run_counts(session, run_id=r.id), batch=_batch(session, r.id))
            for r in found
        ]


def _batch(session: Session, run_id: str) -> BatchProgress | None:
    return progress_of(llm_batches.run_batches(session, run_id=run_id))


def show_run(*, database_url: str, run_id: str) -> RunView:
    """Return one run with its counts, channel title and dead letters.

    Raises:
        NotFoundError: No such run.
    """
    with session_scope(database_url) as session:
        run = runs.get_run(session, run_id=run_id)
        letters = dead_letters.list_dead_letters(session, include_resolved=True, limit=1000, run_id=run_id)
        title = channels.get_channel_by_pk(session, pk=run.channel_pk).title
        return RunView(
            run=run,
            items=runs.run_counts(session, run_id=run_id),
            channel_title=title,
            batch=_batch(session, run_id),
            failures=[
                Failure(
                    dead_letter_id=d.id,
                    task=d.task_name,
                    args=d.args,
                    error=f"{d.error_type}: {d.error_message}",
                )
                for d in sorted(letters, key=lambda d: d.id)
            ],
        )


def poll_runs(*, database_url: str, run_ids: list[str]) -> dict[str, RunView | None]:
    """Return each run's current view, or ``None`` for a run not recorded yet (still queued)."""
    out: dict[str, RunView | None] = {}
    with session_scope(database_url) as session:
        for rid in run_ids:
            try:
                run = runs.get_run(session, run_id=rid)
            except NotFoundError:
                out[rid] = None
                continue
            out[rid] = RunView(
                run=run, items=runs.run_counts(session, run_id=rid), batch=_batch(session, rid)
            )
    return out
