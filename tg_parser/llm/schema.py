"""JSON schemas for structured output, in the strict form every provider accepts.

OpenAI strict structured output needs every object to list all its properties
as ``required`` and to set ``additionalProperties: false``; it rejects
``default``. Inlining ``$ref`` keeps the schema within what Gemini's
``response_json_schema`` and Ollama's ``format`` handle too.

Sources:
    https://platform.openai.com/docs/guides/structured-outputs#supported-schemas
    https://ai.google.dev/gemini-api/docs/structured-output
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

_DROP_KEYS = frozenset({"default", "title"})


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return ``model``'s JSON schema inlined and made strict (a fresh copy of a cached build).

    Args:
        model: A pydantic model class (e.g. ``PostAnalysis``).

    Returns:
        A JSON schema dict with no ``$ref``/``$defs``, every object closed
        (``additionalProperties: false``) and all its properties required.

    """
    return copy.deepcopy(_strict_json_schema(model))


@functools.lru_cache(maxsize=32)
def _strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema()
    defs: dict[str, Any] = raw.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = str(node["$ref"]).rsplit("/", 1)[-1]
                return walk(copy.deepcopy(defs[name]))
            out = {k: walk(v) for k, v in node.items() if k not in _DROP_KEYS}
            if out.get("type") == "object" and "properties" in out:
                out["required"] = list(out["properties"])
                out["additionalProperties"] = False
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    result: dict[str, Any] = walk(raw)
    return result
