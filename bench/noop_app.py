"""A bare Celery app with a no-op task: the baseline of the throughput benchmark.

Same broker, same worker flags as tg_parser's workers, nothing else.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "bench_noop", broker=os.environ["CELERY_BROKER_URL"], backend=os.environ.get("CELERY_RESULT_BACKEND")
)
app.conf.update(
    task_acks_late=True, worker_prefetch_multiplier=1, task_serializer="json", accept_content=["json"]
)


@app.task(name="bench.noop")
def noop(*_args: object) -> None:
    """Do nothing."""
