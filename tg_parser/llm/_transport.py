"""Transport-level exception classes of the HTTP libraries the SDKs use.

openai and anthropic wrap these; google-genai and ollama let some through
(timeouts, read errors). Both ``httpx`` and its fork ``httpx2`` may be in use.
"""

from __future__ import annotations

import importlib


def transport_errors() -> tuple[type[BaseException], ...]:
    """Return ``TransportError`` (timeouts, connect and read errors) of httpx and httpx2 when installed.

    Returns:
        A tuple usable in ``except``.

    """
    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)
