"""OpenAI Batch API through the official ``openai`` SDK: Files upload, Batches create, status, results.

Each request is one JSONL line ``{"custom_id", "method": "POST", "url", "body"}``
whose body is exactly the synchronous request's
(:meth:`~tg_parser.llm.openai.OpenAIProvider.request`: the Responses API for
gpt-5*, Chat Completions otherwise). Results are parsed with the SDK's own
response models, so a batch answer is read exactly like a synchronous one.

Sources:
    Batch guide and limits (50,000 requests, 200 MB per input file, 24 h window):
        https://platform.openai.com/docs/guides/batch
    Batch object and request counts: https://platform.openai.com/docs/api-reference/batch/object
    Output and error file lines: https://platform.openai.com/docs/api-reference/batch/request-output
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import Any

import openai
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tg_parser.llm.batch import BatchResult, BatchState
from tg_parser.llm.openai import (
    RESPONSES_ENDPOINT,
    OpenAIProvider,
    _raise_ours,
    reply_from_chat,
    reply_from_response,
)
from tg_parser.llm.provider import ChatTurn

HTTP_OK = 200

MAX_REQUESTS = 50_000
"""Requests per batch input file (OpenAI batch guide)."""

MAX_BYTES = 200 * 1024 * 1024
"""Bytes per batch input file (OpenAI batch guide: 200 MB)."""


class OpenAIBatchClient:
    """OpenAI's Batch API for one provider's model and settings.

    Args:
        provider: The synchronous provider; its client, model and request bodies are reused.
    """

    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(self, provider: OpenAIProvider) -> None:
        """Keep the provider."""
        self.provider = provider
        self.name = provider.name
        self.model = provider.model
        self._client = provider._client  # noqa: SLF001 - one client, one connection pool
        self._endpoint, _ = provider.request(system="", turns=[], schema={}, schema_name="x")

    def request_line(self, *, custom_id: str, system: str, user: str, schema: dict[str, Any]) -> bytes:
        """Return one JSONL request line (newline included)."""
        url, body = self.provider.request(
            system=system, turns=[ChatTurn("user", user)], schema=schema, schema_name="post_analysis"
        )
        line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    def submit(self, lines: Iterator[bytes], *, label: str) -> tuple[str | None, str]:
        """Upload the lines as a ``purpose="batch"`` file, then create the batch on it.

        Raises:
            RetryableError: 408/409/429/5xx, timeout, connection failure.
            PermanentError: Any other 4xx.
        """
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            for line in lines:
                spool.write(line)
            spool.seek(0)
            try:
                uploaded = self._client.files.create(
                    file=(f"{label}.jsonl", spool, "application/jsonl"), purpose="batch"
                )
                batch = self._client.batches.create(
                    input_file_id=uploaded.id,
                    endpoint=self._endpoint,  # type: ignore[arg-type]
                    completion_window="24h",
                    metadata={"tg_parser_batch": label[:500]},
                )
            except openai.OpenAIError as exc:
                _raise_ours(exc)
        return uploaded.id, batch.id

    def state(self, batch_id: str) -> BatchState:
        """Return the batch's status and request counts."""
        try:
            batch = self._client.batches.retrieve(batch_id)
        except openai.OpenAIError as exc:
            _raise_ours(exc)
        counts = batch.request_counts
        error = None
        if batch.errors is not None and batch.errors.data:
            error = "; ".join(f"{e.code}: {e.message}" for e in batch.errors.data)
        return BatchState(
            status=batch.status,
            total=counts.total if counts else 0,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            error=error,
        )

    def results(self, batch_id: str) -> Iterator[BatchResult]:
        """Stream the output file's answers, then the error file's failures, line by line."""
        try:
            batch = self._client.batches.retrieve(batch_id)
        except openai.OpenAIError as exc:
            _raise_ours(exc)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                yield from self._file_results(file_id)

    def _file_results(self, file_id: str) -> Iterator[BatchResult]:
        try:
            with self._client.files.with_streaming_response.content(file_id) as response:
                for raw in response.iter_lines():
                    if raw.strip():
                        yield self._parse_line(raw)
        except openai.OpenAIError as exc:
            _raise_ours(exc)

    def _parse_line(self, raw: str) -> BatchResult:
        try:
            line = json.loads(raw)
        except ValueError:
            return BatchResult(custom_id="", reply=None, error=f"unreadable result line: {raw[:200]}")
        custom_id = str(line.get("custom_id") or "")
        error = line.get("error")
        response = line.get("response") or {}
        status = int(response.get("status_code") or 0)
        body = response.get("body")
        if error or status != HTTP_OK or not isinstance(body, dict):
            if error:
                reason = f"{error.get('code')}: {error.get('message')}"
            else:
                detail = (body or {}).get("error") if isinstance(body, dict) else body
                reason = f"HTTP {status}: {detail}"
            return BatchResult(custom_id=custom_id, reply=None, error=reason)
        # The SDK's lenient construction, as it reads a synchronous answer off the wire.
        try:
            if self._endpoint == RESPONSES_ENDPOINT:
                reply = reply_from_response(Response.construct(**body))
            else:
                reply = reply_from_chat(ChatCompletion.construct(**body))
        except (TypeError, ValueError, AttributeError) as exc:
            return BatchResult(custom_id=custom_id, reply=None, error=f"unreadable answer: {exc}")
        return BatchResult(custom_id=custom_id, reply=reply)

    def cancel(self, batch_id: str) -> None:
        """Ask OpenAI to cancel the batch."""
        try:
            self._client.batches.cancel(batch_id)
        except openai.OpenAIError as exc:
            _raise_ours(exc)
