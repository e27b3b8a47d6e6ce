"""The pipeline's step bodies: ingest → process each post → topicize → export.

Each function here is one step's body. It takes ids, re-reads state from the
database and is idempotent: running it twice changes nothing the second time.
A :class:`~tg_parser.services.dispatch.Dispatcher` decides where the next step
runs. Retries, give-ups and dead letters are not handled here but by the step
runner (:mod:`tg_parser.services.execute`), the same for both execution modes.

Run states (:class:`~tg_parser.domain.runs.RunStatus`) move only through
:mod:`tg_parser.storage.runs`, by guarded updates, so exactly one caller moves
a run forward even when a message is delivered twice.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import RunStatus, TaskName
from tg_parser.errors import InputError
from tg_parser.export.writer import ExportResult
from tg_parser.processing.base import Processor
from tg_parser.services import deltas
from tg_parser.services.comments import channel_lines, stale_comment_pks, store_comments
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.media import send_downloads
from tg_parser.services.post_rules import post_document, post_outcome
from tg_parser.services.sources import (
    ExportSourceRef,
    SourceBatch,
    TelegramSourceRef,
    export_batches,
    prefetched,
)
from tg_parser.storage import (
    Session,
    changes,
    channels,
    comments,
    dead_letters,
    messages,
    post_finish,
    runs,
    session_scope,
    topics,
)

log = structlog.get_logger(__name__)

INGEST_BATCH = 1000
"""Posts committed per ingest transaction; the cursor moves after each commit."""

INGEST_PREFETCH = 1
"""Export batches parsed ahead of the one being written (memory: this many batches more)."""


def start_run(
    *, database_url: str, channel: str, run_id: str, mode: str, export_dir: str | None = None
) -> bool:
    """Record a new run of ``channel`` in ``ingesting``; ``False`` if ``run_id`` already exists.

    Args:
        database_url: The database.
        channel: Channel key.
        run_id: The run id (the Celery root id on the cluster, a UUID embedded).
        mode: ``embedded`` or ``celery``.
        export_dir: The run's export folder (default: the channel's).

    Raises:
        NotFoundError: Unknown channel.
    """
    with session_scope(database_url) as session:
        ch = channels.get_channel(session, key=channel)
        out_dir = export_dir or ch.export_dir
        return runs.create_run(session, run_id=run_id, channel_pk=ch.pk, mode=mode, export_dir=out_dir)


@dataclass
class IngestReport:
    """What one ingest did.

    Attributes:
        posts_read: Posts read from the source (service messages excluded).
        new: Posts stored for the first time.
        changed: Posts whose content changed (a version was kept).
        input_errors: Messages the source could not read (each dead-lettered).
        to_process: Posts handed to processing.
        errors: Human-readable error lines (file, message id, reason).
        unread_ranges: Stretches of the source skipped unread
            (``{"path", "start", "end", "reason"}``); any makes the run partial.
    """

    posts_read: int = 0
    new: int = 0
    changed: int = 0
    input_errors: int = 0
    to_process: int = 0
    errors: list[str] = field(default_factory=list)
    unread_ranges: list[dict[str, Any]] = field(default_factory=list)


def ingest_channel(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    processor: Processor,
    dispatcher: Dispatcher | None,
) -> IngestReport:
    """Read a channel's source, upsert its posts and fan out processing.

    Messages are committed in batches of :data:`INGEST_BATCH`; the cursor moves
    after each commit. A message the source cannot read is dead-lettered and
    the rest still import. With a ``run_id``, every post that lacks a current
    document for ``processor`` becomes a run item, and the run moves to
    ``processing`` (or straight on to topicize when there is nothing to do).

    Args:
        settings: Settings (database URL).
        channel: Channel key.
        run_id: The run, or ``None`` for a bare import (no run bookkeeping).
        processor: Decides which documents are current.
        dispatcher: Where to send the next steps (``None``: send nothing).

    Raises:
        NotFoundError: Unknown channel or run.
        InputError: The source as a whole is unreadable (nothing imported).
    """
    db = settings.database_url
    report = IngestReport()
    with session_scope(db) as session:
        ch = channels.get_channel(session, key=channel)
        if run_id is not None:
            run = runs.get_run(session, run_id=run_id)
            if run.status is not RunStatus.INGESTING:
                log.info("ingest_skipped", reason="run already past ingest", run_id=run_id, status=run.status)
                return report
    totals = messages.UpsertOutcome(0, 0, 0)
    for batch in _source_batches(settings, ch=ch):
        for error in batch.errors:
            report.input_errors += 1
            report.errors.append(str(error))
            if error.unread is not None:
                start, end = error.unread
                report.unread_ranges.append(
                    {"path": error.path, "start": start, "end": end, "reason": error.reason}
                )
            _dead_letter_input(db, run_id=run_id, channel=channel, error=error)
        report.posts_read += batch.posts
        with session_scope(db) as s:
            if batch.chat is not None:
                channels.refresh_channel_info(s, channel_pk=ch.pk, chat=batch.chat)
            out = _upsert(s, channel_pk=ch.pk, batch=batch)
            messages.mark_deleted(s, channel_pk=ch.pk, message_ids=batch.deleted_ids)
            store_comments(s, channel_pk=ch.pk, batch=batch)
            if run_id is not None:
                runs.heartbeat(s, run_id=run_id)
        # The cursor moves only after the batch's commit.
        with session_scope(db) as s:
            channels.set_cursor(s, channel_pk=ch.pk, cursor_message_id=batch.cursor)
        send_downloads(settings, dispatcher, channel=ch, posts=batch.messages)
        totals = messages.UpsertOutcome(
            totals.new + out.new, totals.changed + out.changed, totals.unchanged + out.unchanged
        )
    report.new, report.changed = totals.new, totals.changed
    if run_id is None:
        return report
    with session_scope(db) as session:
        pks = messages.stale_message_pks(
            session,
            channel_pk=ch.pk,
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
        )
        pks += stale_comment_pks(session, settings=settings, channel_pk=ch.pk, processor=processor)
        runs.add_run_items(session, run_id=run_id, message_pks=pks)
        moved = runs.finish_ingest(
            session,
            run_id=run_id,
            posts_read=report.posts_read,
            posts_new=totals.new,
            posts_changed=totals.changed,
            input_errors=report.input_errors,
            items_total=len(pks),
            unread_ranges=report.unread_ranges,
        )
    report.to_process = len(pks)
    log.info(
        "ingest_done",
        channel=channel,
        run_id=run_id,
        posts_read=report.posts_read,
        new=report.new,
        changed=report.changed,
        input_errors=report.input_errors,
        to_process=len(pks),
    )
    if moved and dispatcher is not None:
        _hand_to_processing(
            settings, channel=channel, run_id=run_id, processor=processor, dispatcher=dispatcher
        )
    return report


def _hand_to_processing(
    settings: Settings, *, channel: str, run_id: str, processor: Processor, dispatcher: Dispatcher
) -> None:
    """Send the run's pending posts on: one provider batch job (``LLM_BATCH``) or one step per post."""
    db = settings.database_url
    # Items that are already terminal (a redelivery) are not re-sent.
    with session_scope(db) as session:
        pending = runs.pending_items(session, run_id=run_id)
    if pending and _by_batch(settings, processor=processor, posts=len(pending)):
        dispatcher.submit_llm_batch(run_id=run_id)
        return
    if pending:
        dispatcher.process_messages(run_id=run_id, message_pks=pending)
    maybe_finish_processing(db, channel=channel, run_id=run_id, dispatcher=dispatcher)


