"""``/api/v1/api-keys``: key management over HTTP (admin scope), as ``tg-parser api-keys``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from tg_parser.api.deps import AppSettings
from tg_parser.api.problems import problem_responses
from tg_parser.api.security import AdminKey
from tg_parser.services import api_keys as key_service
from tg_parser.services.api_keys import ApiKey, Scope

router = APIRouter(prefix="/api/v1", tags=["api keys"])


class ApiKeyCreate(BaseModel):
    """``POST /api/v1/api-keys``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    rate_limit_per_min: int | None = Field(None, ge=0, le=1_000_000)


class ApiKeyOut(BaseModel):
    """A key's record (the key itself is never stored)."""

    key_id: str
    name: str
    scope: str
    rate_limit_per_min: int | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKey) -> ApiKeyOut:
        """Render a service record."""
        return cls(
            key_id=record.key_id,
            name=record.name,
            scope=record.scope,
            rate_limit_per_min=record.rate_limit_per_min,
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    """A new key: ``key`` is shown this once."""

    key: str


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key",
    responses=problem_responses(401, 403, 422, 429),
)
def create_key(body: ApiKeyCreate, settings: AppSettings, _key: AdminKey) -> ApiKeyCreated:
    """Create a key; the response holds it once, only its hash is stored."""
    created = key_service.create_api_key(
        database_url=settings.database_url,
        name=body.name,
        scope=body.scope,
        rate_limit_per_min=body.rate_limit_per_min,
    )
    return ApiKeyCreated(key=created.key, **ApiKeyOut.of(created.record).model_dump())


@router.get(
    "/api-keys",
    response_model=list[ApiKeyOut],
    summary="List API keys",
    responses=problem_responses(401, 403, 429),
)
def list_keys(settings: AppSettings, _key: AdminKey) -> list[ApiKeyOut]:
    """List the active keys (records only)."""
    return [ApiKeyOut.of(k) for k in key_service.list_api_keys(database_url=settings.database_url)]


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke an API key",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def revoke_key(
    key_id: Annotated[str, PathParam(min_length=1, max_length=200)], settings: AppSettings, _key: AdminKey
) -> Response:
    """Revoke a key by its id; it answers 401 from then on."""
    key_service.revoke_api_key(database_url=settings.database_url, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
