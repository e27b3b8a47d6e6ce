"""Topic labels from the configured LLM, reused while a topic does not change.

A topic keeps its stored LLM label and summary when its members and keywords
are the same as last time, so re-running an unchanged channel makes no
provider call and rewrites no line of the export. A label the provider cannot
give (after short retries) falls back to the keyword label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from tg_parser.config import Settings
from tg_parser.domain import Topic
from tg_parser.errors import RetryableError, TgParserError
from tg_parser.processing.base import LLMUsage

log = structlog.get_logger(__name__)

LABEL_ATTEMPTS = 3
MAX_LABEL_WAIT_S = 10.0


def label_topics_with_llm(
    *,
    settings: Settings,
    topics: Sequence[Topic],
    previous: Sequence[Topic],
    texts: dict[int, str],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[Topic], list[LLMUsage]]:
    """Give each topic an LLM label and one-line summary.

    Args:
        settings: Settings naming the provider.
        topics: Freshly clustered topics (keyword labels).
        previous: The channel's stored topics (for reuse).
        texts: Clean text of each member post, by message id.
        sleep: Sleep function for retry waits.

    Returns:
        The labelled topics and the usage of every provider call made.
    """
    from tg_parser.llm import build_runtime, llm_settings_from

    runtime = build_runtime(llm_settings_from(settings))
    if runtime is None:
        return list(topics), []
    stored = {t.topic_id: t for t in previous}
    out: list[Topic] = []
    usage: list[LLMUsage] = []
    for topic in topics:
        old = stored.get(topic.topic_id)
        if (
            old is not None
            and old.summary
            and old.member_ids == topic.member_ids
            and old.keywords == topic.keywords
        ):
            out.append(topic.model_copy(update={"label": old.label, "summary": old.summary}))
            continue
        samples = [texts[m] for m in topic.member_ids[:12] if texts.get(m)]
        for attempt in range(1, LABEL_ATTEMPTS + 1):
            try:
                answer, calls = runtime.label_topic(keywords=topic.keywords, sample_posts=samples)
            except RetryableError as exc:
                if attempt == LABEL_ATTEMPTS:
                    log.warning("topic_label_fallback", topic=topic.topic_id, error=str(exc))
                    out.append(topic)
                    break
                sleep(min(MAX_LABEL_WAIT_S, exc.retry_after_s or float(attempt)))
            except TgParserError as exc:
                log.warning("topic_label_fallback", topic=topic.topic_id, error=str(exc))
                out.append(topic)
                break
            else:
                usage.extend(calls)
                out.append(
                    topic.model_copy(
                        update={"label": answer.label.strip(), "summary": answer.summary.strip()}
                    )
                )
                break
    return out, usage
