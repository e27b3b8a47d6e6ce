"""Celery Beat schedule, built from settings.

Only ``tasks/`` and this module import celery. Channels carry their own
schedules in the database; Beat only ticks ``tg_parser.schedule_due_channels``
every minute, which starts the runs that are due.
"""

from __future__ import annotations

from typing import Any

from tg_parser.config import Settings

SCHEDULER_TICK_S = 60.0


def build_beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:  # noqa: ARG001 - kept for overrides
    """Return the ``beat_schedule`` mapping for the Celery app.

    A tick that could not run in time expires (``expires`` = one tick) instead
    of piling up behind a stopped worker.

    Args:
        settings: Settings (reserved for schedule overrides).

    Returns:
        Celery's ``beat_schedule`` dict.
    """
    return {
        "schedule-due-channels": {
            "task": "tg_parser.schedule_due_channels",
            "schedule": SCHEDULER_TICK_S,
            "options": {"expires": SCHEDULER_TICK_S},
        },
    }
