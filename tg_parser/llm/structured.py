"""One structured-output exchange: ask, validate with pydantic, re-ask a bounded number of times."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from tg_parser.errors import PermanentError
from tg_parser.llm.pricing import PriceTable, call_cost
from tg_parser.llm.prompts import REASK_PROMPT, render_prompt
from tg_parser.llm.provider import ChatTurn, LLMProvider, StructuredReply
from tg_parser.llm.schema import strict_json_schema
from tg_parser.processing.base import LLMUsage

if TYPE_CHECKING:
    from collections.abc import Callable

    from tg_parser.llm.ratelimit import RateLimiter

M = TypeVar("M", bound=BaseModel)

_CHARS_PER_TOKEN = 3
"""Rough characters per token for the token-bucket estimate (Cyrillic runs denser than English's ~4)."""


class LLMOutputError(PermanentError):
    """The model's answer stayed invalid after every re-ask.

    Args:
        message: What was wrong with the last answer.
        usage: One entry per call made, so the spend is still recorded.

    """

    def __init__(self, message: str, *, usage: tuple[LLMUsage, ...]) -> None:
        """Initialise; the arguments are described in the class docstring."""
        super().__init__(message)
        self.usage = usage


def estimate_tokens(*texts: str, max_output_tokens: int) -> int:
    """Estimate the tokens of a call before it is made, for the token bucket.

    Args:
        *texts: Everything sent (system prompt, turns).
        max_output_tokens: The output cap; a quarter of it is counted as expected output.

    Returns:
        Estimated input plus output tokens.

    """
    chars = sum(len(t) for t in texts)
    return chars // _CHARS_PER_TOKEN + 1 + max_output_tokens // 4


def usage_of(
    reply: StructuredReply, *, provider: str, model: str, prices: PriceTable, batch: bool = False
) -> LLMUsage:
    """Return the usage entry of one call: its tokens and its cost (:func:`~tg_parser.llm.pricing.call_cost`).

    Args:
        reply: The provider's answer.
        provider: Provider name.
        model: Model name.
        prices: Price table.
        batch: Whether the call went through the provider's batch API (batch discount).

    Returns:
        The entry; costs are ``None`` for a model the table does not price.

    """
    cost = call_cost(
        prices,
        provider=provider,
        model=model,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cached_input_tokens=reply.cached_input_tokens,
        cache_write_tokens=reply.cache_write_tokens,
        batch=batch,
    )
    return LLMUsage(
        provider=provider,
        model=model,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        latency_ms=reply.latency_ms,
        cost_usd=None if cost is None else cost.cost_usd,
        cached_input_tokens=reply.cached_input_tokens,
        cache_write_tokens=reply.cache_write_tokens,
        reasoning_tokens=reply.reasoning_tokens,
        batch=batch,
        list_cost_usd=None if cost is None else cost.list_cost_usd,
        batch_savings_usd=None if cost is None else cost.batch_savings_usd,
    )


def validate_answer(
    text: str, *, output_model: type[M], check: Callable[[M], str | None] | None = None
) -> tuple[M | None, str]:
    """Validate an answer's JSON text against ``output_model`` and ``check``.

    Returns:
        ``(answer, "")`` when valid, else ``(None, problem)`` naming each wrong field.

    """
    try:
        answer = output_model.model_validate_json(text)
    except ValidationError as exc:
        return None, "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}" for err in exc.errors()
        )
    rule_problem = check(answer) if check is not None else None
    if rule_problem is not None:
        return None, rule_problem
    return answer, ""


def ask_structured(
    *,
    provider: LLMProvider,
    limiter: RateLimiter,
    prices: PriceTable,
    system: str,
    user: str,
    output_model: type[M],
    schema_name: str,
    max_reasks: int,
    max_output_tokens: int = 2048,
    check: Callable[[M], str | None] | None = None,
) -> tuple[M, tuple[LLMUsage, ...]]:
    """Ask ``provider`` for an ``output_model`` answer, re-asking while it is invalid.

    Every call waits for the rate limiter first. An answer that is not JSON, does
    not validate, or fails ``check`` is sent back with the validation errors and
    asked again, at most ``max_reasks`` times.

    Args:
        provider: The provider.
        limiter: The provider's rate limiter.
        prices: Price table for the cost of each call.
        system: System prompt.
        user: The user turn (the post, the topic sample).
        output_model: Pydantic model the answer must validate against.
        schema_name: Identifier of the schema for the provider (``post_analysis``).
        max_reasks: Re-asks after the first call (``LLM_MAX_REASKS``).
        max_output_tokens: The output cap, for the token estimate.
        check: Extra rule on a valid answer; returns a problem text or ``None``.

    Returns:
        The validated answer and one :class:`LLMUsage` per call made.

    Raises:
        RetryableError: From the limiter or the provider.
        PermanentError: From the provider (4xx).
        LLMOutputError: Still invalid after ``max_reasks`` re-asks.

    """
    schema = strict_json_schema(output_model)
    turns = [ChatTurn("user", user)]
    usages: list[LLMUsage] = []
    problem = "no answer"
    for _attempt in range(max_reasks + 1):
        estimate = estimate_tokens(system, *(t.content for t in turns), max_output_tokens=max_output_tokens)
        limiter.acquire(tokens=estimate)
        reply = provider.complete_json(system=system, turns=turns, schema=schema, schema_name=schema_name)
        usages.append(usage_of(reply, provider=provider.name, model=provider.model, prices=prices))
        limiter.charge(tokens=reply.input_tokens + reply.output_tokens - estimate)
        answer, problem = validate_answer(reply.text, output_model=output_model, check=check)
        if answer is not None:
            return answer, tuple(usages)
        turns += [
            ChatTurn("assistant", reply.text or "(empty answer)"),
            ChatTurn("user", render_prompt(REASK_PROMPT, errors=problem[:2000])),
        ]
    msg = (
        f"{provider.name}/{provider.model} gave no valid {schema_name} after "
        f"{max_reasks} re-asks: {problem[:500]}"
    )
    raise LLMOutputError(msg, usage=tuple(usages))
