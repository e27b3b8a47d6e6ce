"""Celery signal handlers: logging, per-task log context, engines after fork.

* ``setup_logging``: our structlog configuration replaces Celery's, so every
  worker and Beat line is JSON when ``LOG_FORMAT=json``.
* ``task_prerun``/``task_postrun``: bind ``task_id``, ``task_name``, ``run_id``
  (the Celery root id), ``channel`` and ``message_id`` to the log context and
  write one summary line per task (outcome, duration, attempt).
* ``worker_init``: size the database connection pool for the worker's concurrency.
* ``worker_process_init``: drop database connections inherited over fork.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from celery import Task, signals

from tg_parser.config import get_settings
from tg_parser.domain.runs import TaskName
from tg_parser.errors import ConfigurationError
from tg_parser.logging import bind_context, clear_context, configure_logging, get_logger
from tg_parser.storage.session import dispose_engines, reserve_connections

log = get_logger("tasks")
_started: dict[str, float] = {}


@signals.celeryd_init.connect
def _early_logging(**_: Any) -> None:
    # Sent just before Celery's own start-up checks (e.g. its SecurityWarning
    # when run as root), so even those lines come out in our format.
    _setup_logging()


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(log_format=settings.effective_log_format, log_level=settings.log_level)


@signals.worker_init.connect
@signals.worker_ready.connect
def _size_connection_pool(sender: Any = None, **_: Any) -> None:
    """Keep a database connection per task slot: ``pool_size >= --concurrency`` (threads run at once).

    At ``worker_init`` (before any task) for a number; again at
    ``worker_ready`` (sent by the worker's consumer), once Celery has
    resolved ``--concurrency=auto``.
    """
    worker = getattr(sender, "controller", None) or sender
    concurrency = getattr(worker, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:
        reserve_connections(concurrency)


@signals.worker_init.connect
def _check_configuration(**_: Any) -> None:
    """Refuse to start a worker whose Redis visibility timeout is too short."""
    try:
        get_settings().check_visibility_timeout()
    except ConfigurationError as exc:
        log.critical("configuration_refused", error=str(exc))
        sys.stderr.write(f"tg_parser: refusing to start: {exc}\n")
        sys.stderr.flush()
        os._exit(78)  # EX_CONFIG (sysexits.h): configuration error


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    dispose_engines()
    _warm_up()


@signals.worker_process_shutdown.connect
def _process_shutdown(**_: Any) -> None:
    """Disconnect this process's Telegram clients cleanly (if it ever made any), named accounts' too."""
    from tg_parser.services.telegram_ingest import shutdown_accounts
    from tg_parser.sources.telethon_runtime import shutdown_runtime

    shutdown_runtime(timeout_s=5.0)
    shutdown_accounts()


@signals.worker_ready.connect
def _worker_ready(sender: Any = None, **_: Any) -> None:
    """Warm up this process when it runs the tasks itself (solo and thread pools).

    ``worker_ready`` is sent by the worker's consumer, whose controller holds
    the pool class. A prefork worker's tasks run in its children, warmed up at
    ``worker_process_init``: its main process loads no models.
    """
    if not _runs_tasks_in_children(sender):
        _warm_up()


def _runs_tasks_in_children(sender: Any) -> bool:
    """Whether the worker that sent a signal (a consumer or the worker itself) uses the prefork pool."""
    worker = getattr(sender, "controller", None) or sender
    pool_cls = getattr(worker, "pool_cls", None)
    return "prefork" in f"{getattr(pool_cls, '__module__', '')}.{pool_cls}".lower()


def _warm_up() -> None:
    """Load the processor's models before the first task (no provider call)."""
    try:
        from tg_parser.services.processors import warm_up

        warm_up(get_settings())
    except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs time; the task reports real errors
        log.warning("warm_up_failed", error=str(exc))


def _correlation_id(task: Task) -> str | None:
    """Return the correlation id header of the current message (a custom header, on the request)."""
    value = getattr(task.request, "tg_correlation_id", None)
    if value is None:
        headers = getattr(task.request, "headers", None) or {}
        value = headers.get("tg_correlation_id") if isinstance(headers, dict) else None
    return str(value) if value else None


def _context_from(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "task_id": task.request.id,
        "task_name": task.name,
        "run_id": task.request.root_id or task.request.id,
    }
    correlation = _correlation_id(task)
    if correlation:
        ctx["correlation_id"] = correlation
    if task.name == TaskName.PROCESS.value:
        pk = kwargs.get("message_pk", args[1] if len(args) > 1 else None)
        ctx["message_pk"] = pk
    elif args:
        ctx["channel"] = kwargs.get("channel", args[0])
    return ctx


@signals.task_prerun.connect
def _task_prerun(
    task_id: str,
    task: Task,
    args: tuple[Any, ...] | None = None,
    kwargs: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    clear_context()
    bind_context(**_context_from(task, tuple(args or ()), dict(kwargs or {})))
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_postrun(task_id: str, task: Task, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    log.info("task_done", outcome=state, duration_ms=duration_ms, attempt=task.request.retries + 1)
    clear_context()
