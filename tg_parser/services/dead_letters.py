"""Dead letters: listing and replaying work that gave up.

Replaying a ``process_message`` letter puts its run item back to ``pending``
(and a finished run back to ``processing``), then sends the post again; when
it succeeds the run's counts move from failed to done and the run topicizes
and exports again, exactly once, through the usual guarded transitions. The
state changes are :mod:`tg_parser.storage.runs`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import RunStatus, TaskName
from tg_parser.errors import NotFoundError
from tg_parser.services.dispatch import Dispatcher
from tg_parser.storage import dead_letters, runs, session_scope
from tg_parser.storage.dead_letters import DeadLetter

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Replay:
    """What replaying one dead letter did."""

    dead_letter_id: int
    task_name: str
    action: str


class StartRun(Protocol):
    """Callable starting a new run of a channel; given by the launcher."""

    def __call__(self, channel_key: str, /) -> str:
        """Start a run of ``channel_key`` and return its id."""
        ...


def list_dead_letters(
    *, database_url: str, include_resolved: bool = False, limit: int = 100
) -> list[DeadLetter]:
    """Return dead letters, newest first (unresolved only unless ``include_resolved``)."""
    with session_scope(database_url) as session:
        return dead_letters.list_dead_letters(session, include_resolved=include_resolved, limit=limit)


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
        start_run: Starts a new run of a channel (for ingest and label letters).

    Returns:
        One entry per replayed letter.

    Raises:
        NotFoundError: An id names no unresolved dead letter.
    """
    db = settings.database_url
    with session_scope(db) as session:
        letters = dead_letters.list_dead_letters(session, include_resolved=False, limit=100_000, ids=ids)
    if ids is not None:
        missing = set(ids) - {d.id for d in letters}
        if missing:
            msg = f"no unresolved dead letter with id {sorted(missing)} (see `tg-parser dlq list`)"
            raise NotFoundError(msg)
    out: list[Replay] = []
    started: dict[str, str] = {}

    def start_once(key: str) -> str:
        # Several ingest letters of one channel need one new run, not one each.
        if key not in started:
            started[key] = start_run(key)
        return started[key]

    for letter in sorted(letters, key=lambda d: d.id):
        action = _replay_one(db, letter=letter, dispatcher=dispatcher, start_run=start_once)
        out.append(Replay(dead_letter_id=letter.id, task_name=letter.task_name, action=action))
        log.info("dead_letter_replayed", dead_letter_id=letter.id, task=letter.task_name, action=action)
    return out


def _resolve(db: str, letter_id: int) -> None:
    with session_scope(db) as session:
        dead_letters.resolve_dead_letter(session, letter_id=letter_id)


def _replay_one(db: str, *, letter: DeadLetter, dispatcher: Dispatcher, start_run: StartRun) -> str:
    args, run_id = letter.args, letter.run_id
    channel = args.get("channel")
    if letter.task_name == TaskName.DELIVER_WEBHOOK.value:
        dispatcher.deliver_webhook(
            webhook_id=str(args["webhook_id"]),
            message_id=str(args["message_id"]),
            payload=dict(args["payload"]),
        )
        _resolve(db, letter.id)
        return f"re-sent webhook delivery {args['message_id']} to {args['webhook_id']}"
    if letter.task_name == TaskName.DOWNLOAD_MEDIA.value:
        dispatcher.download_media(channel_key=str(args["channel_key"]), message_id=int(args["message_id"]))
        _resolve(db, letter.id)
        return f"re-sent media download of post {args['message_id']} of {args['channel_key']}"
    if letter.task_name == TaskName.PROCESS.value:
        message_pk = int(args["message_pk"])
        if run_id is not None:
            with session_scope(db) as session:
                runs.reopen_for_item(session, run_id=run_id, message_pk=message_pk)
        dispatcher.process_messages(run_id=run_id, message_pks=[message_pk])  # type: ignore[arg-type]
        _resolve(db, letter.id)
        return f"re-sent post {args.get('message_id')} of {channel}"
    stages = {TaskName.TOPICIZE.value: RunStatus.TOPICIZING, TaskName.EXPORT.value: RunStatus.EXPORTING}
    if letter.task_name in stages and run_id and channel:
        stage = stages[letter.task_name]
        with session_scope(db) as session:
            runs.reopen_stage(session, run_id=run_id, stage=stage)
        if stage is RunStatus.TOPICIZING:
            dispatcher.topicize(channel_key=str(channel), run_id=run_id)
        else:
            dispatcher.export(channel_key=str(channel), run_id=run_id)
        _resolve(db, letter.id)
        return f"re-sent {stage.value} of run {run_id}"
    if channel:
        new_run = start_run(str(channel))
        _resolve(db, letter.id)
        return f"started run {new_run} of {channel}"
    _resolve(db, letter.id)
    return "nothing to re-send; marked resolved"
