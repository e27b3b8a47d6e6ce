"""Provider embeddings of a channel's posts for its topic space (``TOPIC_EMBEDDINGS``).

``TOPIC_EMBEDDINGS`` decides whether the topic space gets a provider block
(:mod:`tg_parser.topics.provider_block`) next to the offline blocks:

* ``auto`` (default): when the configured provider has an embeddings API and
  model (OpenAI, Gemini, Ollama; not ``offline``, not Anthropic);
* ``offline``: never;
* ``provider``: always; the topicize step fails when the provider cannot embed.

Vectors are stored per post and model (``storage.post_embeddings``), so only
posts without a current vector are sent, :data:`EMBED_BATCH` to a request,
each request a step of the step runner under the ``topics`` retry policy and
through the provider's rate limiter, each recorded in ``llm_calls`` with the
purpose ``topic_embedding``. When a request gives up, ``auto`` writes a dead
letter (``tg_parser.embed_posts``), logs ``topic_embeddings_fallback`` and
leaves this run in the offline space; ``provider`` raises instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import structlog

from tg_parser.config import Settings
from tg_parser.domain.runs import TaskName
from tg_parser.errors import ConfigurationError, PermanentError
from tg_parser.services.steps import GaveUp, SleepBackoff, Step, StepRunner
from tg_parser.storage import Session, post_embeddings, session_scope, usage

if TYPE_CHECKING:
    from tg_parser.llm import LLMRuntime
    from tg_parser.processing.base import LLMUsage

log = structlog.get_logger(__name__)

__all__ = ["EMBED_BATCH", "MAX_EMBED_CHARS", "PURPOSE", "embed_channel_posts", "embedding_model_for"]

EMBED_BATCH = 64
"""Posts sent per embeddings request (``tg_parser.llm.topics.embed_texts``' batch size)."""
MAX_EMBED_CHARS = 4000
"""A post is cut to this many characters before it is embedded: within the smallest input limit of
the default models (Gemini ``gemini-embedding-001``: 2048 tokens; OpenAI ``text-embedding-3-small``
and Ollama ``nomic-embed-text``: 8192), at a few characters a token."""
PURPOSE = "topic_embedding"
"""``llm_calls.purpose`` of an embeddings request."""


def embedding_model_for(settings: Settings) -> str | None:
    """Return the embedding model ``TOPIC_EMBEDDINGS`` asks for, or ``None`` for the offline space alone.

    Args:
        settings: Settings (``TOPIC_EMBEDDINGS`` and the LLM layer).

    Returns:
        The model's name (``auto`` with a provider that can embed, or ``provider``), or ``None``.

    Raises:
        ConfigurationError: ``TOPIC_EMBEDDINGS=provider`` and the provider cannot embed.
    """
    mode = settings.topic_embeddings
    llm = settings.llm
    if mode == "offline":
        return None
    if not llm.can_embed:
        if mode == "provider":
            msg = (
                f"TOPIC_EMBEDDINGS=provider, but LLM_PROVIDER={llm.llm_provider} has no embedding model "
                "(use openai, gemini or ollama, or TOPIC_EMBEDDINGS=auto|offline)"
            )
            raise ConfigurationError(msg)
        return None
    return llm.embedding_model


def embed_channel_posts(
    *,
    settings: Settings,
    channel_pk: int,
    channel: str,
    run_id: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Embed the channel's posts that have no current vector; say which model the topic space uses.

    Args:
        settings: Settings (``TOPIC_EMBEDDINGS``, the provider, the ``topics`` retry policy, the database).
        channel_pk: The channel's primary key.
        channel: The channel key (dead letters, logs).
        run_id: The run, or ``None`` (dead letters, ``llm_calls``).
        sleep: Sleep function for retry waits.

    Returns:
        The embedding model whose stored vectors the topic space takes, or ``None`` for the offline
        space alone (embeddings off, or ``auto`` after a request gave up).

    Raises:
        ConfigurationError: ``TOPIC_EMBEDDINGS=provider`` and the provider cannot embed, or the
            provider cannot be built (no API key).
        PermanentError: ``TOPIC_EMBEDDINGS=provider`` and a request gave up.
    """
    model = embedding_model_for(settings)
    if model is None:
        return None
    from tg_parser.llm import build_runtime

    runtime = build_runtime(settings.llm, redis_url=settings.redis_url)
    if runtime is None:  # can_embed excludes offline; kept for the type checker
        return None
    required = settings.topic_embeddings == "provider"
    with session_scope(settings.database_url) as session:
        pending = post_embeddings.pending_posts(session, channel_pk=channel_pk, model=model)
    runner = StepRunner(settings=settings, backoff=SleepBackoff(sleep))
    for start in range(0, len(pending), EMBED_BATCH):
        batch = pending[start : start + EMBED_BATCH]
        step = Step(
            task_name=TaskName.EMBED,
            args={
                "channel": channel,
                "run_id": run_id,
                "model": model,
                "message_ids": [p.message_id for p in batch],
            },
            run_id=run_id,
        )
        texts = [p.text[:MAX_EMBED_CHARS] for p in batch]
        outcome = runner.run(
            step, partial(_embed, runtime, texts), on_give_up=_no_letter if required else None
        )
        if isinstance(outcome, GaveUp):
            if required:
                msg = f"TOPIC_EMBEDDINGS=provider: {model} could not embed posts of {channel}"
                msg += f": {outcome.error}"
                raise PermanentError(msg) from outcome.error
            log.warning(
                "topic_embeddings_fallback",
                channel=channel,
                run_id=run_id,
                model=model,
                error=str(outcome.error),
                error_type=type(outcome.error).__name__,
            )
            return None
        vectors, calls = outcome
        with session_scope(settings.database_url) as session:
            post_embeddings.store_vectors(
                session, channel_pk=channel_pk, model=model, posts=batch, vectors=vectors
            )
            usage.record_llm_calls(
                session, usage=calls, run_id=run_id, channel_pk=channel_pk, message_pk=None, purpose=PURPOSE
            )
    if pending:
        log.info("topic_embeddings_done", channel=channel, run_id=run_id, model=model, embedded=len(pending))
    return model


def _embed(runtime: LLMRuntime, texts: Sequence[str]) -> tuple[list[list[float]], tuple[LLMUsage, ...]]:
    """Embed one batch; a reply with another number of vectors, or of unequal lengths, is permanent."""
    vectors, calls = runtime.embed(texts)
    if len(vectors) != len(texts) or len({len(v) for v in vectors}) > 1 or not all(vectors):
        msg = f"embeddings reply has {len(vectors)} vectors of lengths {sorted({len(v) for v in vectors})}"
        msg += f" for {len(texts)} texts"
        raise PermanentError(msg)
    return vectors, calls


def _no_letter(_session: Session, _error: BaseException, _attempts: int, /) -> bool:
    """Write no dead letter: with ``TOPIC_EMBEDDINGS=provider`` the topicize step fails and gets one."""
    return False
