"""Outside ``/api/v1``: liveness, the detailed health checks, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from tg_parser.api.deps import AppSettings
from tg_parser.api.problems import PROBLEM_JSON, Problem, problem_response, problem_responses
from tg_parser.api.schemas import Health, HealthReportOut
from tg_parser.api.security import ReadKey

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="Liveness (no key needed)")
def health() -> Health:
    """Answer 200 while the server process serves requests; checks nothing else (see ``/status/detailed``)."""
    return Health(status="ok")


@router.get(
    "/status/detailed",
    response_model=HealthReportOut,
    summary="The checks of `tg-parser health`",
    responses=problem_responses(
        401,
        403,
        429,
        extra={503: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Unhealthy"}},
    ),
)
async def status_detailed(request: Request, settings: AppSettings, _key: ReadKey) -> JSONResponse:
    """Check the database (and, on the cluster, the broker, workers, queues and Beat); 503 when unhealthy.

    The 503 is a problem document whose ``report`` member holds the same report.
    """
    from tg_parser.services.health import deployment_report

    report = await run_in_threadpool(deployment_report, settings)
    body = report.to_dict()
    if report.healthy:
        return JSONResponse(body)
    names = ", ".join(c.component for c in report.problems)
    return problem_response(request, status=503, detail=f"unhealthy: {names}", extensions={"report": body})


@router.get(
    "/metrics",
    summary="Prometheus metrics of the pipeline",
    response_class=Response,
    responses=problem_responses(401, 403, 429, extra={200: {"content": {"text/plain": {}}}}),
)
def metrics(settings: AppSettings, _key: ReadKey) -> Response:
    """Return the pipeline's metrics in the Prometheus text format (read from the database on each scrape)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from tg_parser.services.metrics import build_registry

    return Response(
        generate_latest(build_registry(database_url=settings.database_url)), media_type=CONTENT_TYPE_LATEST
    )
