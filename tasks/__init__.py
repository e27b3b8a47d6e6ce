"""The Celery layer of tg_parser: the only package (with beat_schedule.py) that imports celery.

``celery -A tasks worker`` finds :data:`app` here. The signal handlers are
imported with the package so they are connected before the worker sets up
logging.
"""

from tasks import signals as _signals  # noqa: F401 - connects the handlers
from tasks.app import app

__all__ = ["app"]
