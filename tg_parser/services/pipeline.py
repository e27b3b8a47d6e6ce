"""The pipeline's use cases: ingest → process each post → topicize → export.

Both the Celery tasks (``tasks/pipeline.py``) and embedded mode call these
functions; a :class:`~tg_parser.services.dispatch.Dispatcher` decides where the
next step runs. Every function takes ids, re-reads state from the database and
is idempotent: running it twice changes nothing the second time.

Run states: ``ingesting`` → ``processing`` → ``topicizing`` → ``exporting`` →
``succeeded`` (or ``failed`` when ingest, topicize or export gave up). Each
transition is a guarded update, so exactly one caller moves a run forward even
when a message is delivered twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import structlog

from tg_parser.config import Settings
from tg_parser.domain import ChatInfo, Document, channel_key, normalise_username
from tg_parser.errors import InputError, NotFoundError, TgParserError
from tg_parser.export.writer import ExportResult
from tg_parser.processing.base import Processor
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.sources import (
    ExportSourceRef,
    SourceBatch,
    TelegramSourceRef,
    export_batches,
    list_export_chats,
    resolve_export_file,
)
from tg_parser.storage import repositories as repo
from tg_parser.storage.session import session_scope
from tg_parser.storage.tables import RunRow, utcnow

log = structlog.get_logger(__name__)

INGEST_BATCH = 500


@dataclass(frozen=True)
class RegisteredChannel:
    """A channel registered from an export: its key and chat."""

    key: str
    chat: ChatInfo


def register_export(
    *,
    database_url: str,
    path: str | Path,
    username: str | None = None,
    export_dir: str | None = None,
) -> list[RegisteredChannel]:
    """Register every chat of a Telegram Desktop export as a channel.

    Args:
        database_url: Where channels are stored.
        path: The export file (or a folder holding one).
        username: Public username of the chat, for ``t.me/<username>`` links;
            only for a file that holds one chat.
        export_dir: Where this channel's exports go on later runs.

    Returns:
        One entry per chat, in file order.

    Raises:
        InputError: The file is unreadable, holds no chat, or ``username`` was
            given for a file of several chats.
    """
    file_path = resolve_export_file(path)
    chats = list_export_chats(file_path)
    if not chats:
        msg = "export holds no chat"
        raise InputError(msg, path=str(file_path))
    name = normalise_username(username)
    if name and len(chats) > 1:
        msg = f"--username applies to a single chat, but this export holds {len(chats)} chats"
        raise InputError(msg, path=str(file_path))
    out = []
    with session_scope(database_url) as session:
        for chat in chats:
            uname = name or chat.username
            key = channel_key(username=uname, telegram_id=chat.telegram_id)
            ref = ExportSourceRef(path=str(Path(path).resolve()), chat_id=chat.telegram_id)
            repo.upsert_channel(
                session,
                key=key,
                telegram_id=chat.telegram_id,
                username=uname,
                title=chat.title,
                chat_type=chat.chat_type,
                source_kind="export",
                source=ref.to_json(),
                export_dir=str(Path(export_dir).resolve()) if export_dir else None,
            )
            out.append(RegisteredChannel(key=key, chat=chat))
    return out


def register_telegram(
    *,
    database_url: str,
    reference: str,
    export_dir: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> str:
    """Register a live Telegram channel by ``@username``, t.me link or numeric id; return its key.

    Nothing is sent to Telegram here; the first run resolves the channel.
    ``since`` and ``limit`` bound the first run's backfill (posts sent at or
    after ``since``, among the ``limit`` most recent).

    Raises:
        InputError: The reference is no username, link or id.
    """
    ref = reference.strip()
    try:
        name = normalise_username(ref) if not ref.lstrip("-").isdigit() and "/c/" not in ref else None
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if name:
        key, telegram_id = name.lower(), 0
    else:
        digits = ref.rstrip("/").split("/c/")[-1].split("/")[0]
        if not digits.lstrip("-").isdigit():
            msg = f"{reference!r} is not a @username, t.me link or numeric id"
            raise InputError(msg)
        telegram_id = int(digits)
        key = channel_key(username=None, telegram_id=telegram_id)
    with session_scope(database_url) as session:
        repo.upsert_channel(
            session,
            key=key,
            telegram_id=telegram_id,
            username=name,
            title=name or key,
            chat_type=None,
            source_kind="telegram",
            source=TelegramSourceRef(reference=name or str(telegram_id), since=since, limit=limit).to_json(),
            export_dir=str(Path(export_dir).resolve()) if export_dir else None,
        )
    return key


def start_run(
    *, database_url: str, channel: str, run_id: str, mode: str, export_dir: str | None = None
) -> bool:
    """Record a new run of ``channel``; ``False`` if ``run_id`` already exists.

    Raises:
        NotFoundError: Unknown channel.
    """
    with session_scope(database_url) as session:
        ch = repo.get_channel(session, key=channel)
        out_dir = export_dir or ch.export_dir
        return repo.create_run(session, run_id=run_id, channel_pk=ch.id, mode=mode, export_dir=out_dir)


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
    """

    posts_read: int = 0
    new: int = 0
    changed: int = 0
    input_errors: int = 0
    to_process: int = 0
    errors: list[str] = field(default_factory=list)


