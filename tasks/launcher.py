"""The cluster's launcher: sends runs and re-sent steps to Celery.

Registered as the ``celery`` entry point of ``tg_parser.launchers`` (see
``pyproject.toml``); :func:`tg_parser.services.launch.get_launcher` loads it
when ``CELERY_BROKER_URL`` is set, so the library never imports this package.
"""

from __future__ import annotations

from tasks.app import app
from tasks.dispatch import CORRELATION_HEADER, CeleryDispatcher
from tasks.health import CeleryClusterProbe
from tg_parser.config import Settings
from tg_parser.domain.runs import TaskName
from tg_parser.services.launch import IngestedCallback, ProgressCallback


class CeleryLauncher:
    """Queues work on the cluster; see :class:`tg_parser.services.launch.Launcher`.

    Args:
        settings: Settings (the broker URL).
    """

    mode = "cluster"

    def __init__(self, settings: Settings) -> None:
        """Keep the settings."""
        self._settings = settings

    def start_run(
        self,
        channel: str,
        *,
        export_dir: str | None = None,
        correlation_id: str | None = None,
        on_ingested: IngestedCallback | None = None,  # noqa: ARG002 - follow the run in the database instead
        on_progress: ProgressCallback | None = None,  # noqa: ARG002
    ) -> str:
        """Send ``tg_parser.run_pipeline``; the run id is that task's id (the run's root id)."""
        headers = {CORRELATION_HEADER: correlation_id} if correlation_id else {}
        result = app.send_task(
            TaskName.RUN_PIPELINE.value, args=[channel], kwargs={"export_dir": export_dir}, headers=headers
        )
        return str(result.id)

    def dispatcher(self) -> CeleryDispatcher:
        """Return the dispatcher that sends steps as Celery tasks."""
        return CeleryDispatcher()

    def flush(self) -> None:
        """Nothing to do: sent tasks are already queued."""

    def cluster_probe(self) -> CeleryClusterProbe:
        """Return the broker/worker probe for ``tg-parser health``."""
        return CeleryClusterProbe(broker_url=self._settings.celery_broker_url or "")
