"""``/api/v1/webhooks``: subscribe a URL to run events, list and delete subscriptions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from fastapi import Path as PathParam

from tg_parser.api.deps import AppSettings
from tg_parser.api.problems import problem_responses
from tg_parser.api.schemas import WebhookCreate, WebhookCreated, WebhookOut
from tg_parser.api.security import ReadKey, WriteKey
from tg_parser.services import webhooks as webhook_service

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Subscribe a URL to events",
    responses=problem_responses(401, 403, 422, 429),
)
def create_webhook(body: WebhookCreate, settings: AppSettings, _key: WriteKey) -> WebhookCreated:
    """Subscribe ``url`` to ``events``; the answer holds the signing secret (``whsec_…``), shown once."""
    hook = webhook_service.create_webhook(
        database_url=settings.database_url, url=str(body.url), events=list(body.events)
    )
    return WebhookCreated(id=hook.id, url=hook.url, events=hook.events, secret=hook.secret)


@router.get(
    "/webhooks",
    response_model=list[WebhookOut],
    summary="List webhooks",
    responses=problem_responses(401, 429),
)
def list_webhooks(settings: AppSettings, _key: ReadKey) -> list[WebhookOut]:
    """List the subscriptions (without their secrets)."""
    return [
        WebhookOut(id=h.id, url=h.url, events=h.events, created_at=h.created_at)
        for h in webhook_service.list_webhooks(database_url=settings.database_url)
    ]


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a webhook",
    responses=problem_responses(401, 403, 404, 422, 429),
)
def delete_webhook(
    webhook_id: Annotated[str, PathParam(min_length=1, max_length=64)], settings: AppSettings, _key: WriteKey
) -> Response:
    """Delete a subscription; deliveries already queued for it are dropped."""
    webhook_service.delete_webhook(database_url=settings.database_url, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
