"""``/api/v1/channels/{key}/runs`` and ``/api/v1/runs``: start a run, follow it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from tg_parser.api.deps import AppRunStarter, AppSettings
from tg_parser.api.problems import problem_responses
from tg_parser.api.schemas import Run, RunStarted
from tg_parser.api.security import ReadKey, WriteKey
from tg_parser.domain.runs import RunStatus
from tg_parser.services import runs as run_service

router = APIRouter(prefix="/api/v1", tags=["runs"])

MAX_RUNS_LISTED = 1000


@router.post(
    "/channels/{key}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunStarted,
    summary="Start a run",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def start_run(
    key: Annotated[str, PathParam(min_length=1, max_length=128)],
    response: Response,
    starter: AppRunStarter,
    _key: WriteKey,
) -> RunStarted:
    """Start a run of the channel: in a background thread embedded, on a Celery worker on the cluster.

    The run is recorded before the answer, so ``GET`` on the ``Location`` finds it at once.
    """
    run_id = await run_in_threadpool(starter.start, key)
    response.headers["Location"] = f"/api/v1/runs/{run_id}"
    return RunStarted(run_id=run_id)


@router.get(
    "/runs/{run_id}",
    response_model=Run,
    summary="One run",
    responses=problem_responses(401, 404, 422, 429),
)
def get_run(
    run_id: Annotated[str, PathParam(min_length=1, max_length=64)], settings: AppSettings, _key: ReadKey
) -> Run:
    """Return the run's status, item counts, posts read, topics, error, timings and dead letters."""
    return Run.of(run_service.show_run(database_url=settings.database_url, run_id=run_id))


@router.get(
    "/runs",
    response_model=list[Run],
    summary="Recent runs",
    responses=problem_responses(401, 404, 422, 429),
)
def list_runs(
    settings: AppSettings,
    _key: ReadKey,
    channel: Annotated[str | None, Query(max_length=128, description="Only this channel's runs.")] = None,
    status_: Annotated[
        RunStatus | None, Query(alias="status", description="Only runs in this state.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS_LISTED)] = 20,
) -> list[Run]:
    """List the most recent runs, newest first (404 for an unknown ``channel``)."""
    views = run_service.list_runs(
        database_url=settings.database_url, channel=channel, status=status_, limit=limit
    )
    return [Run.of(v) for v in views]
