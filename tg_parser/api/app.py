"""The FastAPI application: :func:`create_app` wires routers, errors, keys and rate limits.

Every request passes one guard (an HTTP middleware): it identifies the key
(``Authorization: Bearer`` or ``X-API-Key``; only its id is ever logged),
counts the request against that key's rate limit (requests without a valid
key count against their client address) and adds the ``RateLimit`` headers;
over the limit it answers 429 itself. Routes then check the key's scope
(:mod:`tg_parser.api.security`). ``GET /health`` is exempt: a liveness probe
must never be refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from tg_parser.api.problems import install_problem_handlers, problem_response, problem_responses
from tg_parser.api.ratelimit import ApiRateLimits, rate_limit_headers
from tg_parser.api.security import presented_key
from tg_parser.config import Settings
from tg_parser.logging import redact
from tg_parser.services.api_keys import ApiKey, authenticate
from tg_parser.services.run_starter import RunStarter

log = structlog.get_logger(__name__)

UNLIMITED_PATHS = frozenset({"/health"})
"""Paths never rate limited (liveness)."""


def create_app(settings: Settings, *, run_starter: RunStarter | None = None) -> FastAPI:
    """Build the HTTP API.

    Args:
        settings: Settings (database, broker, ``API_*``).
        run_starter: Where runs go (default: :class:`RunStarter` of the settings' launcher).

    Returns:
        The application (serve it with uvicorn: ``tg-parser api serve``).

    Raises:
        ConfigurationError: A broker is configured but no cluster launcher is installed.
    """
    from tg_parser import __version__
    from tg_parser.api.routers import api_keys, channels, dead_letters, documents, ops, runs, usage, webhooks

    starter = run_starter or RunStarter(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        starter.close(wait=False)

    app = FastAPI(
        title="tg-parser",
        version=__version__,
        description="Telegram channels → structured documents → topics, over HTTP. See docs/api.md.",
        lifespan=lifespan,
        # Every route may answer these (a body that is no JSON, no or a bad key, a bad field, the rate limit).
        responses=problem_responses(400, 401, 422, 429),
    )
    app.state.settings = settings
    app.state.run_starter = starter
    limits = ApiRateLimits(settings.redis_url)
    install_problem_handlers(app)
    for module in (ops, channels, runs, documents, dead_letters, usage, webhooks, api_keys):
        app.include_router(module.router)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if "\x00" in request.url.path or any("\x00" in v for v in request.query_params.values()):
            # PostgreSQL refuses NUL in text; no key, channel or run id holds one.
            return problem_response(
                request, status=422, detail="NUL characters are not allowed in the path or query"
            )
        key = presented_key(request.headers)
        record: ApiKey | None = None
        if key is not None and request.url.path not in UNLIMITED_PATHS:
            try:
                record = await run_in_threadpool(authenticate, database_url=settings.database_url, key=key)
            except Exception as exc:  # noqa: BLE001 - no key check without the database: 503, never a bare 500
                log.warning("api_key_check_failed", error_type=type(exc).__name__, error=redact(str(exc)))
                return problem_response(
                    request, status=503, detail="cannot check the API key: the database is unavailable"
                )
        request.state.api_key = record
        request.state.key_presented = key is not None
        if request.url.path in UNLIMITED_PATHS:
            return await call_next(request)
        if record is not None:
            identity = record.key_id
            per_min = record.rate_limit_per_min
            per_min = settings.api_rate_limit_per_min if per_min is None else per_min
        else:
            identity = f"anon:{request.client.host if request.client else 'unknown'}"
            per_min = settings.api_rate_limit_per_min
        decision = await run_in_threadpool(limits.check, identity, per_min=per_min)
        headers = rate_limit_headers(decision, per_min=per_min) if decision is not None else {}
        if decision is not None and not decision.allowed:
            log.info("api_rate_limited", key_id=record.key_id if record else None, path=request.url.path)
            return problem_response(
                request,
                status=429,
                detail=f"over {per_min} requests per minute; retry after {headers['Retry-After']} s",
                headers=headers,
            )
        response = await call_next(request)
        response.headers.update(headers)
        return response

    return app
