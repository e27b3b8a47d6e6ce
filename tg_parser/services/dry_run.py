"""``tg-parser run --dry-run``: what a run of an export would cost, before it spends anything.

Every post with text is turned into the exact prompt the LLM processor would
send (:meth:`~tg_parser.llm.processor.LLMProcessor.prompt` and the strict
schema), and its tokens estimated without calling the provider. Nothing is
written to the database.

The estimate is rough by construction: input tokens are characters / 3
(the rate limiter's rule, :func:`~tg_parser.llm.structured.estimate_tokens`;
Cyrillic runs denser than English's ~4), output tokens a quarter of
``LLM_MAX_OUTPUT_TOKENS`` per post; no re-asks, no prompt-cache reads
(the cache would only lower the cost). Posts that already have a current
document are counted too (the export is not compared with the database).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tg_parser.config import Settings
from tg_parser.domain import Message, PostAnalysis
from tg_parser.llm.pricing import call_cost
from tg_parser.llm.schema import strict_json_schema
from tg_parser.llm.structured import estimate_tokens
from tg_parser.services.sources import (
    ExportSourceRef,
    iter_export_messages,
    list_export_chats,
    resolve_export_file,
)


@dataclass(frozen=True)
class RunEstimate:
    """The estimated LLM spend of one chat's run.

    Attributes:
        chat_id: The chat's Telegram id.
        title: Its title.
        posts: Posts with text (one provider request each).
        input_tokens: Estimated input tokens.
        output_tokens: Estimated output tokens.
        provider: Provider name (``offline``: no spend).
        model: Model name.
        sync_cost_usd: Estimated cost one request per post (``None``: the model is not priced).
        batch_cost_usd: The same through the provider's batch API (``None``: no batch API or price).
        uses_batch: Whether ``LLM_BATCH`` would send this run through the batch API.
    """

    chat_id: int
    title: str
    posts: int
    input_tokens: int
    output_tokens: int
    provider: str
    model: str
    sync_cost_usd: float | None
    batch_cost_usd: float | None
    uses_batch: bool


def estimate_export(*, settings: Settings, path: str | Path) -> list[RunEstimate]:
    """Estimate the tokens and cost of running every chat of an export, synchronous and batch.

    Raises:
        InputError: The export is unreadable.
        ConfigurationError: The LLM settings are unusable (no key, bad price file).
    """
    from tg_parser.llm.processor import LLMProcessor
    from tg_parser.services.llm_batches import batch_client_for, use_batch
    from tg_parser.services.processors import get_processor

    processor = get_processor(settings)
    file = resolve_export_file(path)
    schema_chars = len(json.dumps(strict_json_schema(PostAnalysis)))
    out: list[RunEstimate] = []
    for chat in list_export_chats(file):
        posts = input_tokens = output_tokens = 0
        for item in iter_export_messages(ExportSourceRef(path=str(file), chat_id=chat.telegram_id)):
            if not isinstance(item, Message) or not item.text.strip() or item.deleted:
                continue
            posts += 1
            if isinstance(processor, LLMProcessor):
                _text, system, user = processor.prompt(item)
                output = processor.max_output_tokens // 4
                total = estimate_tokens(
                    system, user, "x" * schema_chars, max_output_tokens=processor.max_output_tokens
                )
                input_tokens += total - output
                output_tokens += output
        sync = batch = None
        if isinstance(processor, LLMProcessor):
            costs = [
                call_cost(
                    processor.prices,
                    provider=processor.name,
                    model=processor.model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    batch=by_batch,
                )
                for by_batch in (False, True)
            ]
            sync = costs[0].cost_usd if costs[0] is not None else None
            if batch_client_for(processor) is not None and costs[1] is not None:
                batch = costs[1].cost_usd
        elif processor.name == "offline":
            sync = 0.0
        out.append(
            RunEstimate(
                chat_id=chat.telegram_id,
                title=chat.title,
                posts=posts,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                provider=processor.name,
                model=processor.model,
                sync_cost_usd=sync,
                batch_cost_usd=batch,
                uses_batch=use_batch(settings, processor=processor, posts=posts),
            )
        )
    return out
