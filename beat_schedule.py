"""Celery Beat schedule, built from settings.

Only ``tasks/`` and this module import celery. Channels carry their own
schedules in the database; Beat only ticks ``tg_parser.schedule_due_channels``
every minute, which starts the runs that are due.
"""

from __future__ import annotations

from typing import Any

from tg_parser.config import Settings
from tg_parser.domain.runs import TaskName

SCHEDULER_TICK_S = 60.0


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Return the ``beat_schedule`` mapping for the Celery app.

    A tick that could not run in time expires (``expires`` = one tick) instead
    of piling up behind a stopped worker.

    Args:
        settings: Settings (``SWEEP_INTERVAL_S`` sets the stuck-run sweeper's period).

    Returns:
        Celery's ``beat_schedule`` dict.
    """
    return {
        "schedule-due-channels": {
            "task": TaskName.SCHEDULE.value,
            "schedule": SCHEDULER_TICK_S,
            "options": {"expires": SCHEDULER_TICK_S},
        },
        "sweep-stalled-runs": {
            "task": TaskName.SWEEP.value,
            "schedule": settings.sweep_interval_s,
            "options": {"expires": settings.sweep_interval_s},
        },
    }
