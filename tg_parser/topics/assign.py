# Copyright 2026 the tg_parser contributors. MIT licence (see pyproject.toml).
"""The assignment pass of a sampled fit: every post of a channel placed on the fitted centres.

After :func:`tg_parser.topics.build.cluster_posts` has fitted the space and the
centres on a sample, every post is tokenised, projected and given its nearest
centre, a batch (``build.ASSIGN_BATCH`` posts) at a time, and its label stems are counted.
Most of that is Python (the tokeniser, the character n-gram hashing, the label
stems), so threads cannot share it out (the GIL): with ``processes > 1`` the
batches go to that many worker processes, forked after the fit so that they
share the fitted model's memory, while this process reads the next batches
from the database. Each worker returns a batch's topics, distances, stem
counts and surface-word counts; they are merged here in batch order, so the
result is the same as one process's, bit for bit (tested).

Where worker processes are not to be started (``processes=1``, no ``fork``
on the platform, a daemonic process such as a Celery prefork worker, which
may not have children, or a non-daemon thread besides the main one, as in
the API, whose runs execute in a thread; a fork would copy the locks of the
other threads mid-use), the pass runs in this
process, reading and tokenising one batch ahead in a thread. A daemon helper
thread (the CLI's spinner) does not prevent the fork: Python re-initialises
its own locks (GIL, imports, ``threading``) in the child, and the workers use
nothing of such threads (they neither log nor print). Both paths place the
same slices of :data:`WORKER_BATCH` posts, so their results are equal bit for
bit. A worker that dies (the out-of-memory killer) fails the pass: the posts
it had cannot be read again from the stream.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import structlog
from threadpoolctl import threadpool_limits

from tg_parser.read_ahead import read_ahead
from tg_parser.topics.cluster import BLAS_THREADS
from tg_parser.topics.label import TermCounts, label_stems
from tg_parser.topics.vectorize import Analyzer, Embedding, Tokens, tokenize

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from numpy.typing import NDArray

    from tg_parser.topics.boilerplate import Boilerplate
    from tg_parser.topics.provider_block import PostVectors, ProviderBlock

__all__ = ["Assigned", "Placement", "assign_posts", "nearest", "nearest_centres", "post_text"]

WORKER_BATCH = 1_000
"""Posts a worker process places at a time. A worker's memory is mostly the transient matrices of
its batch (word and character n-gram counts, about 20 MB per 1,000 posts), so small batches keep
the extra memory of each worker low; fewer, larger ones save nothing measurable."""
IN_FLIGHT_PER_PROCESS = 2
"""Worker batches handed to each worker process ahead (one being placed, one waiting)."""

_log = structlog.get_logger(__name__)

Row = tuple[int, str, "Sequence[str]"]


def post_text(text: str, keywords: Sequence[str]) -> str:
    """Return the text topics read for a post: its text, then its processing keywords, one per line."""
    return "\n".join([text, *keywords]) if keywords else text


def nearest_centres(
    vectors: NDArray[np.float32], centres: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Return each vector's nearest centre (Euclidean) and its distance to it.

    ``|v - c|² = |v|² - 2 v·c + |c|²``, one matrix product for every pair (the
    formula scikit-learn's ``KMeans.predict`` uses); ties go to the lower index.

    Args:
        vectors: ``(n, d)`` float32 rows.
        centres: ``(k, d)`` float32 centres, ``k ≥ 1``.

    Returns:
        ``(best, distances)``: ``(n,)`` int64 indices into ``centres`` and ``(n,)`` float32 distances.
    """
    squared = (
        (vectors * vectors).sum(axis=1)[:, None]
        - 2.0 * (vectors @ centres.T)
        + (centres * centres).sum(axis=1)
    )
    best = np.asarray(np.argmin(squared, axis=1), dtype=np.int64)
    return best, nearest(vectors, centres[best])


def nearest(vectors: NDArray[np.float32], centres: NDArray[np.float32]) -> NDArray[np.float32]:
    """Return the row-wise Euclidean distance between two ``(n, d)`` arrays, float32."""
    return np.asarray(np.linalg.norm(vectors - centres, axis=1), dtype=np.float32)


