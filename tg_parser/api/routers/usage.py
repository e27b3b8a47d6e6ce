"""``/api/v1/usage``: LLM calls, tokens and cost per channel, provider and model."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from tg_parser.api.deps import AppSettings
from tg_parser.api.problems import ApiProblem, ProblemError, problem_responses
from tg_parser.api.schemas import Usage
from tg_parser.api.security import ReadKey
from tg_parser.domain.periods import parse_since
from tg_parser.errors import InputError
from tg_parser.services.usage import usage_totals

router = APIRouter(prefix="/api/v1", tags=["usage"])


@router.get(
    "/usage", response_model=list[Usage], summary="LLM usage", responses=problem_responses(401, 422, 429)
)
def usage(
    settings: AppSettings,
    _key: ReadKey,
    channel: Annotated[str | None, Query(max_length=128, description="Only this channel key.")] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="ISO date/time, or a period back: 7d.")
    ] = None,
) -> list[Usage]:
    """Return the totals of ``tg-parser usage``."""
    try:
        start = parse_since(since) if since else None
    except InputError as exc:
        raise ApiProblem(422, str(exc), errors=[ProblemError(detail=str(exc), parameter="since")]) from exc
    rows = usage_totals(database_url=settings.database_url, channel=channel, since=start)
    return [Usage(**dataclasses.asdict(r)) for r in rows]
