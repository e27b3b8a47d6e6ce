"""LLM usage: one ``llm_calls`` row per provider call, and the totals behind ``tg-parser usage``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from tg_parser.processing.base import LLMUsage
from tg_parser.storage.tables import (
    ChannelRow,
    DeadLetterRow,
    DocumentRow,
    LLMCallRow,
    MessageRow,
    MessageVersionRow,
    RunItemRow,
    RunRow,
    TopicMemberRow,
    TopicRow,
    utcnow,
)


def llm_call_rows(
    usage: Sequence[LLMUsage],
    *,
    run_id: str | None,
    channel_pk: int | None,
    message_pk: int | None,
    purpose: str = "process",
) -> list[dict[str, Any]]:
    """Return the ``llm_calls`` rows of ``usage`` (one per provider call), keyed by column name."""
    now = utcnow()
    return [
        {
            "run_id": run_id,
            "channel_id": channel_pk,
            "message_pk": message_pk,
            "purpose": purpose,
            "provider": u.provider,
            "model": u.model,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "latency_ms": u.latency_ms,
            "cost_usd": u.cost_usd,
            "cache_hit": u.cache_hit,
            "created_at": now,
            "cached_input_tokens": u.cached_input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
            "reasoning_tokens": u.reasoning_tokens,
            "batch": u.batch,
            "list_cost_usd": u.list_cost_usd if u.list_cost_usd is not None else u.cost_usd,
            "batch_savings_usd": u.batch_savings_usd or 0.0,
        }
        for u in usage
    ]


def record_llm_calls(
    session: Session,
    *,
    usage: Sequence[LLMUsage],
    run_id: str | None,
    channel_pk: int | None,
    message_pk: int | None,
    purpose: str = "process",
) -> None:
    """Store one ``llm_calls`` row per provider call, in one ``INSERT`` (nothing for no call)."""
    if not usage:
        return
    rows = llm_call_rows(usage, run_id=run_id, channel_pk=channel_pk, message_pk=message_pk, purpose=purpose)
    # Core, not the ORM unit of work: a post's calls are written by one statement, no flush.
    session.execute(insert(LLMCallRow).values(rows))


@dataclass(frozen=True)
class UsageTotal:
    """LLM usage summed per channel, provider and model.

    Attributes:
        channel: Channel key (``None``: calls without a channel).
        provider: Provider name.
        model: Model name.
        calls: Provider calls (one per request, a batch request included).
        input_tokens: All input tokens, cached ones included.
        output_tokens: Output tokens, reasoning included.
        cost_usd: What the calls cost (cache and batch prices applied).
        mean_latency_ms: Mean wall time of a call (0 for batch requests).
        cached_input_tokens: Input tokens read from the prompt cache.
        cache_write_tokens: Input tokens written to the prompt cache.
        reasoning_tokens: Reasoning tokens.
        batch_calls: Calls that went through a batch API.
        list_cost_usd: What the calls would cost at the plain list price.
        batch_savings_usd: Saved by the batch discount.
        cache_savings_usd: Saved by cache prices (``list - cost - batch savings``).
    """

    channel: str | None
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    mean_latency_ms: float
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    batch_calls: int = 0
    list_cost_usd: float = 0.0
    batch_savings_usd: float = 0.0
    cache_savings_usd: float = 0.0


def usage_totals(
    session: Session, *, channel_key: str | None = None, since: datetime | None = None
) -> list[UsageTotal]:
    """Sum ``llm_calls`` per channel, provider and model, optionally for one channel and since a time."""
    stmt = (
        select(
            ChannelRow.key,
            LLMCallRow.provider,
            LLMCallRow.model,
            func.count(),
            func.coalesce(func.sum(LLMCallRow.input_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.output_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.cost_usd), 0.0),
            func.coalesce(func.avg(LLMCallRow.latency_ms), 0.0),
            func.coalesce(func.sum(LLMCallRow.cached_input_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.cache_write_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.reasoning_tokens), 0),
            func.coalesce(func.sum(case((LLMCallRow.batch, 1), else_=0)), 0),
            func.coalesce(func.sum(func.coalesce(LLMCallRow.list_cost_usd, LLMCallRow.cost_usd)), 0.0),
            func.coalesce(func.sum(LLMCallRow.batch_savings_usd), 0.0),
        )
        .outerjoin(ChannelRow, ChannelRow.id == LLMCallRow.channel_id)
        .group_by(ChannelRow.key, LLMCallRow.provider, LLMCallRow.model)
        .order_by(ChannelRow.key, LLMCallRow.provider, LLMCallRow.model)
    )
    if channel_key is not None:
        stmt = stmt.where(ChannelRow.key == channel_key)
    if since is not None:
        stmt = stmt.where(LLMCallRow.created_at >= since)
    return [
        UsageTotal(
            channel=k,
            provider=p,
            model=m,
            calls=int(n),
            input_tokens=int(i),
            output_tokens=int(o),
            cost_usd=float(c),
            mean_latency_ms=float(lat),
            cached_input_tokens=int(ci),
            cache_write_tokens=int(cw),
            reasoning_tokens=int(r),
            batch_calls=int(b),
            list_cost_usd=float(lc),
            batch_savings_usd=float(bs),
            cache_savings_usd=float(lc) - float(c) - float(bs),
        )
        for k, p, m, n, i, o, c, lat, ci, cw, r, b, lc, bs in session.execute(stmt)
    ]


def count_rows(session: Session) -> dict[str, int]:
    """Return the row count of every table (for tests and health)."""
    tables = (
        ChannelRow,
        MessageRow,
        MessageVersionRow,
        DocumentRow,
        TopicRow,
        TopicMemberRow,
        RunRow,
        RunItemRow,
        DeadLetterRow,
        LLMCallRow,
    )
    return {
        t.__tablename__: int(session.execute(select(func.count()).select_from(t)).scalar_one())
        for t in tables
    }
