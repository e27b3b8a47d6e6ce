"""``/api/v1/channels`` and ``/api/v1/exports``: register, list, pause, resume, remove, upload."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from tg_parser.api.deps import AppSettings
from tg_parser.api.problems import ApiProblem, ProblemError, problem_responses
from tg_parser.api.schemas import Channel, ChannelCreate, ChannelCreated, ExportCreated
from tg_parser.api.security import ReadKey, WriteKey
from tg_parser.api.uploads import receive_upload
from tg_parser.domain import normalise_username
from tg_parser.errors import InputError
from tg_parser.services import channels as channel_service

router = APIRouter(prefix="/api/v1", tags=["channels"])

ChannelKey = Annotated[
    str, PathParam(min_length=1, max_length=128, description="Channel key (see GET /channels).")
]

UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A Desktop export result.json.",
                        },
                        "username": {
                            "type": "string",
                            "description": "Public username of a one-chat export.",
                        },
                    },
                }
            }
        },
    }
}


def upload_folder(settings: AppSettings) -> Path:
    """Return where uploads are kept: ``API_UPLOAD_DIR``, else ``<EXPORT_DIR>/.uploads`` (workers see it)."""
    return Path(settings.api_upload_dir or Path(settings.export_dir) / ".uploads").resolve()


@router.post(
    "/exports",
    status_code=status.HTTP_201_CREATED,
    response_model=ExportCreated,
    summary="Upload a Telegram Desktop export and register its chats",
    openapi_extra=UPLOAD_OPENAPI,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429),
)
async def upload_export(request: Request, settings: AppSettings, _key: WriteKey) -> ExportCreated:
    """Stream the ``file`` part to disk (refused above ``API_MAX_UPLOAD_MB``) and register every chat in it.

    A file that is not a Desktop export gets 422 with the reader's message.
    """
    stored = await receive_upload(
        content_type=request.headers.get("content-type", ""),
        content_length=request.headers.get("content-length"),
        body=request.stream(),
        folder=upload_folder(settings),
        max_bytes=settings.api_max_upload_mb * 1024 * 1024,
    )
    username = stored.fields.get("username") or None
    try:
        normalise_username(username)
    except ValueError as exc:
        stored.discard()
        raise ApiProblem(422, str(exc), errors=[ProblemError(detail=str(exc), pointer="#/username")]) from exc
    if stored.path is None:
        stored.discard()
        raise ApiProblem(
            422, "no 'file' part in the upload", errors=[ProblemError(detail="required", pointer="#/file")]
        )
    try:
        registered = await run_in_threadpool(
            channel_service.register_export,
            database_url=settings.database_url,
            path=stored.path,
            username=username,
        )
    except InputError as exc:
        stored.discard()
        # The reader names the file by its server path; the client knows it as its upload.
        detail = exc.reason if exc.path is not None else str(exc)
        if exc.message_id is not None:
            detail = f"message {exc.message_id}: {detail}"
        raise ApiProblem(422, detail, errors=[ProblemError(detail=detail, pointer="#/file")]) from exc
    return ExportCreated(channels=[c.key for c in registered])


@router.post(
    "/channels",
    status_code=status.HTTP_201_CREATED,
    response_model=ChannelCreated,
    summary="Register a channel",
    responses=problem_responses(401, 403, 422, 429),
)
def create_channel(body: ChannelCreate, settings: AppSettings, _key: WriteKey) -> ChannelCreated:
    """Register a live channel (``@name``, t.me link, id) or an export on the server, optionally scheduled."""
    keys = channel_service.add_channel(
        database_url=settings.database_url, source=body.source, every=body.every, username=body.username
    )
    return ChannelCreated(key=keys[0], keys=keys)


@router.get(
    "/channels", response_model=list[Channel], summary="List channels", responses=problem_responses(401, 429)
)
def list_channels(settings: AppSettings, _key: ReadKey) -> list[Channel]:
    """List every channel with its post, document and topic counts, by key."""
    return [Channel.of(c) for c in channel_service.list_channels(database_url=settings.database_url)]


@router.get(
    "/channels/{key}",
    response_model=Channel,
    summary="One channel",
    responses=problem_responses(401, 404, 422, 429),
)
def get_channel(key: ChannelKey, settings: AppSettings, _key: ReadKey) -> Channel:
    """Return one channel with its counts."""
    return Channel.of(channel_service.show_channel(database_url=settings.database_url, key=key))


@router.post(
    "/channels/{key}/pause",
    response_model=Channel,
    summary="Pause scheduled runs",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def pause_channel(key: ChannelKey, settings: AppSettings, _key: WriteKey) -> Channel:
    """Stop starting scheduled runs of the channel (runs started by hand still work)."""
    channel_service.set_paused(database_url=settings.database_url, key=key, paused=True)
    return Channel.of(channel_service.show_channel(database_url=settings.database_url, key=key))


@router.post(
    "/channels/{key}/resume",
    response_model=Channel,
    summary="Resume scheduled runs",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def resume_channel(key: ChannelKey, settings: AppSettings, _key: WriteKey) -> Channel:
    """Start scheduled runs of the channel again."""
    channel_service.set_paused(database_url=settings.database_url, key=key, paused=False)
    return Channel.of(channel_service.show_channel(database_url=settings.database_url, key=key))


@router.delete(
    "/channels/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove a channel",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def delete_channel(key: ChannelKey, settings: AppSettings, _key: WriteKey) -> Response:
    """Remove the channel with its posts, documents, topics and runs (export files stay)."""
    channel_service.remove_channel(database_url=settings.database_url, key=key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
