"""Provider batch APIs: the protocol every batch client implements, and its value types.

A batch client turns requests into the provider's batch input, submits it,
reports the job's state and streams its results back, keyed by ``custom_id``.
The answers are validated by the caller exactly as in synchronous mode.
Implementations: :class:`tg_parser.llm.openai_batch.OpenAIBatchClient`,
:class:`tg_parser.llm.anthropic_batch.AnthropicBatchClient`,
:class:`tg_parser.llm.gemini_batch.GeminiBatchClient`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from tg_parser.llm.provider import StructuredReply

TERMINAL_BATCH_STATES = frozenset({"completed", "failed", "expired", "cancelled"})
"""Provider states after which a batch changes no more (OpenAI's names; others are mapped to them)."""


@dataclass(frozen=True)
class BatchState:
    """What the provider says about a batch job.

    Attributes:
        status: ``validating``, ``in_progress``, ``finalizing``, ``completed``, ``failed``,
            ``expired``, ``cancelling`` or ``cancelled``.
        total: Requests in the batch.
        completed: Requests answered.
        failed: Requests that failed.
        error: The provider's reason when the whole batch failed.
    """

    status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    error: str | None = None

    @property
    def terminal(self) -> bool:
        """Whether the batch will change no more."""
        return self.status in TERMINAL_BATCH_STATES


@dataclass(frozen=True)
class BatchResult:
    """One request's outcome inside a finished batch.

    Attributes:
        custom_id: The id the request was sent with.
        reply: The answer (text and usage), or ``None`` when the request failed.
        error: Why the request failed (``None`` on success).
    """

    custom_id: str
    reply: StructuredReply | None
    error: str | None = None


class BatchClient(Protocol):
    """One provider's batch API through its official SDK.

    Attributes:
        name: Provider name.
        model: Model the requests name.
        max_requests: Most requests one batch may carry (provider's documented limit).
        max_bytes: Largest input one batch may carry, in bytes.
    """

    name: str
    model: str
    max_requests: int
    max_bytes: int

    def request_line(self, *, custom_id: str, system: str, user: str, schema: dict[str, Any]) -> bytes:
        """Return one request of the batch input, encoded (one JSONL line with its newline)."""
        ...

    def submit(self, lines: Iterator[bytes], *, label: str) -> tuple[str | None, str]:
        """Upload the requests and create the batch.

        Returns:
            ``(input_file_id or None, provider batch id)``.

        Raises:
            RetryableError: 408/409/429/5xx, timeout, connection failure.
            PermanentError: Any other 4xx.
        """
        ...

    def state(self, batch_id: str) -> BatchState:
        """Return the batch's state (same errors as :meth:`submit`)."""
        ...

    def results(self, batch_id: str) -> Iterator[BatchResult]:
        """Stream the outcome of every request the provider reports (same errors as :meth:`submit`)."""
        ...

    def cancel(self, batch_id: str) -> None:
        """Ask the provider to cancel the batch (same errors as :meth:`submit`)."""
        ...
