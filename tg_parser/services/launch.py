"""Where runs are sent: in this process (embedded) or to the Celery cluster, behind one protocol.

The CLI (and the HTTP API) ask :func:`get_launcher` for a :class:`Launcher`
and never import Celery: :class:`EmbeddedLauncher` is here; the cluster's,
``tasks.launcher.CeleryLauncher``, is found through the ``tg_parser.launchers``
entry point that ``pyproject.toml`` declares, so ``tg_parser`` has no import
of ``tasks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from tg_parser.config import Settings
from tg_parser.errors import ConfigurationError
from tg_parser.services.dispatch import Dispatcher

if TYPE_CHECKING:
    from tg_parser.services.health import ClusterProbe

LAUNCHER_GROUP = "tg_parser.launchers"
"""Entry-point group of launchers; ``celery`` names the cluster's."""

IngestedCallback = Callable[[str, int], None]
"""Called as ``(run_id, posts_to_process)`` after ingest (embedded only)."""
ProgressCallback = Callable[[str, int, int], None]
"""Called as ``(run_id, items_finished, items_total)`` after each post (embedded only)."""


class Launcher(Protocol):
    """Starts runs and re-sends steps somewhere.

    Attributes:
        mode: ``embedded`` (work runs in the caller's process, to the end) or
            ``cluster`` (work is queued; follow it in the database).
    """

    mode: str

    def start_run(
        self,
        channel: str,
        *,
        export_dir: str | None = None,
        correlation_id: str | None = None,
        on_ingested: IngestedCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Start a run of ``channel`` and return its id.

        Embedded, the run is executed before this returns; on the cluster it is queued.

        Raises:
            NotFoundError: Unknown channel (embedded; the cluster records it as a failed task).
            Exception: Embedded, the last error of a channel step that gave up
                (the run is ``failed`` with a dead letter).
        """
        ...

    def dispatcher(self) -> Dispatcher:
        """Return a dispatcher for re-sent steps (dead-letter replay)."""
        ...

    def flush(self) -> None:
        """Execute what the dispatcher queued (embedded); nothing on the cluster."""
        ...

    def cluster_probe(self) -> ClusterProbe | None:
        """Return the probe ``tg-parser health`` uses, or ``None`` embedded."""
        ...


class EmbeddedLauncher:
    """Runs everything in this process (no broker): :func:`~tg_parser.services.embedded.run_channel_embedded`.

    Args:
        settings: Settings.
        sleep: Sleep for retry delays (tests pass a fake).
    """

    mode = "embedded"

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        """Keep the settings; the replay dispatcher is built on first use."""
        self._settings = settings
        self._sleep = sleep
        self._dispatcher: Dispatcher | None = None

    def start_run(
        self,
        channel: str,
        *,
        export_dir: str | None = None,
        correlation_id: str | None = None,  # noqa: ARG002 - embedded logs carry it from the caller's context
        on_ingested: IngestedCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Run ``channel`` to its end here; see :meth:`Launcher.start_run`."""
        from tg_parser.services.embedded import run_channel_embedded

        return run_channel_embedded(
            settings=self._settings,
            channel=channel,
            export_dir=export_dir,
            on_ingested=on_ingested,
            on_progress=on_progress,
            sleep=self._sleep,
        ).run_id

    def dispatcher(self) -> Dispatcher:
        """Return the in-process dispatcher (run by :meth:`flush`)."""
        if self._dispatcher is None:
            from tg_parser.services.embedded import inline_dispatcher

            self._dispatcher = inline_dispatcher(settings=self._settings, sleep=self._sleep)
        return self._dispatcher

    def flush(self) -> None:
        """Execute the queued steps."""
        drain = getattr(self._dispatcher, "drain", None)
        if drain is not None:
            drain()

    def cluster_probe(self) -> None:
        """There is no cluster embedded."""
        return


def get_launcher(settings: Settings) -> Launcher:
    """Return the launcher the settings call for: embedded without ``CELERY_BROKER_URL``, else the cluster's.

    Raises:
        ConfigurationError: A broker is configured but no ``celery`` launcher is installed.
    """
    if settings.embedded:
        return EmbeddedLauncher(settings)
    found = [ep for ep in entry_points(group=LAUNCHER_GROUP) if ep.name == "celery"]
    if not found:
        msg = (
            "CELERY_BROKER_URL is set but no cluster launcher is installed "
            f"(entry point {LAUNCHER_GROUP}:celery); reinstall tg-parser"
        )
        raise ConfigurationError(msg)
    factory = found[0].load()
    launcher: Launcher = factory(settings)
    return launcher
