"""Anthropic Message Batches through the official ``anthropic`` SDK: create, status, results.

Each request is ``{"custom_id", "params"}`` whose params are exactly the
synchronous request's (:meth:`~tg_parser.llm.anthropic.AnthropicProvider.request`:
forced tool use, the system block marked for the prompt cache). Results are
read with the SDK's ``messages.batches.results`` (a streamed ``.jsonl``).

Sources:
    Batch processing guide and limits (100,000 requests or 256 MB per batch, results
    within 24 h): https://docs.anthropic.com/en/docs/build-with-claude/batch-processing
    Message Batches API: https://docs.anthropic.com/en/api/creating-message-batches
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic

from tg_parser.llm.anthropic import AnthropicProvider, _raise_ours, reply_from_message
from tg_parser.llm.batch import BatchResult, BatchState
from tg_parser.llm.provider import ChatTurn

MAX_REQUESTS = 100_000
"""Requests per Message Batch (Anthropic batch guide)."""

MAX_BYTES = 256 * 1024 * 1024
"""Bytes per Message Batch (Anthropic batch guide: 256 MB)."""

SCHEMA_NAME = "post_analysis"

_STATUS = {"in_progress": "in_progress", "canceling": "cancelling", "ended": "completed"}
"""Anthropic's ``processing_status`` in the batch states of :mod:`tg_parser.llm.batch`."""


class AnthropicBatchClient:
    """Anthropic's Message Batches API for one provider's model and settings.

    Args:
        provider: The synchronous provider; its client, model and request parameters are reused.
    """

    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(self, provider: AnthropicProvider) -> None:
        """Keep the provider."""
        self.provider = provider
        self.name = provider.name
        self.model = provider.model
        self._client = provider._client  # noqa: SLF001 - one client, one connection pool

    def request_line(self, *, custom_id: str, system: str, user: str, schema: dict[str, Any]) -> bytes:
        """Return one request (``{"custom_id", "params"}``) as a JSON line."""
        params = self.provider.request(
            system=system, turns=[ChatTurn("user", user)], schema=schema, schema_name=SCHEMA_NAME
        )
        line = {"custom_id": custom_id, "params": params}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    def submit(self, lines: Iterator[bytes], *, label: str) -> tuple[str | None, str]:
        """Create the batch with every request in its body (the API takes no file).

        Raises:
            RetryableError: 408/409/429/5xx, timeout, connection failure.
            PermanentError: Any other 4xx.
        """
        del label  # the API has no metadata field
        requests = [json.loads(line) for line in lines]
        try:
            batch = self._client.messages.batches.create(requests=requests)
        except anthropic.AnthropicError as exc:
            _raise_ours(exc)
        return None, batch.id

    def state(self, batch_id: str) -> BatchState:
        """Return the batch's status (``ended`` → ``completed``) and request counts."""
        try:
            batch = self._client.messages.batches.retrieve(batch_id)
        except anthropic.AnthropicError as exc:
            _raise_ours(exc)
        c = batch.request_counts
        failed = c.errored + c.canceled + c.expired
        return BatchState(
            status=_STATUS.get(batch.processing_status, batch.processing_status),
            total=c.processing + c.succeeded + failed,
            completed=c.succeeded,
            failed=failed,
        )

    def results(self, batch_id: str) -> Iterator[BatchResult]:
        """Stream every request's outcome (``succeeded``, ``errored``, ``canceled``, ``expired``)."""
        try:
            for item in self._client.messages.batches.results(batch_id):
                result = item.result
                if result.type == "succeeded":
                    reply = reply_from_message(result.message, schema_name=SCHEMA_NAME)
                    yield BatchResult(custom_id=item.custom_id, reply=reply)
                else:
                    detail = getattr(getattr(result, "error", None), "error", None)
                    yield BatchResult(custom_id=item.custom_id, reply=None, error=f"{result.type}: {detail}")
        except anthropic.AnthropicError as exc:
            _raise_ours(exc)

    def cancel(self, batch_id: str) -> None:
        """Ask Anthropic to cancel the batch."""
        try:
            self._client.messages.batches.cancel(batch_id)
        except anthropic.AnthropicError as exc:
            _raise_ours(exc)
