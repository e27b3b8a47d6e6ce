"""Request bodies and responses of the HTTP API (pydantic), and their rendering from service records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from tg_parser.services.runs import RunView
from tg_parser.storage.channels import ChannelSummary
from tg_parser.storage.dead_letters import DeadLetter

WEBHOOK_EVENTS = ("run.succeeded", "run.failed", "documents.updated")
MAX_ID = 2**31 - 1
"""Largest id an ``Integer`` key column holds (PostgreSQL ``integer``; SQLite holds more)."""
WebhookEvent = Literal["run.succeeded", "run.failed", "documents.updated"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelCreate(_Body):
    """``POST /api/v1/channels``."""

    source: str = Field(
        min_length=1,
        max_length=4096,
        description="@name, a t.me link, a channel id, or a path of an export on the server.",
        examples=["@durov", "https://t.me/durov", "/data/exports/result.json"],
    )
    every: str | None = Field(
        None, max_length=32, description="Schedule period: 15m, 1h, 1d.", examples=["15m"]
    )
    username: str | None = Field(
        None, max_length=64, description="Public username of a one-chat export, for t.me links."
    )


class ChannelCreated(BaseModel):
    """A registered channel (an export path may hold several chats: ``keys`` lists them all)."""

    key: str
    keys: list[str]


class ExportCreated(BaseModel):
    """The channels an uploaded export registered."""

    channels: list[str]


class Channel(BaseModel):
    """A channel with its counts."""

    key: str
    title: str
    telegram_id: int
    username: str | None
    source_kind: str
    source: str
    schedule_every_s: int | None
    paused: bool
    posts: int
    documents: int
    topics: int
    last_run_id: str | None

    @classmethod
    def of(cls, summary: ChannelSummary) -> Channel:
        """Render a service record."""
        return cls(**{name: getattr(summary, name) for name in cls.model_fields})


class RunStarted(BaseModel):
    """A run that was started; poll ``GET /api/v1/runs/{run_id}``."""

    run_id: str


class RunItems(BaseModel):
    """A run's posts by state."""

    total: int
    done: int
    failed: int
    pending: int


class RunTimings(BaseModel):
    """When a run reached each stage (UTC), ``null`` before it did."""

    created_at: datetime
    ingested_at: datetime | None
    processed_at: datetime | None
    topicized_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None = Field(description="Creation to finish, for a finished run.")


class RunFailure(BaseModel):
    """A dead letter of the run."""

    dead_letter_id: int
    task: str
    args: dict[str, Any]
    error: str


class UnreadRange(BaseModel):
    """A stretch of a run's source that ingest skipped unread: bytes ``[start, end)`` of ``path``."""

    path: str | None
    start: int
    end: int
    reason: str


class RunBatch(BaseModel):
    """Progress of a run's provider batch jobs (``LLM_BATCH``)."""

    batches: int
    status: str = Field(description="submitted, validating, in_progress, finalizing, or done.")
    done: int = Field(description="Requests answered or failed so far.")
    total: int


