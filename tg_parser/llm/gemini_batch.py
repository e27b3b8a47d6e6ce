"""Gemini Batch Mode through the official ``google-genai`` SDK: inline requests, state, inline responses.

Each request is an ``InlinedRequest`` (``contents`` + the synchronous request's
``GenerateContentConfig`` from :meth:`~tg_parser.llm.gemini.GeminiProvider.config`)
whose ``metadata`` carries our ``custom_id``; ``batches.create(model=..., src=[...])``
posts them to ``models/<model>:batchGenerateContent``. ``batches.get`` reads the
job (``batches/<id>``); a finished job's ``dest.inlined_responses`` come back in
request order, each with its request's ``metadata``, and are read with the same
:func:`~tg_parser.llm.gemini.reply_from_response` as a synchronous answer. An
answer is mapped to its post by the ``metadata`` key, never by position alone:
a response without a key is not applied (its post goes to the synchronous path).

The inline route is taken (not a JSONL file uploaded with ``files.upload``): the
SDK builds the requests from the same types as synchronous calls, and a run is
cut into several batches at the inline size limit, as OpenAI runs are at theirs.

Sources:
    Batch Mode guide (inline requests for a total under 20 MB; 50% of the
    interactive price; target turnaround 24 h; jobs expire after 48 h; job states
    ``JOB_STATE_PENDING`` … ``JOB_STATE_EXPIRED``):
    https://ai.google.dev/gemini-api/docs/batch-mode
    REST: ``models.batchGenerateContent``, ``batches.get``, ``batches.cancel``:
    https://ai.google.dev/api/batch-mode
    SDK: ``google/genai/batches.py`` (``Batches.create``, ``get``, ``cancel``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from google.genai import errors as genai_errors
from google.genai import types

from tg_parser.errors import RetryableError
from tg_parser.llm.batch import BatchResult, BatchState
from tg_parser.llm.gemini import GeminiProvider, _raise_ours, reply_from_response

MAX_REQUESTS = 100_000
"""Requests per batch (our cap; the guide limits inline batches by size, not count)."""

MAX_BYTES = 19 * 1024 * 1024
"""Bytes of requests per batch: the guide's 20 MB inline limit, less 1 MB for the envelope."""

KEY = "tg_parser_key"
"""``metadata`` field of each inlined request that carries its ``custom_id``."""

_STATUS = {
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
"""Gemini's job states in the batch states of :mod:`tg_parser.llm.batch` (unknown → ``in_progress``)."""


class GeminiBatchClient:
    """Gemini's Batch Mode (inline requests) for one provider's model and settings.

    Args:
        provider: The synchronous provider; its client, model and request config are reused.
    """

    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES

    def __init__(self, provider: GeminiProvider) -> None:
        """Keep the provider."""
        self.provider = provider
        self.name = provider.name
        self.model = provider.model
        self._client = provider._client  # noqa: SLF001 - one client, one connection pool
        self._transport_errors = provider._transport_errors  # noqa: SLF001

    def request_line(self, *, custom_id: str, system: str, user: str, schema: dict[str, Any]) -> bytes:
        """Return one ``InlinedRequest`` as a JSON line (its size counts against :data:`MAX_BYTES`)."""
        request = types.InlinedRequest(
            contents=[types.Content(role="user", parts=[types.Part(text=user)])],
            metadata={KEY: custom_id},
            config=self.provider.config(system=system, schema=schema),
        )
        data = request.model_dump(mode="json", exclude_none=True)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"

    def submit(self, lines: Iterator[bytes], *, label: str) -> tuple[str | None, str]:
        """Create the batch with every request inline (``models/<model>:batchGenerateContent``).

        Returns:
            ``(None, job name)``, the name being ``batches/<id>``.

        Raises:
            RetryableError: 408/409/429/5xx, timeout, connection failure.
            PermanentError: Any other 4xx, or a job without a name.
        """
        requests = [types.InlinedRequest.model_validate_json(line) for line in lines]
        config = types.CreateBatchJobConfig(display_name=label[:128])
        job = self._call(lambda: self._client.batches.create(model=self.model, src=requests, config=config))
        if not job.name:
            from tg_parser.errors import PermanentError

            msg = "gemini: batchGenerateContent answered without a job name"
            raise PermanentError(msg)
        return None, job.name

    def state(self, batch_id: str) -> BatchState:
        """Return the job's state; answered/failed counts are known once it has ended (from its responses).

        The SDK maps no request counts for the Gemini Developer API (``batchStats`` is
        not read), so ``total`` is 0 (unknown) and the count recorded at submit stands.
        """
        job = self._get(batch_id)
        raw = job.state.value if job.state is not None else "JOB_STATE_UNSPECIFIED"
        status = _STATUS.get(raw, "in_progress")
        responses = (job.dest.inlined_responses if job.dest else None) or []
        failed = sum(1 for r in responses if r.response is None)
        error = None
        if job.error is not None:
            error = f"{job.error.code}: {job.error.message}"
        elif status in {"failed", "expired", "cancelled"}:
            error = raw
        return BatchState(
            status=status,
            total=0,  # the SDK reports no request count; the count recorded at submit stands
            completed=len(responses) - failed,
            failed=failed,
            error=error,
        )

    def results(self, batch_id: str) -> Iterator[BatchResult]:
        """Yield every inline response, keyed by its request's ``metadata``."""
        job = self._get(batch_id)
        for index, item in enumerate((job.dest.inlined_responses if job.dest else None) or []):
            key = (item.metadata or {}).get(KEY, "")
            if not key:
                yield BatchResult(custom_id="", reply=None, error=f"response {index} carries no key")
            elif item.error is not None or item.response is None:
                detail = f"{item.error.code}: {item.error.message}" if item.error else "no response"
                yield BatchResult(custom_id=key, reply=None, error=detail)
            else:
                yield BatchResult(custom_id=key, reply=reply_from_response(item.response, latency_ms=0.0))

    def cancel(self, batch_id: str) -> None:
        """Ask Gemini to cancel the job."""
        self._call(lambda: self._client.batches.cancel(name=batch_id))

    def _get(self, batch_id: str) -> types.BatchJob:
        job: types.BatchJob = self._call(lambda: self._client.batches.get(name=batch_id))
        return job

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except genai_errors.APIError as exc:
            _raise_ours(exc)
        except self._transport_errors as exc:
            msg = f"gemini: {type(exc).__name__}: {exc}"
            raise RetryableError(msg) from exc
