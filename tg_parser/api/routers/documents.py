"""``/api/v1/channels/{key}/documents`` (streamed NDJSON, incremental) and ``/topics``."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from tg_parser.api.deps import AppSettings
from tg_parser.api.problems import ApiProblem, ProblemError, problem_responses
from tg_parser.api.security import ReadKey
from tg_parser.errors import InputError
from tg_parser.services import documents as document_service

router = APIRouter(prefix="/api/v1", tags=["documents"])

NDJSON = "application/x-ndjson"
CURSOR_HEADER = "Documents-Cursor"
"""Response header carrying the cursor to send as ``since`` on the next pull."""

ChannelKey = Annotated[str, PathParam(min_length=1, max_length=128)]


@router.get(
    "/channels/{key}/documents",
    summary="The channel's documents as NDJSON (incremental with ?since=)",
    response_class=StreamingResponse,
    responses=problem_responses(
        401,
        404,
        422,
        429,
        extra={
            200: {
                "content": {NDJSON: {"schema": {"type": "string"}}},
                "description": "One documents.ndjson line per post; the next cursor is in Documents-Cursor.",
                "headers": {
                    CURSOR_HEADER: {"schema": {"type": "string"}, "description": "Send as ?since= next time."}
                },
            }
        },
    ),
)
async def documents(
    key: ChannelKey,
    settings: AppSettings,
    _key: ReadKey,
    since: Annotated[
        str | None,
        Query(max_length=256, description="Cursor from an earlier pull's Documents-Cursor header."),
    ] = None,
) -> StreamingResponse:
    """Stream the same lines as ``documents.ndjson``; with ``since``, only posts changed after that cursor.

    Pulls are at-least-once: a post changed near a cursor's moment may come
    again on the next pull (same id, so a re-index overwrites it).
    """
    try:
        pull = await run_in_threadpool(
            document_service.pull_documents, database_url=settings.database_url, channel=key, since=since
        )
    except InputError as exc:
        raise ApiProblem(422, str(exc), errors=[ProblemError(detail=str(exc), parameter="since")]) from exc
    headers = {
        CURSOR_HEADER: pull.next_cursor,
        "Link": f'</api/v1/channels/{quote(pull.channel)}/documents?since={pull.next_cursor}>; rel="next"',
    }
    return StreamingResponse(pull.lines, media_type=NDJSON, headers=headers)


@router.get(
    "/channels/{key}/topics",
    summary="The channel's topics.json",
    response_class=Response,
    responses=problem_responses(
        401, 404, 422, 429, extra={200: {"content": {"application/json": {"schema": {"type": "object"}}}}}
    ),
)
def topics(key: ChannelKey, settings: AppSettings, _key: ReadKey) -> Response:
    """Return the channel's ``topics.json``: its topics with label, keywords, size and member ids."""
    body = document_service.topics_json(database_url=settings.database_url, channel=key)
    return Response(body, media_type="application/json")
