"""Read model of a run's input errors: the messages its source could not read, as ingest reported them."""

from __future__ import annotations

from tg_parser.domain.runs import TaskName
from tg_parser.errors import InputError
from tg_parser.storage import dead_letters, session_scope

MAX_LISTED = 100_000
"""Upper bound on the letters read for one run (a run holds one per unreadable message)."""


def run_input_errors(*, database_url: str, run_id: str) -> list[str]:
    """Return the input errors of a run, oldest first, worded as the ingest report words them.

    Each message the source could not read is an ``ingest`` dead letter of
    type :class:`~tg_parser.errors.InputError` carrying the run's id (a
    re-read export moves an identical letter to the newer run).

    Args:
        database_url: The database.
        run_id: The run.

    Returns:
        One line per unreadable message (``file <path>, message <id>: <reason>``).
    """
    with session_scope(database_url) as session:
        letters = dead_letters.list_dead_letters(
            session, include_resolved=True, limit=MAX_LISTED, run_id=run_id
        )
    return [
        d.error_message
        for d in sorted(letters, key=lambda d: d.id)
        if d.task_name == TaskName.INGEST.value and d.error_type == InputError.__name__
    ]
