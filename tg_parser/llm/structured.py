"""One structured-output exchange: ask, validate with pydantic, re-ask a bounded number of times."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

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

MAX_ANSWER_BYTES = 1024 * 1024
"""Longest answer accepted (UTF-8 bytes): a post analysis is a few KB; more is a runaway generation."""

_ECHO_CHARS = 4000
"""Characters of an invalid answer sent back with the re-ask."""

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
    text: str | None, *, output_model: type[M], check: Callable[[M], str | None] | None = None
) -> tuple[M | None, str]:
    """Validate an answer's JSON text against ``output_model`` and ``check`` (as :func:`ask_structured` does).

    Refused as :func:`_validate` refuses: over :data:`MAX_ANSWER_BYTES`, NUL
    characters or lone surrogates, not JSON, off the schema, or failing ``check``.

    Returns:
        ``(answer, "")`` when valid, else ``(None, problem)`` naming each wrong field.

    """
    result = _validate(text or "", output_model=output_model, check=check)
    if isinstance(result, str):
        return None, result
    return result, ""


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
        text = reply.text or ""
        problem_or_answer = _validate(text, output_model=output_model, check=check)
        if not isinstance(problem_or_answer, str):
            return problem_or_answer, tuple(usages)
        problem = problem_or_answer
        turns += [
            ChatTurn("assistant", _echo(text)),
            ChatTurn("user", render_prompt(REASK_PROMPT, errors=problem[:2000])),
        ]
    msg = (
        f"{provider.name}/{provider.model} gave no valid {schema_name} after "
        f"{max_reasks} re-asks: {problem[:500]}"
    )
    raise LLMOutputError(msg, usage=tuple(usages))


def _validate(text: str, *, output_model: type[M], check: Callable[[M], str | None] | None) -> M | str:
    r"""Return the validated answer, or what is wrong with it (the answer is untrusted input).

    Refused: over :data:`MAX_ANSWER_BYTES`; NUL characters or lone surrogates
    (raw, or decoded from ``\u`` escapes: PostgreSQL cannot store them in
    text, and they are not text; pydantic's JSON parser already refuses an
    escaped lone surrogate); not JSON; not the schema; ``check``.
    """
    if len(text) > MAX_ANSWER_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_ANSWER_BYTES:
        return f"the answer is longer than {MAX_ANSWER_BYTES // 1024} KiB"
    if _broken_text(text):
        return "the answer holds a NUL character or a lone surrogate"
    try:
        answer = output_model.model_validate_json(text)
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}" for err in exc.errors()
        )
    if any(_broken_text(value) for value in _strings(answer.model_dump())):
        return "the answer holds a NUL character or a lone surrogate"
    rule_problem = check(answer) if check is not None else None
    return answer if rule_problem is None else rule_problem


def _broken_text(text: str) -> bool:
    """Tell whether ``text`` holds a NUL character or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _strings(value: Any) -> list[str]:
    """Every string inside a dumped answer (keys and values)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _echo(text: str) -> str:
    """Return the answer as sent back in the re-ask: bounded, and only text a provider accepts."""
    if not text:
        return "(empty answer)"
    cut = text[:_ECHO_CHARS].encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return cut + (" …(cut)" if len(text) > _ECHO_CHARS else "")
