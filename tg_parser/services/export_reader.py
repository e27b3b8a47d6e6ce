"""Read an export chat in a child process, encoded for PostgreSQL's ``COPY``, one batch ahead.

An import into PostgreSQL is CPU work in Python on one side (parse the JSON,
build each post, encode its row) and ``COPY`` on the other. In one process the
GIL serialises the Python part however many threads share it, so this module
moves it to a child process: the child streams the export
(:func:`~tg_parser.services.sources.export_batches`), encodes each batch with
:func:`~tg_parser.storage.messages.encode_posts` and sends it through a
bounded queue; the parent only writes the records. On a 2-core machine the
child keeps one core busy while the parent and PostgreSQL share the other.

Memory stays bounded: at most ``depth`` encoded batches wait in the queue, one
is being built in the child and one written by the parent, whatever the size
of the file. Errors keep their place in the stream: malformed messages travel
inside their batch, and an error that ends the read (a truncated file) is
re-raised in the parent after every batch before it.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import resource
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import structlog

from tg_parser.domain.post_fields import PostFields
from tg_parser.errors import InputError
from tg_parser.services import reader_process
from tg_parser.services.sources import ExportSourceRef, SourceBatch, iter_export_post_fields, prefetched
from tg_parser.storage.messages import encode_posts

log = structlog.get_logger(__name__)

POLL_S = 1.0
"""How often the parent checks, while it waits for a batch, that the child is still alive."""


@dataclass(frozen=True)
class _End:
    """The child's last word: how it ended, its peak RSS (KiB, ``ru_maxrss`` on Linux) and CPU seconds."""

    error: BaseException | None
    peak_rss_kib: int
    cpu_s: float


def encoded_export_batches(
    ref: ExportSourceRef, *, channel_pk: int, batch_size: int, depth: int = 2
) -> Iterator[SourceBatch]:
    """Yield an export chat's posts in batches, read and encoded in a child process.

    Each batch is a :class:`~tg_parser.services.sources.SourceBatch` whose
    posts are in :attr:`~tg_parser.services.sources.SourceBatch.encoded`
    (``messages`` stays empty), in file order, with the same errors and
    cursor :func:`~tg_parser.services.sources.export_batches` gives. When the
    consumer stops early (an exception, ``close()``), the child is stopped.
    In a daemonic process (a Celery prefork worker), which may not start
    children, the same batches are read on a thread instead.

    Args:
        ref: The export and the chat in it.
        channel_pk: Primary key of the channel the posts are stored under.
        batch_size: Posts per batch.
        depth: Encoded batches the child may hold ready (memory: this many batches more).

    Yields:
        The batches, in file order.

    Raises:
        InputError: The file cannot be read at all, or (after the batches
            before it) breaks off.
        RuntimeError: The child process died without a word (killed, out of memory).
    """
    if multiprocessing.current_process().daemon:
        # A daemonic process (a Celery prefork worker) may not start children:
        # read on a thread instead, same batches, without the second core.
        yield from prefetched(_encoded(ref, channel_pk=channel_pk, batch_size=batch_size), depth=depth)
        return
    child, jobs, ready = reader_process.take(depth) or reader_process.start(depth)
    jobs.put({"ref": ref, "channel_pk": channel_pk, "batch_size": batch_size})
    try:
        while True:
            item = _next(ready, child)
            if isinstance(item, _End):
                own = resource.getrusage(resource.RUSAGE_SELF)
                log.info(
                    "export_read",
                    reader_peak_rss_mb=round(item.peak_rss_kib / 1024),
                    reader_cpu_s=round(item.cpu_s, 2),
                    parent_peak_rss_mb=round(own.ru_maxrss / 1024),
                    parent_cpu_s=round(own.ru_utime + own.ru_stime, 2),
                )
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        for q in (jobs, ready):
            q.close()
            q.cancel_join_thread()


def _next(ready: Any, child: Any) -> SourceBatch | _End:
    """Wait for the child's next item; raise when it died without sending one."""
    while True:
        try:
            item: SourceBatch | _End = ready.get(timeout=POLL_S)
        except queue.Empty:
            if child.is_alive():
                continue
            try:  # what it sent just before it ended may have arrived meanwhile
                item = ready.get(timeout=POLL_S)
            except queue.Empty:
                msg = f"the export reader process died (exit code {child.exitcode})"
                raise RuntimeError(msg) from None
        return item


def _encoded(ref: ExportSourceRef, *, channel_pk: int, batch_size: int) -> Iterator[SourceBatch]:
    """Read the export's batches and encode each one's posts for ``COPY``.

    The batches of :func:`~tg_parser.services.sources.export_batches` (same
    posts, errors, cursor and end), with each post read as plain
    :class:`~tg_parser.domain.post_fields.PostFields` rather than a
    ``Message`` model: the encoder needs only the values.
    """
    posts: list[PostFields] = []
    errors: list[InputError] = []
    cursor: int | None = None
    read_any = False
    try:
        for item in iter_export_post_fields(ref):
            read_any = True
            if isinstance(item, InputError):
                errors.append(item)
                continue
            posts.append(item)
            cursor = item.message_id if cursor is None else max(cursor, item.message_id)
            if len(posts) >= batch_size:
                yield _batch(posts, errors=errors, cursor=cursor, channel_pk=channel_pk)
                posts, errors, cursor = [], [], None
    except InputError as exc:
        if not read_any:
            raise
        errors.append(exc)
    yield _batch(posts, errors=errors, cursor=cursor, channel_pk=channel_pk)


def _batch(
    posts: list[PostFields], *, errors: list[InputError], cursor: int | None, channel_pk: int
) -> SourceBatch:
    return SourceBatch(
        messages=[],
        errors=errors,
        cursor=cursor,
        encoded=encode_posts(channel_pk=channel_pk, messages=posts),
        posts_read=len(posts),
    )


def produce(*, ref: ExportSourceRef, channel_pk: int, batch_size: int, ready: Any) -> None:
    """Child process (:mod:`~tg_parser.services.reader_process`): send every batch, then an :class:`_End`."""
    error: BaseException | None = None
    try:
        for batch in _encoded(ref, channel_pk=channel_pk, batch_size=batch_size):
            ready.put(batch)
    except Exception as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
        error = _picklable(exc)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ready.put(_End(error=error, peak_rss_kib=usage.ru_maxrss, cpu_s=usage.ru_utime + usage.ru_stime))


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any failure to pickle: send the text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
