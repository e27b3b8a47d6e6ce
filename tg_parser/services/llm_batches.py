"""A run's posts through a provider's batch API: submit, poll, apply results, fall back to sync.

The flow (one run; the same functions embedded and on the cluster):

1. :func:`submit_run_batches`: the run's pending posts are split at the
   provider's documented limits (requests and bytes per batch), every batch
   is recorded (``preparing``, with its posts) before anything is uploaded,
   then each is uploaded and created, and the provider's batch id committed
   at once, before polling starts.
2. :func:`poll_run_batches`: each unfinished batch's state is read and stored
   (``runs show`` renders it); a finished one has its results streamed back,
   mapped to posts by ``custom_id``, validated against the schema as in
   synchronous mode, and stored with the same document upsert and item
   move as :func:`~tg_parser.services.process_batch.process_batch`, in
   transactions of :data:`APPLY_GROUP` posts. Only items still ``pending``
   are applied, so a poll repeated after a crash stores nothing twice.
3. When every batch is applied, the run's posts still pending (requests that
   failed, expired, were cancelled, or answered invalid JSON) go to the
   synchronous path (``process_message`` with its retries, re-asks and dead
   letters), and the run's end is claimed as for any post.

Limits: a crash between the provider creating a batch and our commit of its
id makes the redelivered submit create a second batch (answers are applied
once, the first batch's cost is lost); the usage of an answer that was
invalid is recorded again if a crash repeats its group.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import structlog

from tg_parser.config import Settings
from tg_parser.domain import Document, PostAnalysis
from tg_parser.domain.runs import ItemStatus
from tg_parser.errors import InputError
from tg_parser.llm.batch import BatchClient, BatchResult
from tg_parser.llm.schema import strict_json_schema
from tg_parser.llm.structured import usage_of, validate_answer
from tg_parser.processing.base import LLMUsage, ProcessingResult, Processor
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.post_rules import post_document, post_outcome
from tg_parser.storage import documents, llm_batches, messages, runs, session_scope, usage
from tg_parser.storage.messages import StoredMessage

log = structlog.get_logger(__name__)

LOAD_PAGE = 500
"""Posts read per query while building batch input (memory stays flat however large the run)."""

APPLY_GROUP = 500
"""Batch results stored per transaction."""


def batch_client_for(processor: Processor) -> BatchClient | None:
    """Return the batch client of the processor's provider, or ``None`` when it has no batch API."""
    from tg_parser.llm.processor import LLMProcessor

    if not isinstance(processor, LLMProcessor):
        return None
    from tg_parser.llm.openai import OpenAIProvider

    if isinstance(processor.provider, OpenAIProvider):
        from tg_parser.llm.openai_batch import OpenAIBatchClient

        return OpenAIBatchClient(processor.provider)
    from tg_parser.llm.anthropic import AnthropicProvider

    if isinstance(processor.provider, AnthropicProvider):
        from tg_parser.llm.anthropic_batch import AnthropicBatchClient

        return AnthropicBatchClient(processor.provider)
    from tg_parser.llm.gemini import GeminiProvider

    if isinstance(processor.provider, GeminiProvider):
        from tg_parser.llm.gemini_batch import GeminiBatchClient

        return GeminiBatchClient(processor.provider)
    return None


def use_batch(settings: Settings, *, processor: Processor, posts: int) -> bool:
    """Whether a run with ``posts`` posts to process goes through the batch API.

    ``LLM_BATCH=off``: never; ``on``: always (when the provider has a batch
    API); ``auto``: when ``posts`` > ``LLM_BATCH_MIN_POSTS``.
    """
    mode = settings.llm.llm_batch
    if mode == "off" or posts == 0 or batch_client_for(processor) is None:
        return False
    return mode == "on" or posts > settings.llm.llm_batch_min_posts


def custom_id(message_pk: int, content_hash: str) -> str:
    """Return the request id of a post: its key and its content hash's first 16 characters.

    Fits every provider's rule (Anthropic: ``^[a-zA-Z0-9_-]{1,64}$``), and an
    answer to a post edited since submission is recognised and not applied.
    """
    return f"p{message_pk}-{content_hash[:16]}"


