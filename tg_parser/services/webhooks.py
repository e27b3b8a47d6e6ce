"""Webhooks: subscriptions, run events, and deliveries signed per Standard Webhooks.

Signing follows the Standard Webhooks specification
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
the headers ``webhook-id`` (the same on every retry of one event),
``webhook-timestamp`` (Unix seconds of this attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``,
keyed with the base64-decoded bytes of the secret after ``whsec_``. The
secret holds 24 random bytes (the spec asks for 24 to 64).

A delivery is a step (``tg_parser.deliver_webhook``) run by the step runner
under the ``RETRY_WEBHOOK_*`` policy: a timeout, a connection error, 408, 429
or a 5xx is retried (a ``Retry-After`` the receiver names wins when longer);
another 4xx fails at once. One that gives up is a dead letter; replaying it
sends the same event with the same ``webhook-id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import RunStatus, TaskName
from tg_parser.errors import InputError, NotFoundError, PermanentError, RetryableError
from tg_parser.services.dispatch import Dispatcher
from tg_parser.services.steps import Backoff, GaveUp, Step, StepRunner
from tg_parser.storage import runs, session_scope, webhooks
from tg_parser.storage.webhooks import Webhook

log = structlog.get_logger(__name__)

EVENTS = ("run.succeeded", "run.failed", "documents.updated")
"""The event types a webhook can subscribe to."""

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix Standard Webhooks secrets carry, not a secret
SECRET_BYTES = 24
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
"""4xx statuses worth retrying (the rest of 4xx is permanent); every 5xx is retried too."""


def new_secret() -> str:
    """Return a new signing secret ``whsec_<base64 of 24 random bytes>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value of a delivery (``v1,<base64 HMAC-SHA256>``).

    Args:
        secret: ``whsec_<base64 key>``.
        message_id: The ``webhook-id``.
        timestamp: The ``webhook-timestamp`` (Unix seconds).
        body: The exact request body.
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def create_webhook(*, database_url: str, url: str, events: list[str]) -> Webhook:
    """Subscribe ``url`` to ``events``; the record holds the new secret.

    Raises:
        InputError: No event, or an unknown one.
    """
    unknown = sorted(set(events) - set(EVENTS))
    if not events or unknown:
        msg = f"events must be some of {', '.join(EVENTS)}" + (f"; unknown: {unknown}" if unknown else "")
        raise InputError(msg)
    with session_scope(database_url) as session:
        return webhooks.add_webhook(
            session,
            webhook_id=f"wh_{uuid.uuid4().hex}",
            url=url,
            events=sorted(set(events), key=EVENTS.index),
            secret=new_secret(),
        )


def list_webhooks(*, database_url: str) -> list[Webhook]:
    """Return every subscription, oldest first."""
    with session_scope(database_url) as session:
        return webhooks.list_webhooks(session)


def delete_webhook(*, database_url: str, webhook_id: str) -> None:
    """Delete a subscription.

    Raises:
        NotFoundError: No such webhook.
    """
    with session_scope(database_url) as session:
        webhooks.delete_webhook(session, webhook_id=webhook_id)


