"""A batch of posts processed in two transactions: embedded mode's fast path for the offline processor.

:func:`~tg_parser.services.pipeline.process_message` spends several short
transactions on each post (load, document + item, claim; the step's dead
letter only on give-up). For the offline processor, which needs ~2 ms of CPU
per post, that database work cost as much as the processing (profile of
2,000 posts: ~10 ms of database work per post in the embedded parent). A
batch does the same per post with one read and one write transaction for all
of them:

1. one transaction loads the posts and tells which already have a current document;
2. each post is processed (a post deleted or without text is skipped, one
   with a current document left alone, as ``process_message`` does);
3. one transaction upserts the new documents (one multi-row statement),
   records their usage, and moves the run's items of every post that
   succeeded from ``pending`` to ``done``.

A post whose processing raised is left pending and handed back with its
error: the caller continues that post's retry policy from there
(:func:`~tg_parser.services.execute.execute_process` with ``first_error``),
so its retries and dead letter are those of the one-post path. When the
write fails, no post of the batch was written and every one comes back with
that error. Embedded mode runs batches in its worker processes
(:mod:`tg_parser.services.embedded`), so the parent process does no
per-post database work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import ItemStatus
from tg_parser.errors import NotFoundError
from tg_parser.processing.base import Processor
from tg_parser.services.post_rules import post_document, post_outcome
from tg_parser.storage import documents, messages, runs, session_scope, usage

log = structlog.get_logger(__name__)

BATCH_SIZE = 64
"""Posts per batch in embedded offline processing.

Large enough that the two transactions of a batch cost little per post (on
this 2-core machine, ~0.1 ms each per post at 64), small enough that a batch
takes ~0.1-0.2 s, so the progress bar moves smoothly and a worker that dies
loses little work.
"""


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch did.

    Attributes:
        channel_key: The channel of the batch's posts (``None`` when none was found).
        outcomes: ``{message_pk: "processed" | "current" | "skipped"}`` for
            the posts that are done (their run items are ``done``).
        errors: ``{message_pk: error}`` for the posts left pending; the caller
            continues their retry policy.
    """

    channel_key: str | None
    outcomes: dict[int, str] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)


def process_batch(
    *, settings: Settings, run_id: str | None, message_pks: Sequence[int], processor: Processor
) -> BatchOutcome:
    """Process a batch of posts into their documents in one read and one write transaction.

    Args:
        settings: Settings (the database).
        run_id: The run the posts belong to (``None``: a bare ``tg-parser process``).
        message_pks: The posts' keys, each at most once.
        processor: The processor (called once per post that needs a document).

    Returns:
        The outcome per post; see :class:`BatchOutcome`. Nothing raises for a
        single post: its error is in ``errors``.
    """
    try:
        return _process_batch(settings=settings, run_id=run_id, message_pks=message_pks, processor=processor)
    except Exception as exc:  # noqa: BLE001 - a failed read or write hands every post back to its policy
        log.warning("batch_failed", run_id=run_id, posts=len(message_pks), error=str(exc))
        return BatchOutcome(channel_key=None, errors=dict.fromkeys(message_pks, exc))


def _process_batch(
    *, settings: Settings, run_id: str | None, message_pks: Sequence[int], processor: Processor
) -> BatchOutcome:
    db = settings.database_url
    with session_scope(db) as session:
        stored = messages.load_messages(session, message_pks=message_pks)
        current = documents.current_document_pks(
            session,
            content_hashes={pk: s.content_hash for pk, s in stored.items()},
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
        )
    outcome = BatchOutcome(channel_key=next((s.channel.key for s in stored.values()), None))
    written: list[documents.NewDocument] = []
    calls = []
    started = time.perf_counter()
    for pk in message_pks:
        post = stored.get(pk)
        if post is None:
            outcome.errors[pk] = NotFoundError(f"no message with primary key {pk}")
            continue
        state = post_outcome(post, current=pk in current)
        if state == "processed":
            try:
                result = processor.process(post.message)
            except Exception as exc:  # noqa: BLE001 - the post's own policy decides, in the caller
                outcome.errors[pk] = exc
                continue
            document = post_document(post, processor=processor, result=result)
            written.append(documents.NewDocument(pk, post.channel.pk, document))
            calls.append((pk, post.channel.pk, result.usage))
        outcome.outcomes[pk] = state
    with session_scope(db) as session:
        documents.upsert_documents(session, documents=written)
        for pk, channel_pk, used in calls:
            if used:
                usage.record_llm_calls(
                    session, usage=used, run_id=run_id, channel_pk=channel_pk, message_pk=pk
                )
        if run_id is not None:
            runs.finish_items(
                session, run_id=run_id, message_pks=list(outcome.outcomes), status=ItemStatus.DONE
            )
    log.debug(
        "batch_processed",
        run_id=run_id,
        posts=len(message_pks),
        processed=len(written),
        errors=len(outcome.errors),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return outcome
