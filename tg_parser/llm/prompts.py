"""Versioned prompt files of the LLM layer.

Prompts live in ``tg_parser/llm/prompts/<name>.v<N>.md`` and use
:class:`string.Template` placeholders (``$output_language``). A new wording is a
new file with a new version, so stored documents name the exact prompt that
made them.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

POST_ANALYSIS_PROMPT = "post_analysis.v1.md"
"""File of the post-analysis prompt."""

TOPIC_LABEL_PROMPT = "topic_label.v1.md"
"""File of the topic-label prompt."""

REASK_PROMPT = "reask.v1.md"
"""File of the message sent after an invalid answer."""

PROMPT_VERSION = POST_ANALYSIS_PROMPT.removesuffix(".md")
"""Version recorded on documents: the post-analysis prompt file's stem (``post_analysis.v1``)."""

TOPIC_PROMPT_VERSION = TOPIC_LABEL_PROMPT.removesuffix(".md")
"""Version of the topic-label prompt (``topic_label.v1``)."""


@cache
def load_prompt(filename: str) -> str:
    """Return the text of a packaged prompt file.

    Args:
        filename: File name under ``tg_parser/llm/prompts/`` (e.g. ``post_analysis.v1.md``).

    Returns:
        The template text.

    """
    return resources.files("tg_parser.llm").joinpath("prompts", filename).read_text(encoding="utf-8")


def render_prompt(filename: str, **values: str) -> str:
    """Fill a prompt template.

    Args:
        filename: The prompt file.
        **values: Placeholder values (``output_language="Russian"``).

    Returns:
        The prompt text.

    Raises:
        KeyError: A placeholder has no value.

    """
    return string.Template(load_prompt(filename)).substitute(values)
