"""Which worker processes warm up the processor: the ones that run tasks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.concurrency import get_implementation

from tasks.signals import _runs_tasks_in_children


@pytest.mark.parametrize(("pool", "in_children"), [("prefork", True), ("threads", False), ("solo", False)])
def test_only_a_prefork_worker_leaves_warm_up_to_its_children(pool: str, in_children: bool) -> None:  # noqa: FBT001
    """``worker_ready`` comes from the consumer: its controller's pool class decides."""
    worker = SimpleNamespace(pool_cls=get_implementation(pool))
    consumer = SimpleNamespace(controller=worker)
    assert _runs_tasks_in_children(consumer) is in_children
    assert _runs_tasks_in_children(worker) is in_children


def test_an_unknown_sender_warms_up() -> None:
    """Without a pool class to read, the process warms up (a wasted load, never a cold first post)."""
    assert _runs_tasks_in_children(None) is False