def _by_batch(settings: Settings, *, processor: Processor, posts: int) -> bool:
    """Whether the run's posts go to the provider's batch API (``LLM_BATCH``)."""
    from tg_parser.services.llm_batches import use_batch

    return use_batch(settings, processor=processor, posts=posts)


def _upsert(session: Session, *, channel_pk: int, batch: SourceBatch) -> messages.UpsertOutcome:
    """Store a batch's posts, however they travel (encoded for ``COPY`` or as posts); revive deleted ones."""
    encoded = batch.encoded
    ids = encoded.message_ids if encoded else [m.message_id for m in batch.messages]
    revived = changes.deleted_message_pks(session, channel_pk=channel_pk, message_ids=ids)
    if encoded is not None:
        out = messages.upsert_encoded(session, posts=encoded)
    else:
        out = messages.upsert_messages(session, channel_pk=channel_pk, messages=batch.messages)
    changes.stamp_revived(session, channel_pk=channel_pk, message_pks=revived)
    return out


def _source_batches(settings: Settings, *, ch: channels.ChannelRecord) -> Iterator[SourceBatch]:
    if ch.source_kind == "export":
        export_ref = ExportSourceRef.from_json(ch.source)
        if messages.uses_copy(settings.database_url):
            # Parsed and encoded in a child process (the GIL would serialise a
            # thread): it fills one core while this one and PostgreSQL share the other.
            from tg_parser.services.export_reader import encoded_export_batches

            yield from encoded_export_batches(
                export_ref, channel_pk=ch.pk, batch_size=INGEST_BATCH, depth=INGEST_PREFETCH
            )
            return
        # The file is parsed one batch ahead on a thread while this one writes
        # the previous batch (SQLite works meanwhile, without the GIL).
        yield from prefetched(export_batches(export_ref, batch_size=INGEST_BATCH), depth=INGEST_PREFETCH)
        return
    if ch.source_kind == "telegram":
        from tg_parser.services.telegram_ingest import telegram_batches

        with session_scope(settings.database_url) as session:
            cursor, known = channels.cursor_and_recent_ids(session, channel_pk=ch.pk, limit=1000)
            threads = comments.comment_cursors(session, channel_pk=ch.pk)
        ref = TelegramSourceRef.from_json(ch.source)
        yield from telegram_batches(
            settings=settings,
            reference=ref.reference,
            cursor=cursor,
            known_ids=known,
            since=ref.since,
            limit=ref.limit,
            comment_cursors=threads,
            channel_key=ch.key,
            account=ref.account,
        )
        return
    msg = f"unknown source kind {ch.source_kind!r}"
    raise InputError(msg)


