"""The Celery app, configured from :class:`tg_parser.config.Settings` on first use.

Nothing is read at import: the configuration is applied by the
``on_configure`` signal when Celery first needs it, so ``import tasks`` is
cheap and side-effect free.

Queues: ``ingest``, ``process``, ``topics``, ``export`` (one per task type) and
``celery`` (run starts, scheduling, maintenance). A worker started without
``-Q`` consumes all of them.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from beat_schedule import build_beat_schedule
from tg_parser.config import get_settings
from tg_parser.domain.runs import TaskName

QUEUES = ("celery", "ingest", "process", "topics", "export")

TASK_ROUTES = {
    name.value: {"queue": queue, "exchange": queue, "routing_key": queue}
    for name, queue in (
        (TaskName.INGEST, "ingest"),
        (TaskName.PROCESS, "process"),
        (TaskName.SUBMIT_LLM_BATCH, "process"),
        (TaskName.POLL_LLM_BATCH, "process"),
        (TaskName.TOPICIZE, "topics"),
        (TaskName.EXPORT, "export"),
    )
}

app = Celery("tg_parser", include=["tasks.pipeline", "tasks.llm_batches", "tasks.signals", "tasks.health"])


def celery_config() -> dict[str, Any]:
    """Return the Celery configuration derived from the settings.

    Choices (see docs/operations.md): late acks and ``reject_on_worker_lost``
    so a killed worker's message is redelivered; prefetch of 1 because posts
    are IO-bound LLM calls of very different lengths; the Redis visibility
    timeout from ``REDIS_VISIBILITY_TIMEOUT_S``; task events on for Flower.
    """
    settings = get_settings()
    broker = settings.celery_broker_url or "memory://"
    return {
        "broker_url": broker,
        "result_backend": settings.celery_result_backend,
        # One direct exchange per queue, so on RabbitMQ too a message reaches only its own queue.
        "task_queues": [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        "task_default_queue": "celery",
        "task_default_exchange": "celery",
        "task_default_routing_key": "celery",
        "task_routes": TASK_ROUTES,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_time_limit": settings.task_time_limit_s,
        "task_soft_time_limit": max(5, settings.task_time_limit_s - 10),
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": settings.celery_worker_send_task_events,
        # Task events leave on a 10 ms timer, after the loop's work between two tasks (tasks/consumer.py).
        "worker_consumer": "tasks.consumer:EventBatchingConsumer",
        "task_send_sent_event": settings.celery_task_send_sent_event,
        "task_track_started": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_expires": 86400,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": settings.redis_visibility_timeout_s},
        "result_backend_transport_options": {"visibility_timeout": settings.redis_visibility_timeout_s},
        "worker_hijack_root_logger": False,
        "beat_schedule": build_beat_schedule(settings),
        "timezone": "UTC",
        "enable_utc": True,
    }


# Defaults read lazily, on first access of the configuration (not at import).
app.add_defaults(celery_config)