def _parse_custom_id(value: str) -> tuple[int, str] | None:
    head, _, digest = value.partition("-")
    if not head.startswith("p") or not head[1:].isdigit():
        return None
    return int(head[1:]), digest


@dataclass(frozen=True)
class BatchProgress:
    """How far a run's batches are.

    Attributes:
        batches: Batches of the run.
        status: The least advanced provider status among unfinished batches
            (``submitted``, ``validating``, ``in_progress``, ``finalizing``), else ``done``.
        done: Requests answered or failed so far.
        total: Requests in all batches.
        finished: Whether every batch is applied (posts left over went to the sync path).
    """

    batches: int
    status: str
    done: int
    total: int
    finished: bool

    def describe(self) -> str:
        """``batch: in_progress / 1200 of 2000 done``."""
        return f"batch: {self.status} / {self.done} of {self.total} done"


_STATUS_ORDER = ("preparing", "submitted", "validating", "in_progress", "finalizing", "cancelling")


def progress_of(batches: Sequence[llm_batches.LLMBatchRecord]) -> BatchProgress | None:
    """Summarise a run's batches (``None`` when the run has none)."""
    if not batches:
        return None
    open_states = [b.status for b in batches if b.status != "applied"]
    status = "done"
    if open_states:
        status = min(open_states, key=lambda s: _STATUS_ORDER.index(s) if s in _STATUS_ORDER else 99)
    done = sum(
        b.request_count if b.status == "applied" else b.completed_count + b.failed_count for b in batches
    )
    return BatchProgress(
        batches=len(batches),
        status=status,
        done=done,
        total=sum(b.request_count for b in batches),
        finished=not open_states,
    )


def run_batch_progress(*, database_url: str, run_id: str) -> BatchProgress | None:
    """Return the progress of a run's batches, ``None`` when it has none."""
    with session_scope(database_url, read_only=True) as session:
        return progress_of(llm_batches.run_batches(session, run_id=run_id))


def _pages(pks: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(pks), LOAD_PAGE):
        yield pks[start : start + LOAD_PAGE]