class Run(BaseModel):
    """A run: state, counts, timings and failures."""

    run_id: str
    channel: str
    status: str
    mode: str
    posts_read: int
    posts_new: int
    posts_changed: int
    input_errors: int
    partial: bool = False
    unread_ranges: list[UnreadRange] = Field(default_factory=list)
    items: RunItems
    topics: int | None
    error: str | None
    timings: RunTimings
    failures: list[RunFailure] = Field(default_factory=list)
    delta_cursor: str | None = Field(
        default=None,
        description="Send as ?since= to GET /documents for what changed after this run's export.",
    )

    status_text: str = Field(
        "", description="The status as shown, e.g. `processing (batch: in_progress / 1200 of 2000 done)`."
    )
    batch: RunBatch | None = Field(None, description="Progress of the run's provider batches, if any.")

    @classmethod
    def of(cls, view: RunView) -> Run:
        """Render a service record."""
        r = view.run
        duration = (r.finished_at - r.created_at).total_seconds() if r.finished_at else None
        return cls(
            run_id=r.id,
            channel=r.channel_key,
            status=r.status.value,
            status_text=view.status_text,
            batch=None
            if view.batch is None
            else RunBatch(
                batches=view.batch.batches,
                status=view.batch.status,
                done=view.batch.done,
                total=view.batch.total,
            ),
            mode=r.mode,
            posts_read=r.posts_read,
            posts_new=r.posts_new,
            posts_changed=r.posts_changed,
            input_errors=r.input_errors,
            partial=r.partial,
            unread_ranges=[UnreadRange(**u) for u in r.unread_ranges],
            items=RunItems(
                total=view.items.total,
                done=view.items.done,
                failed=view.items.failed,
                pending=view.items.pending,
            ),
            topics=r.topics,
            error=r.error,
            timings=RunTimings(
                created_at=r.created_at,
                ingested_at=r.ingested_at,
                processed_at=r.processed_at,
                topicized_at=r.topicized_at,
                finished_at=r.finished_at,
                duration_s=duration,
            ),
            failures=[
                RunFailure(dead_letter_id=f.dead_letter_id, task=f.task, args=f.args, error=f.error)
                for f in view.failures
            ],
            delta_cursor=view.to_dict()["delta_cursor"],
        )


class DeadLetterOut(BaseModel):
    """Work that gave up."""

    id: int
    run_id: str | None
    task: str
    args: dict[str, Any]
    error_type: str
    error_message: str
    attempts: int
    first_failed_at: datetime
    failed_at: datetime
    replayed_at: datetime | None
    resolved: bool

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        """Render a service record."""
        return cls(
            id=letter.id,
            run_id=letter.run_id,
            task=letter.task_name,
            args=letter.args,
            error_type=letter.error_type,
            error_message=letter.error_message,
            attempts=letter.attempts,
            first_failed_at=letter.first_failed_at,
            failed_at=letter.failed_at,
            replayed_at=letter.replayed_at,
            resolved=letter.resolved,
        )


class ReplayRequest(_Body):
    """``POST /api/v1/dead-letters/replay``: name ids, or ``all``."""

    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=10_000, description="Dead-letter ids."
    )
    all: bool = Field(default=False, description="Replay every unresolved dead letter.")


class ReplayOut(BaseModel):
    """What replaying one dead letter did."""

    dead_letter_id: int
    task: str
    action: str


class Replayed(BaseModel):
    """The replayed dead letters."""

    replayed: list[ReplayOut]


class Usage(BaseModel):
    """LLM usage per channel, provider and model."""

    channel: str | None
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    mean_latency_ms: float
    cached_input_tokens: int = Field(0, description="Input tokens read from the provider's prompt cache.")
    cache_write_tokens: int = Field(0, description="Input tokens written to the prompt cache (Anthropic).")
    reasoning_tokens: int = Field(0, description="Reasoning tokens (part of output_tokens).")
    batch_calls: int = Field(0, description="Calls made through the provider's batch API.")
    list_cost_usd: float = Field(0.0, description="The cost at the plain list price (no cache, no batch).")
    batch_savings_usd: float = Field(0.0, description="Saved by the batch discount.")
    cache_savings_usd: float = Field(0.0, description="Saved by prompt-cache prices.")


class WebhookCreate(_Body):
    """``POST /api/v1/webhooks``."""

    url: AnyHttpUrl = Field(description="Where events are POSTed.")
    events: list[WebhookEvent] = Field(min_length=1, max_length=len(WEBHOOK_EVENTS))


class WebhookCreated(BaseModel):
    """A new webhook: its id and signing secret (shown once)."""

    id: str
    url: str
    events: list[str]
    secret: str


class WebhookOut(BaseModel):
    """A webhook subscription (without its secret)."""

    id: str
    url: str
    events: list[str]
    created_at: datetime


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]


class Component(BaseModel):
    """One checked component."""

    component: str
    status: str
    detail: str
    required: bool


class HealthReportOut(BaseModel):
    """The checks of ``tg-parser health``."""

    mode: str
    healthy: bool
    components: list[Component]
