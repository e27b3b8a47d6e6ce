"""``/api/v1/dead-letters``: list work that gave up, replay it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from tg_parser.api.deps import AppRunStarter, AppSettings
from tg_parser.api.problems import ApiProblem, ProblemError, problem_responses
from tg_parser.api.schemas import DeadLetterOut, Replayed, ReplayOut, ReplayRequest
from tg_parser.api.security import ReadKey, WriteKey
from tg_parser.services import dead_letters as dead_letter_service

router = APIRouter(prefix="/api/v1", tags=["dead letters"])


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterOut],
    summary="Dead letters",
    responses=problem_responses(401, 422, 429),
)
def list_dead_letters(
    settings: AppSettings,
    _key: ReadKey,
    include_resolved: Annotated[bool, Query(description="Also replayed/resolved ones.")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[DeadLetterOut]:
    """List dead letters, newest first (unresolved only unless ``include_resolved``)."""
    letters = dead_letter_service.list_dead_letters(
        database_url=settings.database_url, include_resolved=include_resolved, limit=limit
    )
    return [DeadLetterOut.of(d) for d in letters]


@router.post(
    "/dead-letters/replay",
    response_model=Replayed,
    summary="Replay dead letters",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def replay(body: ReplayRequest, starter: AppRunStarter, _key: WriteKey) -> Replayed:
    """Re-send the named dead letters (or ``all``): in the background embedded, to the cluster otherwise."""
    if not body.all and not body.ids:
        raise ApiProblem(
            422,
            "name dead-letter ids or set all",
            errors=[ProblemError(detail="ids or all", pointer="#/ids")],
        )
    done = await run_in_threadpool(starter.replay, None if body.all else list(body.ids or []))
    return Replayed(
        replayed=[ReplayOut(dead_letter_id=r.dead_letter_id, task=r.task_name, action=r.action) for r in done]
    )
