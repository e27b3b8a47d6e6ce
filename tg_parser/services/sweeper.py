"""The stuck-run sweeper: re-drives runs that stopped making progress.

A worker killed with SIGKILL takes its unacknowledged messages with it until
the broker's visibility timeout (an hour by default) redelivers them. The
sweeper, ticked by Beat every ``SWEEP_INTERVAL_S``, finds runs with no progress
for ``RUN_STALL_TIMEOUT_S`` and sends their outstanding work again. Every task
is idempotent, so a re-sent message that was not lost after all changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import RunStatus
from tg_parser.services.dispatch import Dispatcher
from tg_parser.storage import runs, session_scope

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Redrive:
    """One re-driven run: its id, state and how many messages were re-sent."""

    run_id: str
    status: str
    resent: int


class IngestRedriver(Protocol):
    """Callable that re-sends ``ingest_channel(channel, run_id)``; given by the task layer."""

    def __call__(self, *, channel_key: str, run_id: str) -> None:
        """Re-send the ingest of a run."""
        ...


def sweep_stalled_runs(
    *, settings: Settings, dispatcher: Dispatcher, resend_ingest: IngestRedriver
) -> list[Redrive]:
    """Re-drive every active run without progress for ``RUN_STALL_TIMEOUT_S``.

    Returns:
        One entry per re-driven run.
    """
    db = settings.database_url
    with session_scope(db) as session:
        stalled = runs.stalled_runs(
            session, now=datetime.now(UTC), stall_timeout_s=settings.run_stall_timeout_s
        )
    out = []
    for run in stalled:
        run_id, status, key = run.id, run.status, run.channel_key
        with session_scope(db) as session:
            claimed = runs.claim_redrive(session, run_id=run_id, status=status)
            pending = runs.pending_items(session, run_id=run_id) if status is RunStatus.PROCESSING else []
        if not claimed:
            continue
        resent = 0
        if status is RunStatus.INGESTING:
            resend_ingest(channel_key=key, run_id=run_id)
            resent = 1
        elif status is RunStatus.PROCESSING:
            if pending:
                dispatcher.process_messages(run_id=run_id, message_pks=pending)
                resent = len(pending)
            else:
                with session_scope(db) as session:
                    won = runs.claim_processing_done(session, run_id=run_id)
                if won:
                    dispatcher.topicize(channel_key=key, run_id=run_id)
                    resent = 1
        elif status is RunStatus.TOPICIZING:
            dispatcher.topicize(channel_key=key, run_id=run_id)
            resent = 1
        elif status is RunStatus.EXPORTING:
            dispatcher.export(channel_key=key, run_id=run_id)
            resent = 1
        log.warning("run_redriven", run_id=run_id, channel=key, status=status.value, resent=resent)
        out.append(Redrive(run_id=run_id, status=status.value, resent=resent))
    return out
