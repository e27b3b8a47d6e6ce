"""Dead letters: replaying work that gave up.

Replaying a ``process_message`` letter puts its run item back to ``pending``
(and a finished run back to ``processing``), then sends the post again; when
it succeeds the run's counts move from failed to done and the run topicizes
and exports again, exactly once, through the usual guarded transitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import update

from tg_parser.config import Settings
from tg_parser.errors import NotFoundError
from tg_parser.services.dispatch import Dispatcher
from tg_parser.storage import repositories as repo
from tg_parser.storage.session import session_scope
from tg_parser.storage.tables import DeadLetterRow, RunItemRow, RunRow, utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Replay:
    """What replaying one dead letter did."""

    dead_letter_id: int
    task_name: str
    action: str


def replay_dead_letters(
    *,
    settings: Settings,
    ids: list[int] | None,
    dispatcher: Dispatcher,
    start_run: StartRun,
) -> list[Replay]:
    """Re-send dead letters (``ids``, or every unresolved one when ``None``).

    Args:
        settings: Settings.
        ids: Dead-letter ids, or ``None`` for all unresolved ones.
        dispatcher: Where the re-sent steps go.
        start_run: Starts a new run of a channel (for ingest letters).

    Returns:
        One entry per replayed letter.

    Raises:
        NotFoundError: An id names no unresolved dead letter.
    """
    db = settings.database_url
    with session_scope(db) as session:
        letters = repo.list_dead_letters(session, include_resolved=False, limit=100_000)
        if ids is not None:
            wanted = set(ids)
            letters = [d for d in letters if d.id in wanted]
            missing = wanted - {d.id for d in letters}
            if missing:
                msg = f"no unresolved dead letter with id {sorted(missing)} (see `tg-parser dlq list`)"
                raise NotFoundError(msg)
        plan = [(d.id, d.task_name, dict(d.args), d.run_id) for d in sorted(letters, key=lambda d: d.id)]
    out: list[Replay] = []
    started: dict[str, str] = {}

    def start_once(key: str) -> str:
        # Several ingest letters of one channel need one new run, not one each.
        if key not in started:
            started[key] = start_run(key)
        return started[key]

    for letter_id, task_name, args, run_id in plan:
        action = _replay_one(
            db,
            letter_id=letter_id,
            task_name=task_name,
            args=args,
            run_id=run_id,
            dispatcher=dispatcher,
            start_run=start_once,
        )
        out.append(Replay(dead_letter_id=letter_id, task_name=task_name, action=action))
        log.info("dead_letter_replayed", dead_letter_id=letter_id, task=task_name, action=action)
    return out


class StartRun(Protocol):
    """Callable starting a new run of a channel; given by the CLI or task layer."""

    def __call__(self, channel_key: str, /) -> str:
        """Start a run of ``channel_key`` and return its id."""
        ...


def _resolve(db: str, letter_id: int) -> None:
    with session_scope(db) as session:
        session.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.id == letter_id)
            .values(resolved=True, replayed_at=utcnow())
        )


def _replay_one(
    db: str,
    *,
    letter_id: int,
    task_name: str,
    args: dict[str, object],
    run_id: str | None,
    dispatcher: Dispatcher,
    start_run: StartRun,
) -> str:
    channel = args.get("channel")
    if task_name == "tg_parser.process_message":
        message_pk = int(args["message_pk"])  # type: ignore[call-overload]
        if run_id is not None:
            with session_scope(db) as session:
                session.execute(
                    update(RunItemRow)
                    .where(
                        RunItemRow.run_id == run_id,
                        RunItemRow.message_pk == message_pk,
                        RunItemRow.status == "failed",
                    )
                    .values(status="pending", error=None, updated_at=utcnow())
                )
                session.execute(
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.status.in_(("succeeded", "failed")))
                    .values(status="processing", finished_at=None, error=None, heartbeat_at=utcnow())
                )
        dispatcher.process_messages(run_id=run_id, message_pks=[message_pk])  # type: ignore[arg-type]
        _resolve(db, letter_id)
        return f"re-sent post {args.get('message_id')} of {channel}"
    if task_name in ("tg_parser.topicize_channel", "tg_parser.export_channel") and run_id and channel:
        stage = "topicizing" if task_name == "tg_parser.topicize_channel" else "exporting"
        with session_scope(db) as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "failed")
                .values(status=stage, finished_at=None, error=None, heartbeat_at=utcnow())
            )
        if stage == "topicizing":
            dispatcher.topicize(channel_key=str(channel), run_id=run_id)
        else:
            dispatcher.export(channel_key=str(channel), run_id=run_id)
        _resolve(db, letter_id)
        return f"re-sent {stage} of run {run_id}"
    if channel:
        new_run = start_run(str(channel))
        _resolve(db, letter_id)
        return f"started run {new_run} of {channel}"
    _resolve(db, letter_id)
    return "nothing to re-send; marked resolved"