@dataclass(frozen=True)
class Placement:
    """What placing posts needs: the fitted space and centres, the boilerplate lines, the provider block.

    Attributes:
        model: The fitted offline space, or ``None`` when the fit had none.
        centroids: ``(k, d)`` float32 topic centres.
        boilerplate: The channel's boilerplate lines (left out of the label stems).
        block: The provider block, or ``None`` for the offline space alone.
        clustered: ``False`` when the fit found one topic and no space: every post is topic 0.
    """

    model: Embedding | None
    centroids: NDArray[np.float32]
    boilerplate: Boilerplate
    block: ProviderBlock | None
    clustered: bool

    def place(
        self, tokens: Tokens, raw: NDArray[np.float32] | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Return the topic of each post and its distance to the topic's centre.

        Args:
            tokens: The posts' tokens.
            raw: The posts' provider vectors (rows in post order), or ``None`` without the block.

        Returns:
            ``(labels, distances)``, ``(n,)`` int64 and ``(n,)`` float32 (zeros when not clustered).
        """
        size = len(tokens.stems)
        if not self.clustered:
            return np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.float32)
        if self.model is None:
            vectors = np.zeros((size, 0), dtype=np.float32)
        else:
            vectors = self.model.transform(tokens)
        if self.block is not None and raw is not None:
            vectors = self.block.combine(vectors, raw)
        return nearest_centres(vectors, self.centroids)


@dataclass(frozen=True)
class Assigned:
    """The result of the assignment pass.

    Attributes:
        labels: ``(n,)`` int64 topic of each post of ``ids``.
        distances: ``(n,)`` float32 distance of each post to its topic's centre.
        read: ``(n,)`` whether the post was read (a post deleted between the listing of the ids and
            the read was not; its label and distance are 0).
        counts: Per-topic stem counts of every post read (for the keywords).
        analyzer: An analyzer that knows every post's surface words (for the keywords' display).
    """

    labels: NDArray[np.int64]
    distances: NDArray[np.float32]
    read: NDArray[np.bool_]
    counts: TermCounts
    analyzer: Analyzer


@dataclass(frozen=True)
class _Part:
    """One slice of posts placed (by a worker process or in this one)."""

    ids: NDArray[np.int64]
    labels: NDArray[np.int64]
    distances: NDArray[np.float32]
    counts: TermCounts
    words: Counter[str]


_Slice = tuple["NDArray[np.int64]", list[tuple[str, "Sequence[str]"]], "NDArray[np.float32] | None"]


def _prepare(
    batch: Sequence[tuple[str, Sequence[str]]], *, analyzer: Analyzer, boilerplate: Boilerplate
) -> tuple[Tokens, list[list[str]], Counter[str]]:
    """Tokenise a batch of ``(text, keywords)`` and find its label stems."""
    tokens = tokenize([post_text(t, kw) for t, kw in batch], analyzer=analyzer)
    stems, in_boilerplate = label_stems(batch, tokens.stems, boilerplate=boilerplate, analyzer=analyzer)
    return tokens, stems, in_boilerplate


@dataclass(frozen=True)
class _Prepared:
    """One slice tokenised: what placing it still needs."""

    ids: NDArray[np.int64]
    tokens: Tokens
    stems: list[list[str]]
    in_boilerplate: Counter[str]
    words: Counter[str]
    raw: NDArray[np.float32] | None


def _prepare_slice(piece: _Slice, *, analyzer: Analyzer, boilerplate: Boilerplate) -> _Prepared:
    """Tokenise one slice and find its label stems (the part that needs no fit)."""
    ids, batch, raw = piece
    tokens, stems, in_boilerplate = _prepare(batch, analyzer=analyzer, boilerplate=boilerplate)
    return _Prepared(ids, tokens, stems, in_boilerplate, analyzer.take_word_counts(), raw)


def _place_prepared(placement: Placement, prepared: _Prepared) -> _Part:
    """Place a tokenised slice and count its stems in its topics."""
    labels, distances = placement.place(prepared.tokens, prepared.raw)
    counts = TermCounts()
    counts.add(prepared.stems, labels, boilerplate=prepared.in_boilerplate)
    return _Part(prepared.ids, labels, distances, counts, prepared.words)


class _Merger:
    """Puts placed slices where their posts are in ``ids`` and adds up their counts."""

    def __init__(self, ids: NDArray[np.int64]) -> None:
        self.ids = ids
        self.labels = np.zeros(len(ids), dtype=np.int64)
        self.distances = np.zeros(len(ids), dtype=np.float32)
        self.read = np.zeros(len(ids), dtype=np.bool_)
        self.counts = TermCounts()
        self.analyzer = Analyzer()

    def add(self, part: _Part) -> None:
        # By id, not by position: a post added after the ids were listed is counted for the keywords
        # but placed by the next topicize; one deleted in between is left unread.
        where = np.minimum(np.searchsorted(self.ids, part.ids), max(len(self.ids) - 1, 0))
        known = self.ids[where] == part.ids if len(self.ids) else np.zeros(len(part.ids), dtype=np.bool_)
        self.labels[where[known]] = part.labels[known]
        self.distances[where[known]] = part.distances[known]
        self.read[where[known]] = True
        self.counts.merge(part.counts)
        self.analyzer.add_word_counts(part.words)

    def result(self) -> Assigned:
        return Assigned(self.labels, self.distances, self.read, self.counts, self.analyzer)


def assign_posts(
    source_batches: Iterator[Sequence[Row]],
    *,
    ids: NDArray[np.int64],
    placement: Placement,
    extra: PostVectors | None,
    processes: int,
) -> Assigned:
    """Place every post of a channel on the fitted centres and count its label stems.

    Args:
        source_batches: The channel's posts, ``(message_id, text, keywords)``, in batches, in order.
        ids: ``(n,)`` the channel's message ids, ascending (the posts to place).
        placement: The fit.
        extra: The posts' stored provider vectors (read with each batch), or ``None``.
        processes: Worker processes to use; 1 places in this process (so do the cases in the module
            docstring).

    Returns:
        The topic and distance of each post of ``ids``, and the stem counts.

    Raises:
        RuntimeError: A worker process died.
        Exception: Whatever reading the posts raised (a database error), or a worker raised.
    """
    with_block = placement.block is not None and extra is not None

    def slices() -> Iterator[_Slice]:
        for batch in source_batches:
            batch_ids = np.fromiter((m for m, _t, _kw in batch), dtype=np.int64, count=len(batch))
            raw = extra.vectors(batch_ids.tolist()) if with_block and extra is not None else None
            for start in range(0, len(batch), WORKER_BATCH):
                stop = start + WORKER_BATCH
                texts = [(t, kw) for _m, t, kw in batch[start:stop]]
                yield batch_ids[start:stop], texts, raw[start:stop] if raw is not None else None

    reason = _why_in_process(processes)
    if reason is None:
        return _in_workers(slices(), ids=ids, placement=placement, processes=processes)
    if processes > 1:
        threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        _log.info("topic_assign_in_process", reason=reason, threads=threads)
    return _in_process(slices(), ids=ids, placement=placement)


def _why_in_process(processes: int) -> str | None:
    """Return why the pass may not start worker processes here, or ``None`` when it may."""
    if processes <= 1:
        return "one process asked for"
    if "fork" not in multiprocessing.get_all_start_methods():
        return "no fork on this platform"
    if multiprocessing.current_process().daemon:
        return "daemonic process (may not start children)"
    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()):
        return "other (non-daemon) threads are running: a fork would copy their locks mid-use"
    return None


def _in_process(batches: Iterator[_Slice], *, ids: NDArray[np.int64], placement: Placement) -> Assigned:
    """Assign in this process: the next slices are read and tokenised in a thread meanwhile."""
    merger = _Merger(ids)
    analyzer = Analyzer()
    # The read-ahead thread is the only user of the source (and its database session) and of
    # the analyzer until the loop below has taken every slice.
    prepared = (
        _prepare_slice(piece, analyzer=analyzer, boilerplate=placement.boilerplate) for piece in batches
    )
    for piece in read_ahead(prepared):
        merger.add(_place_prepared(placement, piece))
    return merger.result()


# --- worker processes ---------------------------------------------------------------------------------

_worker_placement: Placement | None = None
_worker_analyzer: Analyzer | None = None


def _init_worker(placement: Placement) -> None:
    """Keep the fit (inherited through ``fork``, not copied) and start an analyzer for the worker.

    Ctrl-C is the parent's to handle (it stops the pool), and a worker whose
    parent is gone (killed) exits instead of waiting for tasks for ever.
    """
    global _worker_placement, _worker_analyzer  # noqa: PLW0603 - one per worker process, set at its start
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_placement = placement
    _worker_analyzer = Analyzer()
    parent = multiprocessing.parent_process()
    if parent is not None:
        sentinel = parent.sentinel
        threading.Thread(target=_exit_with_parent, args=(sentinel,), daemon=True, name="parent-watch").start()


def _exit_with_parent(sentinel: int) -> None:
    """Wait for the parent process to end; then end this worker at once."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _place_in_worker(piece: _Slice) -> _Part:
    """Place one slice in a worker process (see :func:`_init_worker`)."""
    placement, analyzer = _worker_placement, _worker_analyzer
    if placement is None or analyzer is None:  # pragma: no cover - the initializer always runs first
        msg = "topic worker started without its fit"
        raise RuntimeError(msg)
    with threadpool_limits(limits=BLAS_THREADS):
        return _place_prepared(
            placement, _prepare_slice(piece, analyzer=analyzer, boilerplate=placement.boilerplate)
        )


def _in_workers(
    batches: Iterator[_Slice], *, ids: NDArray[np.int64], placement: Placement, processes: int
) -> Assigned:
    """Assign in ``processes`` forked workers; this process reads, hands out and merges in order."""
    merger = _Merger(ids)
    pending: deque[Future[_Part]] = deque()
    context = multiprocessing.get_context("fork")
    # Objects alive now (the fit) go to the collector's permanent generation: a worker's collections
    # would otherwise write to every one of them and copy the pages the workers share with this process.
    gc.collect()
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(
            max_workers=processes, mp_context=context, initializer=_init_worker, initargs=(placement,)
        )
        try:
            for piece in batches:
                pending.append(pool.submit(_place_in_worker, piece))
                while len(pending) >= processes * IN_FLIGHT_PER_PROCESS:
                    merger.add(pending.popleft().result())
            while pending:
                merger.add(pending.popleft().result())
        except BrokenProcessPool as exc:
            msg = f"a topic worker process died ({exc}); the assignment pass stopped"
            raise RuntimeError(msg) from exc
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        gc.unfreeze()
    _log.debug("topic_assign_in_workers", processes=processes, posts=int(merger.read.sum()), pid=os.getpid())
    return merger.result()
