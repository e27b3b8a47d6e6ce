"""The LLM processor (one post → one validated :class:`PostAnalysis`) and the processor factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tg_parser.config.llm import LLMSettings
from tg_parser.domain import Message, PostAnalysis
from tg_parser.errors import InputError
from tg_parser.llm.language import output_language
from tg_parser.llm.pricing import PriceTable, load_prices
from tg_parser.llm.prompts import POST_ANALYSIS_PROMPT, PROMPT_VERSION, render_prompt
from tg_parser.llm.ratelimit import LocalRateLimiter, RateLimiter, build_rate_limiter
from tg_parser.llm.structured import ask_structured
from tg_parser.processing.base import ProcessingResult, Processor
from tg_parser.processing.text import clean_text

if TYPE_CHECKING:
    from tg_parser.llm.provider import LLMProvider

MAX_POST_CHARS = 12_000
"""Longer posts are cut to this many characters before they are sent."""


def _check_analysis(analysis: PostAnalysis) -> str | None:
    """Rules pydantic cannot express: a summary must say something."""
    if not analysis.summary.strip():
        return "summary: must not be empty"
    if not analysis.language.strip():
        return "language: must not be empty"
    return None


class LLMProcessor:
    """A :class:`~tg_parser.processing.base.Processor` backed by an LLM provider.

    Each post is cleaned, its answer language chosen (the post's own unless
    ``output_language`` names one), and the provider asked for a
    :class:`PostAnalysis` through :func:`~tg_parser.llm.structured.ask_structured`
    under the rate limiter.

    Args:
        provider: The provider.
        limiter: Its rate limiter (default: an unlimited in-process one).
        prices: Price table (default: the packaged one).
        max_reasks: Re-asks of an invalid answer (``LLM_MAX_REASKS``).
        output_language: ``auto`` or an ISO 639-1 code (``LLM_OUTPUT_LANGUAGE``).
        max_output_tokens: Output cap, for the token estimate.

    Attributes:
        name: The provider name (``openai``…).
        model: The model name.
        prompt_version: :data:`~tg_parser.llm.prompts.PROMPT_VERSION`, plus ``+<lang>`` when
            the output language is fixed (so changing it re-processes posts).

    """

    def __init__(
        self,
        *,
        provider: LLMProvider,
        limiter: RateLimiter | None = None,
        prices: PriceTable | None = None,
        max_reasks: int = 2,
        output_language: str = "auto",
        max_output_tokens: int = 2048,
    ) -> None:
        """Initialise; the arguments are described in the class docstring."""
        self.provider = provider
        self.limiter: RateLimiter = limiter or LocalRateLimiter(buckets=(), max_wait_s=0)
        self.prices = prices if prices is not None else load_prices()
        self.max_reasks = max_reasks
        self.output_language = output_language
        self.max_output_tokens = max_output_tokens
        self.name = provider.name
        self.model = provider.model
        self.prompt_version = (
            PROMPT_VERSION if output_language == "auto" else f"{PROMPT_VERSION}+{output_language}"
        )

    def prompt(self, message: Message) -> tuple[str, str, str]:
        """Build the prompt of one post: the static part first, the post last.

        The system prompt (instructions; the schema travels beside it) depends
        only on the answer language, so every post of a language shares it and
        the providers' prompt caches apply; the post and its links come last,
        in the user turn.

        Returns:
            ``(clean_text, system, user)``.

        Raises:
            InputError: The post has no text.

        """
        text = clean_text(message.text)
        if not text:
            msg = "post has no text to analyse"
            raise InputError(msg, message_id=message.message_id)
        _code, language_name = output_language(text, setting=self.output_language)
        system = render_prompt(POST_ANALYSIS_PROMPT, output_language=language_name)
        user = f"Post:\n\n{text[:MAX_POST_CHARS]}"
        links = message.links()
        if links:
            user += "\n\nLinks in the post:\n" + "\n".join(links[:20])
        return text, system, user

    def check(self, analysis: PostAnalysis) -> str | None:
        """Rules pydantic cannot express (a problem text, or ``None`` when the analysis is good)."""
        return _check_analysis(analysis)

    def process(self, message: Message) -> ProcessingResult:
        """Analyse one post.

        Args:
            message: A post with non-empty text.

        Returns:
            The validated analysis, the cleaned text and one usage entry per call.

        Raises:
            InputError: The post has no text.
            RetryableError: Rate limit wait too long, 408/409/429/5xx, timeout, connection loss.
            PermanentError: Other 4xx; :class:`~tg_parser.llm.structured.LLMOutputError` when the
                answer stays invalid after the re-asks.

        """
        text, system, user = self.prompt(message)
        analysis, usage = ask_structured(
            provider=self.provider,
            limiter=self.limiter,
            prices=self.prices,
            system=system,
            user=user,
            output_model=PostAnalysis,
            schema_name="post_analysis",
            max_reasks=self.max_reasks,
            max_output_tokens=self.max_output_tokens,
            check=_check_analysis,
        )
        return ProcessingResult(analysis=analysis, clean_text=text, usage=usage)


def build_processor(settings: LLMSettings, *, redis_url: str | None) -> Processor:
    """Return the processor the settings ask for.

    ``LLM_PROVIDER=offline`` gives the offline processor; any other provider an
    :class:`LLMProcessor` with that provider, its rate limiter (shared in Redis
    when there is one) and the price table.

    Args:
        settings: LLM settings (``get_settings().llm``).
        redis_url: The application's Redis for the shared rate limiter
            (``get_settings().redis_url``), ``None`` when there is none; see
            :func:`~tg_parser.llm.ratelimit.build_rate_limiter`.

    Returns:
        A :class:`~tg_parser.processing.base.Processor`.

    Raises:
        ConfigurationError: An unreadable price file, or no API key.

    """
    if settings.llm_provider == "offline":
        from tg_parser.processing.offline import (  # type: ignore[import-not-found,unused-ignore]
            OfflineProcessor,
        )

        return OfflineProcessor(named_entities=settings.offline_ner)  # type: ignore[return-value,no-any-return,unused-ignore]
    from tg_parser.llm.factory import build_provider

    provider = build_provider(settings)
    return LLMProcessor(
        provider=provider,
        limiter=build_rate_limiter(settings, provider=provider.name, redis_url=redis_url),
        prices=load_prices(settings.llm_prices_file),
        max_reasks=settings.llm_max_reasks,
        output_language=settings.llm_output_language,
        max_output_tokens=settings.llm_max_output_tokens,
    )