def ingest_channel(  # noqa: C901 - one linear use case; splitting it would hide the transaction order
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
        ch = repo.get_channel(session, key=channel)
        channel_pk, source_kind, source = ch.id, ch.source_kind, ch.source
        if run_id is not None:
            run = repo.get_run(session, run_id=run_id)
            if run.status != "ingesting":
                log.info("ingest_skipped", reason="run already past ingest", run_id=run_id, status=run.status)
                return report
    totals = repo.UpsertOutcome(0, 0, 0)
    try:
        for batch in _source_batches(settings, channel_pk=channel_pk, source_kind=source_kind, source=source):
            for error in batch.errors:
                report.input_errors += 1
                report.errors.append(str(error))
                _dead_letter_input(db, run_id=run_id, channel=channel, error=error)
            report.posts_read += len(batch.messages)
            with session_scope(db) as s:
                if batch.chat is not None:
                    repo.refresh_channel_info(s, channel_pk=channel_pk, chat=batch.chat)
                out = repo.upsert_messages(s, channel_pk=channel_pk, messages=batch.messages)
                repo.mark_deleted(s, channel_pk=channel_pk, message_ids=batch.deleted_ids)
                if run_id is not None:
                    repo.heartbeat(s, run_id=run_id)
            # The cursor moves only after the batch's commit.
            with session_scope(db) as s:
                repo.set_cursor(s, channel_pk=channel_pk, cursor_message_id=batch.cursor)
            totals = repo.UpsertOutcome(
                totals.new + out.new, totals.changed + out.changed, totals.unchanged + out.unchanged
            )
    except InputError as exc:
        if run_id is not None:
            fail_run(database_url=db, run_id=run_id, error=str(exc))
        raise
    report.new, report.changed = totals.new, totals.changed

    if run_id is None:
        return report
    with session_scope(db) as session:
        pks = repo.stale_message_pks(
            session,
            channel_pk=channel_pk,
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
        )
        repo.add_run_items(session, run_id=run_id, message_pks=pks)
        moved = repo.finish_ingest(
            session,
            run_id=run_id,
            posts_read=report.posts_read,
            outcome=totals,
            input_errors=report.input_errors,
            items_total=len(pks),
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
        # Items that are already terminal (a redelivery) are not re-sent.
        with session_scope(db) as session:
            pending = repo.pending_items(session, run_id=run_id)
        if pending:
            dispatcher.process_messages(run_id=run_id, message_pks=sorted(pending))
        _maybe_finish_processing(db, channel=channel, run_id=run_id, dispatcher=dispatcher)
    return report


def _source_batches(
    settings: Settings, *, channel_pk: int, source_kind: str, source: str
) -> Iterator[SourceBatch]:
    if source_kind == "export":
        yield from export_batches(ExportSourceRef.from_json(source), batch_size=INGEST_BATCH)
        return
    if source_kind == "telegram":
        from tg_parser.services.telegram_ingest import telegram_batches

        with session_scope(settings.database_url) as session:
            cursor, known = repo.cursor_and_recent_ids(session, channel_pk=channel_pk, limit=1000)
        ref = TelegramSourceRef.from_json(source)
        yield from telegram_batches(
            settings=settings,
            reference=ref.reference,
            cursor=cursor,
            known_ids=known,
            since=ref.since,
            limit=ref.limit,
        )
        return
    msg = f"unknown source kind {source_kind!r}"
    raise InputError(msg)


def _dead_letter_input(db: str, *, run_id: str | None, channel: str, error: InputError) -> None:
    with session_scope(db) as session:
        args = {"channel": channel, "path": error.path, "message_id": error.message_id}
        if repo.repeat_dead_letter(
            session, task_name="tg_parser.ingest_channel", args=args, error_message=str(error), run_id=run_id
        ):
            return
        repo.add_dead_letter(
            session,
            run_id=run_id,
            task_name="tg_parser.ingest_channel",
            args={"channel": channel, "path": error.path, "message_id": error.message_id},
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
        RetryableError: From the processor; the caller retries.
        PermanentError: From the processor; the caller dead-letters via
            :func:`record_failure`.
        NotFoundError: Unknown message.
    """
    db = settings.database_url
    with session_scope(db) as session:
        row, ch = repo.load_message(session, message_pk=message_pk)
        message = repo.row_to_message(row, telegram_id=ch.telegram_id)
        channel_pk, key = ch.id, ch.key
        digest = row.content_hash
        current = repo.current_document(
            session,
            message_pk=message_pk,
            content_hash=digest,
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
        )
    outcome = "current"
    if message.deleted or not message.text.strip():
        outcome = "skipped"
    elif current is None:
        started = time.perf_counter()
        result = processor.process(message)
        document = Document(
            channel_key=key,
            message_id=message.message_id,
            content_hash=digest,
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
            clean_text=result.clean_text,
            analysis=result.analysis,
        )
        with session_scope(db) as session:
            repo.upsert_document(session, message_pk=message_pk, channel_pk=channel_pk, document=document)
            repo.record_llm_calls(
                session, usage=result.usage, run_id=run_id, channel_pk=channel_pk, message_pk=message_pk
            )
            if run_id is not None:
                repo.mark_item(session, run_id=run_id, message_pk=message_pk, status="done")
        outcome = "processed"
        log.debug(
            "post_processed",
            channel=key,
            message_id=message.message_id,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
    if run_id is not None:
        if outcome != "processed":
            with session_scope(db) as session:
                repo.mark_item(session, run_id=run_id, message_pk=message_pk, status="done")
        _maybe_finish_processing(db, channel=key, run_id=run_id, dispatcher=dispatcher)
    return outcome


def record_failure(
    *,
    settings: Settings,
    run_id: str | None,
    message_pk: int,
    error: BaseException,
    attempts: int,
    dispatcher: Dispatcher | None,
) -> None:
    """Give up on one post: dead-letter it, mark its item failed, let the run go on."""
    db = settings.database_url
    with session_scope(db) as session:
        try:
            row, ch = repo.load_message(session, message_pk=message_pk)
            key, mid = ch.key, row.message_id
        except NotFoundError:
            key, mid = None, None
        first = True
        if run_id is not None:
            first = repo.mark_item(
                session,
                run_id=run_id,
                message_pk=message_pk,
                status="failed",
                attempts=attempts,
                error=f"{type(error).__name__}: {error}",
            )
        if first:
            repo.add_dead_letter(
                session,
                run_id=run_id,
                task_name="tg_parser.process_message",
                args={"run_id": run_id, "message_pk": message_pk, "channel": key, "message_id": mid},
                error_type=type(error).__name__,
                error_message=str(error),
                attempts=attempts,
            )
    log.warning(
        "post_failed",
        channel=key,
        run_id=run_id,
        message_id=mid,
        error=str(error),
        error_type=type(error).__name__,
        attempts=attempts,
    )
    if run_id is not None and key is not None:
        _maybe_finish_processing(db, channel=key, run_id=run_id, dispatcher=dispatcher)


def _maybe_finish_processing(db: str, *, channel: str, run_id: str, dispatcher: Dispatcher | None) -> None:
    with session_scope(db) as session:
        won = repo.claim_processing_done(session, run_id=run_id)
    if won:
        log.info("processing_done", channel=channel, run_id=run_id)
        if dispatcher is not None:
            dispatcher.topicize(channel_key=channel, run_id=run_id)


def topicize_channel(
    *, settings: Settings, channel: str, run_id: str | None, dispatcher: Dispatcher | None
) -> int:
    """Cluster the channel's documents into topics and store them.

    With a ``run_id`` it acts only while the run is ``topicizing`` (a
    redelivered task does nothing) and then hands over to export.

    Returns:
        The number of topics (``-1`` when skipped as a redelivery).
    """
    from tg_parser.topics import TopicInput, build_topics

    db = settings.database_url
    with session_scope(db) as session:
        ch = repo.get_channel(session, key=channel)
        channel_pk = ch.id
        if run_id is not None and repo.get_run(session, run_id=run_id).status != "topicizing":
            return -1
        rows = repo.topic_inputs(session, channel_pk=channel_pk)
    items = [TopicInput(message_id=mid, text=text, keywords=tuple(kw)) for _pk, mid, text, kw in rows]
    topics = build_topics(items, channel_key=channel, seed=settings.topic_seed)
    if settings.llm_provider != "offline" and not settings.processor_factory:
        from tg_parser.services.topic_labels import label_topics_with_llm

        texts = {mid: text for _pk, mid, text, _kw in rows}
        with session_scope(db) as session:
            previous = repo.list_topics(session, channel_pk=channel_pk)
        topics, usage = label_topics_with_llm(
            settings=settings, topics=topics, previous=previous, texts=texts
        )
        with session_scope(db) as session:
            repo.record_llm_calls(
                session,
                usage=usage,
                run_id=run_id,
                channel_pk=channel_pk,
                message_pk=None,
                purpose="topic_label",
            )
    with session_scope(db) as session:
        repo.replace_topics(
            session,
            channel_pk=channel_pk,
            topics=topics,
            pk_by_message_id={mid: pk for pk, mid, _t, _k in rows},
        )
        moved = True
        if run_id is not None:
            moved = repo.claim_stage(
                session,
                run_id=run_id,
                from_status="topicizing",
                to_status="exporting",
                topics=len(topics),
                topicized_at=utcnow(),
            )
    log.info("topicize_done", channel=channel, run_id=run_id, topics=len(topics), documents=len(items))
    if run_id is not None and moved and dispatcher is not None:
        dispatcher.export(channel_key=channel, run_id=run_id)
    return len(topics)


def export_channel(
    *, settings: Settings, channel: str, run_id: str | None, export_dir: str | None = None
) -> ExportResult | None:
    """Write ``documents.ndjson`` and ``topics.json`` of a channel atomically.

    The folder is ``<export_dir>/<channel key>/`` where ``export_dir`` is the
    argument, else the run's, else the channel's, else ``EXPORT_DIR``.

    Returns:
        The report, or ``None`` when skipped as a redelivery.
    """
    from tg_parser.export import document_record, write_channel_export

    db = settings.database_url
    with session_scope(db) as session:
        ch = repo.get_channel(session, key=channel)
        run: RunRow | None = None
        if run_id is not None:
            run = repo.get_run(session, run_id=run_id)
            if run.status != "exporting":
                return None
        base = export_dir or (run.export_dir if run else None) or ch.export_dir or settings.export_dir
        out = Path(base) / channel
        topics = repo.list_topics(session, channel_pk=ch.id)
        records = (
            document_record(
                channel_key=ch.key,
                username=ch.username,
                telegram_id=ch.telegram_id,
                message=repo.row_to_message(r.message, telegram_id=ch.telegram_id),
                language=r.document.language,
                summary=r.document.summary,
                keywords=list(r.document.keywords or []),
                processor=r.document.processor,
                model=r.document.model,
                topic_id=r.topic_key,
                topic_label=r.topic_label,
            )
            for r in repo.iter_export_rows(session, channel_pk=ch.id)
        )
        written = write_channel_export(
            out_dir=out, channel_key=ch.key, title=ch.title, records=records, topics=topics
        )
    if run_id is not None:
        with session_scope(db) as session:
            repo.claim_stage(
                session,
                run_id=run_id,
                from_status="exporting",
                to_status="succeeded",
                finished_at=utcnow(),
                export_dir=str(Path(base).resolve()),
            )
    log.info("export_done", channel=channel, run_id=run_id, documents=written.documents, path=str(out))
    return written


def fail_run(*, database_url: str, run_id: str, error: str) -> None:
    """Mark a run failed (from any non-terminal state) with an error message."""
    with session_scope(database_url) as session:
        for status in ("ingesting", "processing", "topicizing", "exporting"):
            if repo.claim_stage(
                session,
                run_id=run_id,
                from_status=status,
                to_status="failed",
                error=repo.strip_nul(error)[:2000],
                finished_at=utcnow(),
            ):
                break


def stale_posts(*, settings: Settings, channel: str, processor: Processor) -> list[int]:
    """Return keys of the channel's posts that lack a current document (for ``tg-parser process``)."""
    with session_scope(settings.database_url) as session:
        ch = repo.get_channel(session, key=channel)
        return repo.stale_message_pks(
            session,
            channel_pk=ch.id,
            processor=processor.name,
            model=processor.model,
            prompt_version=processor.prompt_version,
        )


__all__ = [
    "ExportResult",
    "IngestReport",
    "RegisteredChannel",
    "TgParserError",
    "export_channel",
    "fail_run",
    "ingest_channel",
    "process_message",
    "record_failure",
    "register_export",
    "stale_posts",
    "start_run",
    "topicize_channel",
]