def _dead_letter_input(db: str, *, run_id: str | None, channel: str, error: InputError) -> None:
    """Dead-letter one message the source could not read; the same message read again keeps one letter."""
    args = {"channel": channel, "path": error.path, "message_id": error.message_id}
    with session_scope(db) as session:
        if not dead_letters.repeat_dead_letter(
            session, task_name=TaskName.INGEST.value, args=args, error_message=str(error), run_id=run_id
        ):
            dead_letters.add_dead_letter(
                session,
                run_id=run_id,
                task_name=TaskName.INGEST.value,
                args=args,
                error_type=type(error).__name__,
                error_message=str(error),
                attempts=1,
            )
    log.warning("input_error", channel=channel, run_id=run_id, error=str(error))


def process_message(
    *,
    settings: Settings,
    run_id: str | None,
    message_pk: int,
    processor: Processor,
    dispatcher: Dispatcher | None,
) -> str:
    """Process one post into its document; idempotent.

    Returns:
        ``processed`` when a document was written, ``current`` when a current
        document already existed (nothing done), ``skipped`` for a post
        without text or deleted.

    Raises:
        RetryableError: From the processor; the step runner retries.
        PermanentError: From the processor; the step runner gives up at once.
        NotFoundError: Unknown message.
    """
    db = settings.database_url
    loaded = messages.read_message_to_process(
        db, message_pk=message_pk, processed_by=(processor.name, processor.model, processor.prompt_version)
    )
    stored = loaded.stored
    message, key, channel_pk = stored.message, stored.channel.key, stored.channel.pk
    outcome = post_outcome(stored, current=loaded.current)
    finish = functools.partial(
        post_finish.finish_post,
        db,
        message_pk=message_pk,
        channel_pk=channel_pk,
        run_id=run_id,
        synchronous_commit=settings.post_synchronous_commit,
    )
    if outcome != "processed":
        if run_id is not None:
            _after_item(finish(), db=db, channel=key, run_id=run_id, dispatcher=dispatcher)
        return outcome
    started = time.perf_counter()
    result = processor.process(message)
    document = post_document(stored, processor=processor, result=result)
    # One transaction per post (one round trip on PostgreSQL): its document, its usage,
    # its item and the test for the run's end.
    done = finish(document=document, calls=result.usage)
    log.debug(
        "post_processed",
        channel=key,
        message_id=message.message_id,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    if run_id is not None:
        _after_item(done, db=db, channel=key, run_id=run_id, dispatcher=dispatcher)
    return outcome


def _after_item(won: bool, *, db: str, channel: str, run_id: str, dispatcher: Dispatcher | None) -> None:  # noqa: FBT001
    """After the commit: the one caller that ended the run's processing hands it on to topicize.

    The run's own channel is topicized, not the post's: a run also processes
    the discussion comments of its channel, which belong to the linked group.
    """
    if won:
        log.info("processing_done", channel=channel, run_id=run_id)
        if dispatcher is not None:
            with session_scope(db) as session:
                run_channel = runs.get_run(session, run_id=run_id).channel_key
            dispatcher.topicize(channel_key=run_channel, run_id=run_id)


def maybe_finish_processing(db: str, *, channel: str, run_id: str, dispatcher: Dispatcher | None) -> None:
    """Hand the run on to topicize when its last item became terminal (exactly one caller wins)."""
    with session_scope(db) as session:
        won = runs.claim_processing_done(session, run_id=run_id)
    _after_item(won, db=db, channel=channel, run_id=run_id, dispatcher=dispatcher)


def topicize_channel(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    dispatcher: Dispatcher | None,
    full: bool = False,
) -> int:
    """Place new and changed posts in the channel's topics, or re-cluster it.

    See :mod:`tg_parser.services.topicize` for when it re-clusters.

    With a ``run_id`` it acts only while the run is ``topicizing`` (a
    redelivered task does nothing) and then hands over to export. Topic
    labels come from the LLM when one is configured (each label call is a step
    of its own, see :func:`tg_parser.services.topic_labels.label_topics_with_llm`).

    Args:
        settings: Settings.
        channel: The channel key.
        run_id: The run, or ``None``.
        dispatcher: Where export goes next.
        full: Re-cluster even when the stored fit would do.

    Returns:
        The number of topics (``-1`` when skipped as a redelivery).
    """
    from tg_parser.services.topicize import topicize

    done = topicize(settings=settings, channel=channel, run_id=run_id, dispatcher=dispatcher, full=full)
    return done.topics


def export_channel(
    *,
    settings: Settings,
    channel: str,
    run_id: str | None,
    export_dir: str | None = None,
    dispatcher: Dispatcher | None = None,
    since: str | None = None,
) -> ExportResult | None:
    """Write ``documents.ndjson`` and ``topics.json`` of a channel atomically.

    The channel's change counter is read first: it is the export's delta
    cursor (recorded on the run, in ``ExportResult.delta_cursor``). With
    ``since`` (``services.deltas.resolve_since``), ``documents.delta.ndjson``
    is written too, from there up to that cursor (``ExportResult.delta``).

    The folder is ``<export_dir>/<channel key>/`` where ``export_dir`` is the
    argument, else the run's, else the channel's, else ``EXPORT_DIR``. The
    call that moves the run to ``succeeded`` queues its webhook events on
    ``dispatcher`` (exactly one call wins that transition).

    Returns:
        The report, or ``None`` when skipped as a redelivery.
    """
    from tg_parser.export import write_channel_export

    db = settings.database_url
    with session_scope(db) as session:
        ch = channels.get_channel(session, key=channel)
        run_dir: str | None = None
        if run_id is not None:
            run = runs.get_run(session, run_id=run_id)
            if run.status is not RunStatus.EXPORTING:
                return None
            run_dir = run.export_dir
        base = export_dir or run_dir or ch.export_dir or settings.export_dir
        out = Path(base) / channel
        cursor = changes.current_change_seq(session, channel_pk=ch.pk)
        after = None if since is None else deltas.resolve_since(session, channel=ch, since=since)
        # Both files stream: documents as lines PostgreSQL renders (COPY), or
        # through one server-side cursor (SQLite), with the channel's comments
        # (services/comments.py); topic members through one more query.
        lines = channel_lines(session, settings=settings, channel=ch)
        stored_topics = topics.list_topic_summaries(session, channel_pk=ch.pk)
        written = write_channel_export(
            out_dir=out, channel_key=ch.key, title=ch.title, records=lines, topics=stored_topics
        )
        delta = (
            None
            if after is None
            else deltas.write_delta(session, channel=ch, out_dir=out, after_seq=after, upto_seq=cursor)
        )
    written = dataclasses.replace(written, delta_cursor=cursor, delta=delta)
    if run_id is not None:
        with session_scope(db) as session:
            won = runs.finish_export(
                session, run_id=run_id, export_dir=str(Path(base).resolve()), delta_cursor=cursor
            )
        if won:
            from tg_parser.services.webhooks import emit_run_events

            emit_run_events(settings=settings, run_id=run_id, dispatcher=dispatcher)
    log.info("export_done", channel=channel, run_id=run_id, documents=written.documents, path=str(out))
    return written


def stale_posts(*, settings: Settings, channel: str, processor: Processor) -> list[int]:
    """Return keys of the channel's posts that lack a current document (for ``tg-parser process``).

    Raises:
        NotFoundError: Unknown channel.
    """
    with session_scope(settings.database_url) as session:
        ch = channels.get_channel(session, key=channel)
        return messages.stale_message_pks(
            session,
            channel_pk=ch.pk,
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
        )
