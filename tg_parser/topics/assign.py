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

Where a worker process cannot be started (no ``fork`` on the platform, or a
daemonic process such as a Celery prefork worker, which may not have
children) or a worker dies, the pass runs in this process instead, reading
and tokenising one batch ahead in a thread.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
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

__all__ = ["Assigned", "Placement", "assign_posts", "nearest_centres", "post_text"]

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
    return best, np.asarray(np.linalg.norm(vectors - centres[best], axis=1), dtype=np.float32)


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
        labels: ``(n,)`` int64 topic of each post, in the source's order.
        distances: ``(n,)`` float32 distance of each post to its topic's centre.
        counts: Per-topic stem counts of every post (for the keywords).
        analyzer: An analyzer that knows every post's surface words (for the keywords' display).
    """

    labels: NDArray[np.int64]
    distances: NDArray[np.float32]
    counts: TermCounts
    analyzer: Analyzer


@dataclass(frozen=True)
class _Part:
    """One batch placed by a worker process."""

    labels: NDArray[np.int64]
    distances: NDArray[np.float32]
    counts: TermCounts
    words: Counter[str]


def _prepare(
    batch: Sequence[tuple[str, Sequence[str]]], *, analyzer: Analyzer, boilerplate: Boilerplate
) -> tuple[Tokens, list[list[str]], Counter[str]]:
    """Tokenise a batch of ``(text, keywords)`` and find its label stems."""
    tokens = tokenize([post_text(t, kw) for t, kw in batch], analyzer=analyzer)
    stems, in_boilerplate = label_stems(batch, tokens.stems, boilerplate=boilerplate, analyzer=analyzer)
    return tokens, stems, in_boilerplate


def assign_posts(
    source_batches: Iterator[Sequence[Row]],
    *,
    n_posts: int,
    placement: Placement,
    extra: PostVectors | None,
    processes: int,
) -> Assigned:
    """Place every post of a channel on the fitted centres and count its label stems.

    Args:
        source_batches: The channel's posts, ``(message_id, text, keywords)``, in batches, in order.
        n_posts: How many posts the batches hold in all.
        placement: The fit.
        extra: The posts' stored provider vectors (read with each batch), or ``None``.
        processes: Worker processes to use; 1 (or a process that may not fork) places in this process.

    Returns:
        Every post's topic and distance, in the batches' order, with the stem counts.

    Raises:
        RuntimeError: The batches held another number of posts than ``n_posts``.
    """
    with_block = placement.block is not None and extra is not None

    def rows() -> Iterator[tuple[list[tuple[str, Sequence[str]]], NDArray[np.float32] | None]]:
        for batch in source_batches:
            raw = extra.vectors([m for m, _t, _kw in batch]) if with_block and extra is not None else None
            yield [(t, kw) for _m, t, kw in batch], raw

    if processes > 1 and "fork" in multiprocessing.get_all_start_methods():
        if multiprocessing.current_process().daemon:
            _log.info("topic_assign_in_process", reason="daemonic process (may not start children)")
        else:
            return _in_workers(rows(), n_posts=n_posts, placement=placement, processes=processes)
    return _in_process(rows(), n_posts=n_posts, placement=placement)


def _in_process(
    batches: Iterator[tuple[list[tuple[str, Sequence[str]]], NDArray[np.float32] | None]],
    *,
    n_posts: int,
    placement: Placement,
) -> Assigned:
    """Assign in this process: the next batch is read and tokenised in a thread meanwhile."""
    analyzer = Analyzer()
    counts = TermCounts()
    labels = np.zeros(n_posts, dtype=np.int64)
    distances = np.zeros(n_posts, dtype=np.float32)
    done = 0

    def prepared() -> Iterator[tuple[Tokens, NDArray[np.float32] | None, list[list[str]], Counter[str]]]:
        # Runs in the read-ahead thread: the only user of the source (and its database
        # session) and of the analyzer until the loop below has taken every batch.
        for batch, raw in batches:
            tokens, stems, in_boilerplate = _prepare(
                batch, analyzer=analyzer, boilerplate=placement.boilerplate
            )
            yield tokens, raw, stems, in_boilerplate

    for tokens, raw, stems, in_boilerplate in read_ahead(prepared()):
        part, far = placement.place(tokens, raw)
        size = len(part)
        _check_size(done + size, n_posts)
        labels[done : done + size] = part
        distances[done : done + size] = far
        counts.add(stems, part, boilerplate=in_boilerplate)
        done += size
    _check_size(done, n_posts, exact=True)
    return Assigned(labels, distances, counts, analyzer)


def _check_size(done: int, n_posts: int, *, exact: bool = False) -> None:
    if done > n_posts or (exact and done != n_posts):
        msg = f"topic assignment read {done} posts, expected {n_posts} (posts changed during the read?)"
        raise RuntimeError(msg)


# --- worker processes ---------------------------------------------------------------------------------

_worker_placement: Placement | None = None
_worker_analyzer: Analyzer | None = None


def _init_worker(placement: Placement) -> None:
    """Keep the fit (inherited through ``fork``, not copied) and start an analyzer for the worker."""
    global _worker_placement, _worker_analyzer  # noqa: PLW0603 - one per worker process, set at its start
    _worker_placement = placement
    _worker_analyzer = Analyzer()


def _place_in_worker(batch: list[tuple[str, Sequence[str]]], raw: NDArray[np.float32] | None) -> _Part:
    """Place one batch in a worker process (see :func:`_init_worker`)."""
    placement, analyzer = _worker_placement, _worker_analyzer
    if placement is None or analyzer is None:  # pragma: no cover - the initializer always runs first
        msg = "topic worker started without its fit"
        raise RuntimeError(msg)
    with threadpool_limits(limits=BLAS_THREADS):
        tokens, stems, in_boilerplate = _prepare(batch, analyzer=analyzer, boilerplate=placement.boilerplate)
        labels, distances = placement.place(tokens, raw)
    counts = TermCounts()
    counts.add(stems, labels, boilerplate=in_boilerplate)
    return _Part(labels, distances, counts, analyzer.take_word_counts())


def _in_workers(
    batches: Iterator[tuple[list[tuple[str, Sequence[str]]], NDArray[np.float32] | None]],
    *,
    n_posts: int,
    placement: Placement,
    processes: int,
) -> Assigned:
    """Assign in ``processes`` forked workers; this process reads, hands out and merges in order."""
    analyzer = Analyzer()
    counts = TermCounts()
    labels = np.zeros(n_posts, dtype=np.int64)
    distances = np.zeros(n_posts, dtype=np.float32)
    done = 0
    pending: deque[Future[_Part]] = deque()

    def merge(part: _Part) -> None:
        nonlocal done
        size = len(part.labels)
        _check_size(done + size, n_posts)
        labels[done : done + size] = part.labels
        distances[done : done + size] = part.distances
        counts.merge(part.counts)
        analyzer.add_word_counts(part.words)
        done += size

    context = multiprocessing.get_context("fork")
    # Objects alive now (the fit) go to the collector's permanent generation: a worker's collections
    # would otherwise write to every one of them and copy the pages the workers share with this process.
    gc.freeze()
    pool = ProcessPoolExecutor(
        max_workers=processes, mp_context=context, initializer=_init_worker, initargs=(placement,)
    )
    try:
        for batch, raw in batches:
            for start in range(0, len(batch), WORKER_BATCH):
                part = raw[start : start + WORKER_BATCH] if raw is not None else None
                pending.append(pool.submit(_place_in_worker, batch[start : start + WORKER_BATCH], part))
                while len(pending) >= processes * IN_FLIGHT_PER_PROCESS:
                    merge(pending.popleft().result())
        while pending:
            merge(pending.popleft().result())
    except BrokenProcessPool as exc:
        msg = f"a topic worker process died ({exc}); the assignment pass stopped"
        raise RuntimeError(msg) from exc
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
    _check_size(done, n_posts, exact=True)
    _log.debug("topic_assign_in_workers", processes=processes, posts=done, pid=os.getpid())
    return Assigned(labels, distances, counts, analyzer)
