"""Start runs without waiting for them: what a server (the HTTP API) needs from a launcher.

Embedded, a run executes in a background thread of this process; on the
cluster it goes to Celery through the launcher. Either way the run is recorded
(``ingesting``) before :meth:`RunStarter.start` returns, so a client that
polls its id at once finds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from tg_parser.config import Settings
from tg_parser.services import pipeline
from tg_parser.services.dead_letters import Replay, replay_dead_letters
from tg_parser.services.launch import Launcher, get_launcher
from tg_parser.storage import channels, session_scope

log = structlog.get_logger(__name__)

CLUSTER_RUN_MODE = "celery"
"""The ``mode`` a run sent to the cluster is recorded with (the worker records the same)."""


class RunStarter:
    """Starts runs and replays in the background, embedded or on the cluster.

    Embedded work runs one item at a time in a single background thread (one
    SQLite writer; runs of a channel never overlap), in the order submitted.

    Args:
        settings: Settings.
        launcher: Where runs go (default: :func:`~tg_parser.services.launch.get_launcher`).

    Raises:
        ConfigurationError: A broker is configured but no cluster launcher is installed.
    """

    def __init__(self, settings: Settings, *, launcher: Launcher | None = None) -> None:
        """Pick the launcher; the background thread starts with the first embedded run."""
        self._settings = settings
        self._launcher = launcher or get_launcher(settings)
        self._executor: ThreadPoolExecutor | None = None

    @property
    def mode(self) -> str:
        """``embedded`` or ``cluster``."""
        return self._launcher.mode

    def _submit(self, fn: Callable[..., object], /, **kwargs: object) -> Future[object]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tg-run")
        return self._executor.submit(fn, **kwargs)

    def start(self, channel: str, *, correlation_id: str | None = None) -> str:
        """Start a run of ``channel``; return its id once the run is recorded.

        Raises:
            NotFoundError: Unknown channel.
        """
        db = self._settings.database_url
        with session_scope(db) as session:
            channels.get_channel(session, key=channel)
        if self.mode == "embedded":
            from tg_parser.services.embedded import run_channel_embedded

            run_id = str(uuid.uuid4())
            pipeline.start_run(database_url=db, channel=channel, run_id=run_id, mode="embedded")
            future = self._submit(
                run_channel_embedded, settings=self._settings, channel=channel, run_id=run_id
            )
            future.add_done_callback(lambda f: _log_outcome(f, run_id=run_id, channel=channel))
            return run_id
        run_id = self._launcher.start_run(channel, correlation_id=correlation_id)
        # The worker records the same run (an existing id is left as it is); recording it
        # here too means the id answers at once, before a worker picks the task up.
        pipeline.start_run(database_url=db, channel=channel, run_id=run_id, mode=CLUSTER_RUN_MODE)
        return run_id

    def replay(self, ids: list[int] | None) -> list[Replay]:
        """Re-send dead letters (``None``: every unresolved one); embedded, the work runs in the background.

        Raises:
            NotFoundError: An id names no unresolved dead letter.
        """
        done = replay_dead_letters(
            settings=self._settings,
            ids=ids,
            dispatcher=self._launcher.dispatcher(),
            start_run=self.start,
        )
        if self.mode == "embedded":
            self._submit(self._launcher.flush)
        return done

    def close(self, *, wait: bool = False) -> None:
        """Stop taking embedded work; ``wait`` for what was started to finish."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait)


def _log_outcome(future: Future[object], *, run_id: str, channel: str) -> None:
    """Log an embedded run's end; a failed run has its dead letter and ``failed`` state already."""
    error = future.exception()
    if error is not None:
        log.warning("background_run_failed", run_id=run_id, channel=channel, error=str(error))
    else:
        log.info("background_run_finished", run_id=run_id, channel=channel)