def _prompt_lines(
    settings: Settings, *, processor: Processor, client: BatchClient, pks: Sequence[int]
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(message_pk, request line)`` for each post that can be asked; others are left out."""
    from tg_parser.llm.processor import LLMProcessor

    assert isinstance(processor, LLMProcessor)  # noqa: S101 - batch_client_for checked it
    schema = strict_json_schema(PostAnalysis)
    for page in _pages(pks):
        with session_scope(settings.database_url, read_only=True) as session:
            stored = messages.load_messages(session, message_pks=page)
        for pk in page:
            post = stored.get(pk)
            if post is None:
                continue
            try:
                _text, system, user = processor.prompt(post.message)
            except InputError:
                continue  # the sync path records it
            line = client.request_line(
                custom_id=custom_id(pk, post.content_hash), system=system, user=user, schema=schema
            )
            yield pk, line


def give_up_unsubmitted(settings: Settings, *, run_id: str, error: BaseException) -> None:
    """Mark the run's batches still ``preparing`` as ``failed``: their posts will go synchronous."""
    with session_scope(settings.database_url) as session:
        for batch in llm_batches.run_batches(session, run_id=run_id):
            if batch.status == "preparing":
                llm_batches.set_state(
                    session, batch_id=batch.id, status="failed", completed=0, failed=0, error=str(error)
                )


def submit_run_batches(*, settings: Settings, run_id: str, processor: Processor) -> list[str]:
    """Split the run's pending posts into batches, record them, then submit each; idempotent.

    A run that already has batches only submits those still ``preparing``
    (a redelivered submit). Posts that need no processor call (deleted,
    without text, current) are finished here, as the sync path would.

    Returns:
        The ids of the run's batches.

    Raises:
        RetryableError: From the provider (the caller's step policy retries the submit).
        PermanentError: From the provider.
        ConfigurationError: The processor's provider has no batch API.
    """
    client = batch_client_for(processor)
    if client is None:
        from tg_parser.errors import ConfigurationError

        msg = f"{processor.name} has no batch API"
        raise ConfigurationError(msg)
    db = settings.database_url
    with session_scope(db, read_only=True) as session:
        existing = llm_batches.run_batches(session, run_id=run_id)
    if not existing:
        existing = _plan_batches(settings, run_id=run_id, processor=processor, client=client)
    for batch in existing:
        if batch.status != "preparing":
            continue
        lines = (
            line
            for _pk, line in _prompt_lines(
                settings, processor=processor, client=client, pks=batch.message_pks
            )
        )
        input_file_id, provider_batch_id = client.submit(lines, label=batch.id)
        with session_scope(db) as session:
            llm_batches.set_submitted(
                session, batch_id=batch.id, provider_batch_id=provider_batch_id, input_file_id=input_file_id
            )
        log.info(
            "llm_batch_submitted",
            run_id=run_id,
            batch=batch.id,
            provider_batch_id=provider_batch_id,
            requests=len(batch.message_pks),
        )
    return [b.id for b in existing]


def _plan_batches(
    settings: Settings, *, run_id: str, processor: Processor, client: BatchClient
) -> list[llm_batches.LLMBatchRecord]:
    """Finish the posts that need no call, cut the rest at the provider's limits, record the batches."""
    db = settings.database_url
    with session_scope(db, read_only=True) as session:
        pending = runs.pending_items(session, run_id=run_id)
    to_ask: list[int] = []
    for page in _pages(pending):
        with session_scope(db) as session:
            stored = messages.load_messages(session, message_pks=page)
            current = documents.current_document_pks(
                session,
                content_hashes={pk: s.content_hash for pk, s in stored.items()},
                processor=processor.name,
                model=processor.model,
                prompt_version=processor.prompt_version,
            )
            finished = [
                pk for pk, s in stored.items() if post_outcome(s, current=pk in current) != "processed"
            ]
            runs.finish_items(session, run_id=run_id, message_pks=finished, status=ItemStatus.DONE)
        to_ask += [pk for pk in page if pk in stored and pk not in set(finished)]
    chunks: list[list[int]] = []
    chunk: list[int] = []
    size = 0
    for pk, line in _prompt_lines(settings, processor=processor, client=client, pks=to_ask):
        if chunk and (len(chunk) >= client.max_requests or size + len(line) > client.max_bytes):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(pk)
        size += len(line)
    if chunk:
        chunks.append(chunk)
    with session_scope(db) as session:
        for index, pks in enumerate(chunks):
            llm_batches.add_batch(
                session,
                batch_id=f"{run_id}:{index}",
                run_id=run_id,
                provider=client.name,
                model=client.model,
                message_pks=pks,
            )
    with session_scope(db, read_only=True) as session:
        return llm_batches.run_batches(session, run_id=run_id)


def poll_run_batches(
    *, settings: Settings, run_id: str, processor: Processor, dispatcher: Dispatcher | None
) -> BatchProgress:
    """Poll the run's unfinished batches once; apply the finished ones; hand leftovers to the sync path.

    Returns:
        The progress after this poll; ``finished`` tells the caller to stop polling.

    Raises:
        RetryableError: From the provider (the caller polls again later).
        PermanentError: From the provider.
    """
    client = batch_client_for(processor)
    db = settings.database_url
    with session_scope(db, read_only=True) as session:
        batches = llm_batches.run_batches(session, run_id=run_id)
    for batch in batches:
        if batch.status == "failed" and batch.provider_batch_id is None:
            with session_scope(db) as session:  # its submit gave up: its posts go synchronous
                llm_batches.mark_applied(session, batch_id=batch.id)
            continue
        if batch.status == "applied" or batch.provider_batch_id is None or client is None:
            continue
        state = client.state(batch.provider_batch_id)
        with session_scope(db) as session:
            llm_batches.set_state(
                session,
                batch_id=batch.id,
                status=state.status,
                completed=state.completed,
                failed=state.failed,
                total=state.total,
                error=state.error,
            )
            runs.heartbeat(session, run_id=run_id)
        if state.terminal:
            _apply_results(
                settings,
                run_id=run_id,
                batch=batch,
                results=client.results(batch.provider_batch_id),
                processor=processor,
            )
    with session_scope(db, read_only=True) as session:
        progress = progress_of(llm_batches.run_batches(session, run_id=run_id))
    if progress is None or not progress.finished:
        return progress or BatchProgress(0, "done", 0, 0, finished=True)
    hand_leftovers_to_sync(settings, run_id=run_id, dispatcher=dispatcher)
    return progress


def hand_leftovers_to_sync(settings: Settings, *, run_id: str, dispatcher: Dispatcher | None) -> None:
    """Send the run's posts still pending to the synchronous path, then claim the run's end."""
    from tg_parser.services.pipeline import maybe_finish_processing

    db = settings.database_url
    with session_scope(db, read_only=True) as session:
        leftover = runs.pending_items(session, run_id=run_id)
        channel = runs.get_run(session, run_id=run_id).channel_key
    if leftover and dispatcher is not None:
        log.info("llm_batch_fallback", run_id=run_id, posts=len(leftover))
        dispatcher.process_messages(run_id=run_id, message_pks=leftover)
    maybe_finish_processing(db, channel=channel, run_id=run_id, dispatcher=dispatcher)


def _apply_results(
    settings: Settings,
    *,
    run_id: str,
    batch: llm_batches.LLMBatchRecord,
    results: Iterator[BatchResult],
    processor: Processor,
) -> None:
    """Store a finished batch's valid answers in groups; mark it applied; failures stay pending."""
    group: list[BatchResult] = []
    counts = {"applied": 0, "failed": 0, "invalid": 0}
    for result in results:
        group.append(result)
        if len(group) >= APPLY_GROUP:
            _apply_group(settings, run_id=run_id, group=group, processor=processor, counts=counts)
            group = []
    _apply_group(settings, run_id=run_id, group=group, processor=processor, counts=counts)
    with session_scope(settings.database_url) as session:
        llm_batches.mark_applied(session, batch_id=batch.id)
    log.info("llm_batch_applied", run_id=run_id, batch=batch.id, **counts)


def _apply_group(
    settings: Settings,
    *,
    run_id: str,
    group: Sequence[BatchResult],
    processor: Processor,
    counts: dict[str, int],
) -> None:
    from tg_parser.llm.processor import LLMProcessor

    assert isinstance(processor, LLMProcessor)  # noqa: S101 - batch_client_for checked it
    wanted: dict[int, tuple[str, BatchResult]] = {}
    for result in group:
        parsed = _parse_custom_id(result.custom_id)
        if parsed is not None:
            wanted[parsed[0]] = (parsed[1], result)
    if not wanted:
        return
    with session_scope(settings.database_url) as session:
        stored = messages.load_messages(session, message_pks=list(wanted))
        pending = llm_batches.pending_among(session, run_id=run_id, message_pks=list(wanted))
        written: list[documents.NewDocument] = []
        calls: list[tuple[int, int, tuple[LLMUsage, ...]]] = []
        for pk, (digest, result) in wanted.items():
            post = stored.get(pk)
            if pk not in pending or post is None:
                continue
            if result.reply is None:
                counts["failed"] += 1
                continue
            used = (
                usage_of(
                    result.reply,
                    provider=processor.name,
                    model=processor.model,
                    prices=processor.prices,
                    batch=True,
                ),
            )
            calls.append((pk, post.channel.pk, used))
            analysis, _problem = validate_answer(
                result.reply.text, output_model=PostAnalysis, check=processor.check
            )
            if analysis is None or not post.content_hash.startswith(digest):
                counts["invalid"] += 1
                continue
            written.append(
                documents.NewDocument(pk, post.channel.pk, _document(post, processor, analysis, used))
            )
        documents.upsert_documents(session, documents=written)
        for pk, channel_pk, spent in calls:
            usage.record_llm_calls(session, usage=spent, run_id=run_id, channel_pk=channel_pk, message_pk=pk)
        runs.finish_items(
            session, run_id=run_id, message_pks=[d.message_pk for d in written], status=ItemStatus.DONE
        )
        runs.heartbeat(session, run_id=run_id)
    counts["applied"] += len(written)


def _document(
    post: StoredMessage, processor: Processor, analysis: PostAnalysis, used: tuple[LLMUsage, ...]
) -> Document:
    from tg_parser.processing.text import clean_text

    result = ProcessingResult(analysis=analysis, clean_text=clean_text(post.message.text), usage=used)
    return post_document(post, processor=processor, result=result)