def run_events(*, database_url: str, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the events a finished run raises, with their payloads.

    ``run.succeeded`` or ``run.failed``; a succeeded run that stored new or
    changed posts also raises ``documents.updated``. Each payload is
    ``{"type", "timestamp", "data": {"run_id", "channel", "status", "posts_read",
    "posts_new", "posts_changed", "partial", "items": {...}, "topics", "error"}}``
    (``partial``: ingest skipped unread byte ranges, listed by ``runs show``).
    """
    with session_scope(database_url) as session:
        run = runs.get_run(session, run_id=run_id)
        counts = runs.run_counts(session, run_id=run_id)
    data = {
        "run_id": run.id,
        "channel": run.channel_key,
        "status": run.status.value,
        "posts_read": run.posts_read,
        "posts_new": run.posts_new,
        "posts_changed": run.posts_changed,
        "partial": run.partial,
        "items": {
            "total": counts.total,
            "done": counts.done,
            "failed": counts.failed,
            "pending": counts.pending,
        },
        "topics": run.topics,
        "error": run.error,
    }
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if run.status is RunStatus.FAILED:
        types = ["run.failed"]
    elif run.status is RunStatus.SUCCEEDED:
        types = ["run.succeeded"] + (["documents.updated"] if run.posts_new + run.posts_changed else [])
    else:
        types = []
    return [(t, {"type": t, "timestamp": stamp, "data": data}) for t in types]


def emit_run_events(*, settings: Settings, run_id: str, dispatcher: Dispatcher | None) -> int:
    """Queue one delivery per subscribed webhook for each event of a finished run.

    Called once per run end, by whoever made the run terminal (the winner of
    the guarded transition), so an event is emitted once.

    Returns:
        The number of deliveries queued.
    """
    if dispatcher is None:
        return 0
    with session_scope(settings.database_url) as session:
        subscribed = webhooks.list_webhooks(session)
    if not subscribed:
        return 0
    queued = 0
    for event, payload in run_events(database_url=settings.database_url, run_id=run_id):
        for hook in subscribed:
            if event in hook.events:
                dispatcher.deliver_webhook(
                    webhook_id=hook.id, message_id=f"msg_{uuid.uuid4().hex}", payload=payload
                )
                queued += 1
    return queued


def deliver(*, settings: Settings, webhook_id: str, message_id: str, payload: dict[str, Any]) -> str:
    """POST one signed delivery.

    Returns:
        ``delivered``, or ``gone`` when the webhook was deleted meanwhile.

    Raises:
        RetryableError: Timeout, connection error, 408/409/425/429 or 5xx (with its ``Retry-After``).
        PermanentError: Any other non-2xx answer.
    """
    import httpx

    with session_scope(settings.database_url) as session:
        try:
            hook = webhooks.get_webhook(session, webhook_id=webhook_id)
        except NotFoundError:
            return "gone"
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "tg-parser-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=hook.secret, message_id=message_id, timestamp=timestamp, body=body),
    }
    try:
        response = httpx.post(hook.url, content=body, headers=headers, timeout=settings.webhook_timeout_s)
    except httpx.HTTPError as exc:
        msg = f"webhook {webhook_id}: {type(exc).__name__}: {exc}"
        raise RetryableError(msg) from exc
    status = response.status_code
    if 200 <= status < 300:  # noqa: PLR2004 - the 2xx range
        log.info("webhook_delivered", webhook_id=webhook_id, message_id=message_id, status=status)
        return "delivered"
    msg = f"webhook {webhook_id}: {hook.url} answered {status}"
    if status >= 500 or status in RETRYABLE_STATUSES:  # noqa: PLR2004 - 5xx
        raise RetryableError(msg, retry_after_s=_retry_after_s(response.headers.get("retry-after")))
    raise PermanentError(msg)


def _retry_after_s(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` in its delta-seconds form (RFC 9110 §10.2.3), else ``None``."""
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def execute_delivery(
    *,
    settings: Settings,
    webhook_id: str,
    message_id: str,
    payload: dict[str, Any],
    backoff: Backoff,
    attempt: int = 1,
) -> str:
    """Deliver under the ``webhook`` retry policy; one that gives up is dead-lettered.

    Returns:
        ``delivered``, ``gone`` or ``failed`` (dead-lettered; ``dlq replay`` re-sends it with the same id).
    """
    step = Step(
        task_name=TaskName.DELIVER_WEBHOOK,
        args={"webhook_id": webhook_id, "message_id": message_id, "payload": payload},
    )
    outcome = StepRunner(settings=settings, backoff=backoff).run(
        step,
        lambda: deliver(settings=settings, webhook_id=webhook_id, message_id=message_id, payload=payload),
        attempt=attempt,
    )
    return "failed" if isinstance(outcome, GaveUp) else outcome
