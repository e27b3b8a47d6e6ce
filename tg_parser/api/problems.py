"""Errors as ``application/problem+json`` (RFC 9457, https://www.rfc-editor.org/rfc/rfc9457).

Every 4xx and 5xx the API sends is a problem document: ``type``, ``title``,
``status``, ``detail``, and for bad input ``errors``, one entry per field or
parameter at fault, each with ``detail`` and either ``pointer`` (a JSON
Pointer into the body, RFC 9457 §3.1 uses the same name) or ``parameter``
(a query/path parameter or header name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tg_parser.errors import ConfigurationError, InputError, NotFoundError, RetryableError, TgParserError
from tg_parser.logging import redact

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemError(BaseModel):
    """One field or parameter at fault."""

    detail: str
    pointer: str | None = Field(None, description="JSON Pointer into the request body, e.g. '#/source'.")
    parameter: str | None = Field(None, description="Name of the query/path parameter or header at fault.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemError] | None = None


class ApiProblem(Exception):  # noqa: N818 - it is a problem document, raised
    """Raise to answer with a problem document.

    Args:
        status: HTTP status.
        detail: What went wrong, for the client.
        errors: The fields or parameters at fault.
        headers: Extra response headers (``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[ProblemError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the problem's parts."""
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


def problem_response(
    request: Request,
    *,
    status: int,
    detail: str | None,
    errors: Sequence[ProblemError] = (),
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Return a problem document response.

    Args:
        request: The request (its path is the ``instance``).
        status: HTTP status.
        detail: Human-readable explanation (secrets masked).
        errors: Fields or parameters at fault.
        headers: Extra headers.
        extensions: Extension members (RFC 9457 §3.2), added to the document.

    Returns:
        A ``application/problem+json`` response.
    """
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = Problem(
        title=title,
        status=status,
        detail=redact(detail) if detail else None,
        instance=request.url.path,
        errors=list(errors) or None,
    )
    content = body.model_dump(exclude_none=True) | dict(extensions or {})
    return JSONResponse(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_LOCATION_PARAMS = {"query", "path", "header", "cookie"}


def _validation_errors(exc: RequestValidationError) -> list[ProblemError]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        message = str(err.get("msg", "invalid"))
        if loc and loc[0] in _LOCATION_PARAMS:
            out.append(ProblemError(detail=message, parameter=".".join(loc[1:]) or loc[0]))
        else:
            path = loc[1:] if loc and loc[0] == "body" else loc
            out.append(ProblemError(detail=message, pointer="#/" + "/".join(path)))
    return out


def _describe(errors: Sequence[ProblemError]) -> str:
    parts = [f"{e.parameter or (e.pointer or '#/').removeprefix('#/') or 'body'}: {e.detail}" for e in errors]
    return "; ".join(parts) or "invalid request"


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with a problem document: validation, HTTP errors, our errors, the unexpected."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        return problem_response(request, status=422, detail=_describe(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, status=exc.status_code, detail=detail, headers=exc.headers)

    @app.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            request, status=exc.status, detail=exc.detail, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return problem_response(request, status=404, detail=str(exc))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        return problem_response(request, status=422, detail=str(exc))

    @app.exception_handler(RetryableError)
    async def _unavailable(request: Request, exc: RetryableError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after_s)))} if exc.retry_after_s else None
        log.warning("api_unavailable", path=request.url.path, error=redact(str(exc)))
        return problem_response(request, status=503, detail=str(exc), headers=headers)

    @app.exception_handler(TgParserError)
    async def _ours(request: Request, exc: TgParserError) -> JSONResponse:
        status = 500 if isinstance(exc, ConfigurationError) else 422
        log.warning("api_error", path=request.url.path, error=redact(str(exc)), status=status)
        return problem_response(request, status=status, detail=str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("api_unexpected_error", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
        return problem_response(request, status=500, detail="internal error; see the server log")


def problem_responses(
    *statuses: int, extra: Mapping[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` of a route: a problem for each of ``statuses``, plus ``extra``."""
    out: dict[int | str, dict[str, Any]] = {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(status).phrase}
        for status in statuses
    }
    return out | dict(extra or {})
