"""Health from the Celery side: the cluster probe and the ``tg_parser.health`` task.

* :class:`CeleryClusterProbe` implements
  :class:`tg_parser.services.health.ClusterProbe` with a broker connection and
  ``celery inspect ping`` / ``active_queues`` (short timeouts), for
  ``tg-parser health``.
* ``tg_parser.health`` answers from inside the cluster: the report a worker
  computes (its database, its node name). It needs a result backend to be
  read back (``celery -A tasks call tg_parser.health`` with
  ``CELERY_RESULT_BACKEND`` set).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from tasks.app import app
from tg_parser.config import get_settings
from tg_parser.domain.runs import TaskName
from tg_parser.services.health import INSPECT_TIMEOUT_S, worker_report

if TYPE_CHECKING:
    from celery import Task

BROKER_CONNECT_TIMEOUT_S = 3.0


class CeleryClusterProbe:
    """Reach the cluster through ``broker_url`` (not the app's configured one).

    Args:
        broker_url: ``CELERY_BROKER_URL`` of the cluster to check.
        timeout_s: How long ``ping`` and ``active_queues`` wait for replies.
    """

    def __init__(self, *, broker_url: str, timeout_s: float = INSPECT_TIMEOUT_S) -> None:  # noqa: D107
        self._broker_url = broker_url
        self._timeout_s = timeout_s

    def _connection(self) -> Any:
        # Load the configuration before app.amqp exists: tasks/app.py updates the
        # conf from on_configure, which recurses when amqp is already built.
        _ = app.conf.task_default_queue
        return app.connection_for_write(
            self._broker_url,
            connect_timeout=BROKER_CONNECT_TIMEOUT_S,
            transport_options={
                "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_S,
                "socket_timeout": BROKER_CONNECT_TIMEOUT_S,
            },
        )

    def check_broker(self) -> None:
        """Connect to the broker once (no retries).

        Raises:
            Exception: kombu's or the transport's error when it cannot connect.
        """
        with self._connection() as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_CONNECT_TIMEOUT_S
            )

    def active_queues(self) -> dict[str, list[str]]:
        """Ping the workers, then ask each which queues it consumes.

        A worker that answered ping but not ``active_queues`` is asked once
        more, on its own.

        Returns:
            ``{worker node name: [queue names]}``; a worker that never said
            which queues it consumes maps to an empty list.
        """
        with self._connection() as conn:
            pongs = app.control.inspect(timeout=self._timeout_s, connection=conn).ping() or {}
            if not pongs:
                return {}
            queues = app.control.inspect(timeout=self._timeout_s, connection=conn).active_queues() or {}
            silent = [name for name in pongs if name not in queues]
            if silent:
                again = app.control.inspect(destination=silent, timeout=self._timeout_s, connection=conn)
                queues.update(again.active_queues() or {})
        return {name: _queue_names(queues.get(name)) for name in pongs}


def _queue_names(reply: Any) -> list[str]:
    return sorted(q["name"] for q in reply or [] if isinstance(q, dict) and "name" in q)


@app.task(name=TaskName.HEALTH.value, bind=True)
def health(self: Task) -> dict[str, Any]:
    """Return the health report computed in this worker (database, node name)."""
    hostname = self.request.hostname or socket.gethostname()
    return worker_report(get_settings(), hostname=str(hostname)).to_dict()
