"""Topic labels from the configured LLM, reused while a topic does not change.

A topic keeps its stored LLM label and summary when its members and keywords
are the same as last time, so re-running an unchanged channel makes no
provider call and rewrites no line of the export. A label the provider cannot
give (after the ``topics`` retry policy) falls back to the keyword label and
is dead-lettered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

import structlog

from tg_parser.config import Settings
from tg_parser.domain import Topic
from tg_parser.domain.runs import TaskName
from tg_parser.processing.base import LLMUsage
from tg_parser.services.steps import GaveUp, SleepBackoff, Step, StepRunner

log = structlog.get_logger(__name__)


def label_topics_with_llm(
    *,
    settings: Settings,
    topics: Sequence[Topic],
    previous: Sequence[Topic],
    texts: dict[int, str],
    run_id: str | None = None,
    channel: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[Topic], list[LLMUsage]]:
    """Give each topic an LLM label and one-line summary.

    Each label call is a step of the step runner under the ``topics`` retry
    policy (``RETRY_TOPICS_*``). It waits in-process in both execution modes:
    a label is part of a topicize task, and handing its retry to Celery would
    redo the whole clustering. A label that gives up is dead-lettered
    (``tg_parser.label_topic``) and the topic keeps its keyword label.

    Args:
        settings: Settings naming the provider.
        topics: Freshly clustered topics (keyword labels).
        previous: The channel's stored topics (for reuse).
        texts: Clean text of each member post, by message id.
        run_id: The run, for dead letters.
        channel: The channel key, for dead letters.
        sleep: Sleep function for retry waits.

    Returns:
        The labelled topics and the usage of every provider call made.
    """
    from tg_parser.llm import build_runtime

    runtime = build_runtime(settings.llm, redis_url=settings.redis_url)
    if runtime is None:
        return list(topics), []
    runner = StepRunner(settings=settings, backoff=SleepBackoff(sleep))
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
        step = Step(
            task_name=TaskName.LABEL,
            args={"channel": channel, "run_id": run_id, "topic_id": topic.topic_id},
            run_id=run_id,
        )
        result = runner.run(step, partial(runtime.label_topic, keywords=topic.keywords, sample_posts=samples))
        if isinstance(result, GaveUp):
            log.warning("topic_label_fallback", topic=topic.topic_id, error=str(result.error))
            out.append(topic)
            continue
        answer, calls = result
        usage.extend(calls)
        out.append(
            topic.model_copy(update={"label": answer.label.strip(), "summary": answer.summary.strip()})
        )
    return out, usage
