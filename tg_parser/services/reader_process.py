"""Start the export reader's child process, possibly ahead of the import that will use it.

Kept apart from :mod:`tg_parser.services.export_reader` so that starting the
child costs the parent no heavy import: the CLI calls :func:`prestart` before
it checks the schema and registers the channel, and the child meanwhile starts
Python and imports the reader (about a second that would otherwise come before
the first batch).
"""

from __future__ import annotations

import multiprocessing
import signal
from typing import Any

DEFAULT_DEPTH = 1
"""Encoded batches a pre-started child may hold ready: ``services.pipeline.INGEST_PREFETCH``."""

_warm: tuple[int, Any, Any, Any] | None = None
"""A child started ahead, waiting for its job: ``(depth, process, jobs, ready)``."""


def prestart(depth: int = DEFAULT_DEPTH) -> None:
    """Start the next import's reader process now, to be handed its job by :func:`take`.

    Does nothing in a daemonic process (a Celery prefork worker may not start
    children) or when a child is already waiting. One that is never used is
    stopped when this process exits (it is daemonic).

    Args:
        depth: Encoded batches the child may hold ready.
    """
    global _warm  # noqa: PLW0603 - one waiting child per process
    if _warm is None and not multiprocessing.current_process().daemon:
        _warm = (depth, *start(depth))


def take(depth: int) -> tuple[Any, Any, Any] | None:
    """Return the child :func:`prestart` started, ``(process, jobs, ready)``, if alive and of ``depth``."""
    global _warm
    warm, _warm = _warm, None
    if warm is None:
        return None
    warm_depth, child, jobs, ready = warm
    if warm_depth != depth or not child.is_alive():
        child.terminate()
        return None
    return child, jobs, ready


def start(depth: int) -> tuple[Any, Any, Any]:
    """Start a reader child that waits for one job; return ``(process, jobs, ready)``.

    The job (put on ``jobs``) is the keyword arguments of
    ``export_reader._produce`` but ``ready``; the child puts its batches and
    its last word on ``ready``, a queue of at most ``depth`` items.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a process holding database connections
    jobs: Any = context.Queue(maxsize=1)
    ready: Any = context.Queue(maxsize=max(1, depth))
    child = context.Process(
        target=_serve,
        kwargs={"jobs": jobs, "ready": ready},
        name="tg-parser-export-reader",
        daemon=True,
    )
    child.start()
    return child, jobs, ready


def _serve(*, jobs: Any, ready: Any) -> None:
    """Child process: import the reader, wait for one job, run it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops this child
    from tg_parser.services.export_reader import produce

    produce(**jobs.get(), ready=ready)
