"""The run lifecycle: run and item states, and the transitions between them.

A **run** is one pass over one channel (DESIGN.md, "The pipeline"). Its states,
in order, are ``ingesting`` → ``processing`` → ``topicizing`` → ``exporting``
→ ``succeeded``; any active state may end in ``failed`` when a channel step
(ingest, topicize, export) gives up. A **run item** is one post a run must
process: ``pending`` → ``done`` or ``failed``.

Only :mod:`tg_parser.storage.runs` writes these states, and it refuses a move
this table does not allow (:func:`check_run_transition`). The values are the
strings stored in the ``runs.status`` and ``run_items.status`` columns.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """State of a run; stored as its string value."""

    INGESTING = "ingesting"
    PROCESSING = "processing"
    TOPICIZING = "topicizing"
    EXPORTING = "exporting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ItemStatus(StrEnum):
    """State of one run item (a post the run must process)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


ACTIVE_RUN_STATES: frozenset[RunStatus] = frozenset(
    {RunStatus.INGESTING, RunStatus.PROCESSING, RunStatus.TOPICIZING, RunStatus.EXPORTING}
)
"""States of a run that still has work to do (the stuck-run sweeper watches these)."""

TERMINAL_RUN_STATES: frozenset[RunStatus] = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})
"""States that end a run (until a dead-letter replay reopens it)."""

TERMINAL_ITEM_STATES: frozenset[ItemStatus] = frozenset({ItemStatus.DONE, ItemStatus.FAILED})
"""States that end an item; a run topicizes once every item is in one of them."""

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # The pipeline moves forward one stage at a time; any active stage can fail.
    RunStatus.INGESTING: frozenset({RunStatus.PROCESSING, RunStatus.FAILED}),
    RunStatus.PROCESSING: frozenset({RunStatus.TOPICIZING, RunStatus.FAILED}),
    RunStatus.TOPICIZING: frozenset({RunStatus.EXPORTING, RunStatus.FAILED}),
    RunStatus.EXPORTING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED}),
    # Replaying a dead-lettered post reopens a finished run at processing, so it
    # topicizes and exports again with the post included.
    RunStatus.SUCCEEDED: frozenset({RunStatus.PROCESSING}),
    # Replaying a dead-lettered post, topicize or export reopens a failed run at
    # the stage that gave up.
    RunStatus.FAILED: frozenset({RunStatus.PROCESSING, RunStatus.TOPICIZING, RunStatus.EXPORTING}),
}
"""Allowed run moves: ``RUN_TRANSITIONS[from]`` is the set of states ``from`` may move to."""

ITEM_TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.PENDING: frozenset({ItemStatus.DONE, ItemStatus.FAILED}),
    ItemStatus.DONE: frozenset(),
    # A replayed dead letter puts its failed item back to pending.
    ItemStatus.FAILED: frozenset({ItemStatus.PENDING}),
}
"""Allowed item moves."""


class TransitionError(ValueError):
    """A state change the lifecycle does not allow (a programming error, not bad input)."""


def check_run_transition(from_status: RunStatus, to_status: RunStatus) -> None:
    """Refuse a run move that :data:`RUN_TRANSITIONS` does not allow.

    Args:
        from_status: The state the caller expects the run to be in.
        to_status: The state it wants.

    Raises:
        TransitionError: The move is not allowed.
    """
    if to_status not in RUN_TRANSITIONS[from_status]:
        msg = f"a run cannot move from {from_status.value} to {to_status.value}"
        raise TransitionError(msg)


def check_item_transition(from_status: ItemStatus, to_status: ItemStatus) -> None:
    """Refuse an item move that :data:`ITEM_TRANSITIONS` does not allow.

    Raises:
        TransitionError: The move is not allowed.
    """
    if to_status not in ITEM_TRANSITIONS[from_status]:
        msg = f"a run item cannot move from {from_status.value} to {to_status.value}"
        raise TransitionError(msg)


class StepType(StrEnum):
    """The kinds of step a run executes; each has its own ``RETRY_<TYPE>_*`` policy.

    ``topics`` covers topicize, its topic labels and its post embeddings (a label
    or embeddings call is part of a topicize step).
    """

    INGEST = "ingest"
    PROCESS = "process"
    TOPICS = "topics"
    EXPORT = "export"
    WEBHOOK = "webhook"
    MEDIA = "media"


class TaskName(StrEnum):
    """The Celery task names (explicit strings, so ``celery call`` and Flower show them)."""

    RUN_PIPELINE = "tg_parser.run_pipeline"
    INGEST = "tg_parser.ingest_channel"
    PROCESS = "tg_parser.process_message"
    TOPICIZE = "tg_parser.topicize_channel"
    EXPORT = "tg_parser.export_channel"
    LABEL = "tg_parser.label_topic"
    EMBED = "tg_parser.embed_posts"
    SCHEDULE = "tg_parser.schedule_due_channels"
    SWEEP = "tg_parser.sweep_stalled_runs"
    HEALTH = "tg_parser.health"
    DELIVER_WEBHOOK = "tg_parser.deliver_webhook"
    SUBMIT_LLM_BATCH = "tg_parser.submit_llm_batch"
    POLL_LLM_BATCH = "tg_parser.poll_llm_batch"
    DOWNLOAD_MEDIA = "tg_parser.download_media"


STEP_OF_TASK: dict[TaskName, StepType] = {
    TaskName.INGEST: StepType.INGEST,
    TaskName.PROCESS: StepType.PROCESS,
    TaskName.TOPICIZE: StepType.TOPICS,
    TaskName.LABEL: StepType.TOPICS,
    TaskName.EMBED: StepType.TOPICS,
    TaskName.EXPORT: StepType.EXPORT,
    TaskName.DELIVER_WEBHOOK: StepType.WEBHOOK,
    TaskName.SUBMIT_LLM_BATCH: StepType.PROCESS,
    TaskName.DOWNLOAD_MEDIA: StepType.MEDIA,
}
"""Which retry policy each retried task follows."""
