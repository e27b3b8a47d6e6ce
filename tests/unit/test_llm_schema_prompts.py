# Russian posts are the test data; Cyrillic letters are intended
"""Tests of the strict output schema, the prompt files and the output language."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from tg_parser.domain import PostAnalysis
from tg_parser.llm.language import detect_language, output_language
from tg_parser.llm.prompts import (
    POST_ANALYSIS_PROMPT,
    PROMPT_VERSION,
    TOPIC_LABEL_PROMPT,
    load_prompt,
    render_prompt,
)
from tg_parser.llm.schema import strict_json_schema


def _objects(node):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def test_strict_schema_closes_every_object():
    """Every object in the schema lists all its properties as required and forbids extras."""
    schema = strict_json_schema(PostAnalysis)
    objects = list(_objects(schema))
    assert len(objects) >= 2  # the analysis and a named entity
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])


def test_strict_schema_has_no_refs_or_defaults():
    """The schema is inlined and carries no keywords OpenAI strict mode rejects."""
    text = json.dumps(strict_json_schema(PostAnalysis))
    assert "$ref" not in text
    assert "$defs" not in text
    assert '"default"' not in text


def test_prompt_version_names_a_packaged_file():
    """PROMPT_VERSION is the stem of a prompt file shipped in the package."""
    assert f"{PROMPT_VERSION}.md" == POST_ANALYSIS_PROMPT
    files = {p.name for p in resources.files("tg_parser.llm").joinpath("prompts").iterdir()}
    assert {POST_ANALYSIS_PROMPT, TOPIC_LABEL_PROMPT} <= files


def test_prompt_states_the_output_language():
    """The rendered prompt names the output language explicitly and has no placeholders left."""
    text = render_prompt(POST_ANALYSIS_PROMPT, output_language="Russian")
    assert "in Russian" in text
    assert "$" not in text
    assert "$output_language" in load_prompt(POST_ANALYSIS_PROMPT)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Почти три миллиарда лет назад на обратной стороне Луны извергались вулканы", "ru"),
        ("Scientists found an impact crater of an unusual shape in China last week", "en"),
        ("Привет", "ru"),
        ("Hello", "en"),
    ],
)
def test_detect_language(text, code):
    """Russian and English posts, long or short, are told apart."""
    assert detect_language(text) == code


def test_output_language_follows_post_unless_set():
    """A Russian post is answered in Russian unless LLM_OUTPUT_LANGUAGE names another."""
    post = "В Китае нашли ударный кратер необычной формы"
    assert output_language(post) == ("ru", "Russian")
    assert output_language(post, setting="en") == ("en", "English")
