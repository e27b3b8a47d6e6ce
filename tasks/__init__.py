"""The Celery layer of tg_parser: the only package (with beat_schedule.py) that imports celery.

``celery -A tasks worker`` finds :data:`app` here.
"""

from tasks.app import app

__all__ = ["app"]
