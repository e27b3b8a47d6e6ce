"""Loopback HTTP servers that speak the wire protocols of the LLM providers.

One :class:`FakeLLMServer` per provider, on 127.0.0.1 and a free port, in a
thread. The real SDKs are pointed at it (``base_url`` / ``host``), so tests see
exactly what the SDK sends and the SDK parses exactly what a provider would
return. Paths served:

* openai: ``POST /v1/responses``, ``/v1/chat/completions``, ``/v1/embeddings``
* anthropic: ``POST /v1/messages``
* gemini: ``POST /v1beta/models/<model>:generateContent``, ``:embedContent``, ``:batchEmbedContents``
* ollama: ``POST /api/chat``, ``/api/embed``

Behaviours are scripted per request in order (:meth:`FakeLLMServer.script`);
when the script is empty the server answers ``ok``:

* ``ok``: a valid answer derived from the request's post (or topic sample);
* ``malformed``: text that is not JSON; ``invalid``: JSON that misses fields;
* ``huge``: a valid answer whose text field is over 1 MiB; ``nul``: one with a
  NUL character (``\u0000``); ``surrogate``: one with a lone surrogate (``\ud800``);
* ``429`` (``Retry-After: 1``), ``429:<s>``, ``429ms:<ms>`` (``retry-after-ms``),
  ``429date:<s>`` (an HTTP date ``s`` seconds ahead);
* ``500``, ``503``, ``400``, ``401``, ``404``;
* ``slow:<s>``: sleep ``s`` seconds, then ``ok``.

Every request is logged (:attr:`FakeLLMServer.requests`).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROVIDERS = ("openai", "anthropic", "gemini", "ollama")
EMBEDDING_DIM = 384

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_WORD = re.compile(r"[^\W\d_]{4,}")
_EMBED_WORD = re.compile(r"[^\W\d_]{3,}")
_LINK = re.compile(r"https?://\S+")
_HASHTAG = re.compile(r"#[^\W_][\w]*")


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    behaviour: str = "ok"


@dataclass
class _State:
    provider: str
    default: str = "ok"
    behaviours: deque[str] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_from_text(text: str) -> str:
    """Return the post inside a user turn built by the LLM processor."""
    text = text.removeprefix("Post:\n\n")
    return text.split("\n\nLinks in the post:", 1)[0]


def analysis_for(post: str) -> dict[str, Any]:
    """Return a valid PostAnalysis JSON object derived from a post."""
    language = "ru" if len(_CYRILLIC.findall(post)) > len(re.findall(r"[A-Za-z]", post)) else "en"
    first = post.strip().split("\n", 1)[0].strip() or post.strip() or "empty"
    words: list[str] = []
    for word in _WORD.findall(_LINK.sub(" ", post)):
        if word.lower() not in words:
            words.append(word.lower())
    entities = [{"text": link, "type": "link"} for link in _LINK.findall(post)[:3]]
    entities += [{"text": tag, "type": "hashtag"} for tag in _HASHTAG.findall(post)[:3]]
    return {
        "language": language,
        "summary": first[:200],
        "keywords": sorted(words, key=len, reverse=True)[:5] or ["post"],
        "entities": entities,
    }


def label_for(text: str) -> dict[str, Any]:
    """Return a valid TopicLabel JSON object derived from a topic prompt."""
    keywords = text.split("\n", 1)[0].removeprefix("Keywords: ").split(", ")
    return {"label": " ".join(keywords[:3]) or "topic", "summary": f"Posts about {', '.join(keywords[:5])}."}


def answer_for(schema: dict[str, Any] | None, user_text: str) -> dict[str, Any]:
    """Return a valid answer for the schema asked (post analysis or topic label)."""
    properties = (schema or {}).get("properties", {})
    if "label" in properties:
        return label_for(user_text)
    return analysis_for(post_from_text(user_text))


def vector_for(text: str) -> list[float]:
    """Return a deterministic embedding of a text: a hashed bag of words, unit length.

    Each word of three letters or more counts, by its first five letters (so inflected forms meet),
    in one of :data:`EMBEDDING_DIM` slots with a sign, both from its SHA-256; posts sharing words get
    close vectors. A text with no such word gets a slot from the hash of the whole text.
    """
    vector = [0.0] * EMBEDDING_DIM
    words = [w.lower()[:5] for w in _EMBED_WORD.findall(text)] or [text]
    for word in words:
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        slot = int.from_bytes(digest[:4], "little") % EMBEDDING_DIM
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vector]


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
    # algorithm meets the client's delayed ACK and adds ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep test output quiet."""

    def do_POST(self) -> None:
        """Serve one provider request according to the script."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        state = self.server.state
        with state.lock:
            behaviour = state.behaviours.popleft() if state.behaviours else state.default
            state.requests.append(
                RecordedRequest(
                    method="POST",
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    behaviour=behaviour,
                )
            )
        kind, _, arg = behaviour.partition(":")
        if kind == "slow":
            time.sleep(float(arg or 2))
            kind = "ok"
        if kind.startswith("429") or kind in {"500", "503", "400", "401", "404"}:
            self._error(kind, arg)
            return
        route = _route(state.provider, self.path)
        if route is None:
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        self._json(200, route(body if isinstance(body, dict) else {}, kind, self.path))

    def _error(self, kind: str, arg: str) -> None:
        status = int(kind[:3])
        headers: dict[str, str] = {}
        if kind == "429":
            headers["retry-after"] = arg or "1"
        elif kind == "429ms":
            headers["retry-after-ms"] = arg or "1000"
        elif kind == "429date":
            headers["retry-after"] = email.utils.formatdate(time.time() + float(arg or 2), usegmt=True)
        provider = self.server.state.provider
        message = f"scripted {status}"
        if provider == "anthropic":
            kinds = {429: "rate_limit_error", 500: "api_error", 503: "overloaded_error"}
            body: Any = {
                "type": "error",
                "error": {"type": kinds.get(status, "invalid_request_error"), "message": message},
            }
        elif provider == "gemini":
            statuses = {
                429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL",
                503: "UNAVAILABLE",
                400: "INVALID_ARGUMENT",
            }
            body = {
                "error": {
                    "code": status,
                    "message": message,
                    "status": statuses.get(status, "FAILED_PRECONDITION"),
                }
            }
        elif provider == "ollama":
            body = {"error": message}
        else:
            body = {"error": {"message": message, "type": "scripted", "code": str(status)}}
        self._json(status, body, headers)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        try:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: sent as a \u escape, as JSON allows
            data = json.dumps(payload).encode("ascii")
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


def _answer_text(schema: Any, user_text: str, kind: str) -> str:
    if kind == "malformed":
        return "Sure! Here is the analysis: {language: ru"
    if kind == "invalid":
        return json.dumps({"keywords": "not a list"})
    if kind in {"huge", "nul", "surrogate"}:
        answer = answer_for(schema, user_text)
        key = "summary" if "summary" in answer else next(k for k, v in answer.items() if isinstance(v, str))
        answer[key] = {
            "huge": "x" * (1024 * 1024 + 10),
            "nul": "before\x00after",
            "surrogate": "before\ud800after",
        }[kind]
        # json.dumps writes NUL and a lone surrogate as \u escapes, as a provider would.
        return json.dumps(answer)
    return json.dumps(answer_for(schema, user_text), ensure_ascii=False)


def _first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


# --- OpenAI -----------------------------------------------------------------------------------------


def _openai_responses(body: dict[str, Any], kind: str, _path: str) -> dict[str, Any]:
    inputs = body.get("input")
    user_text = inputs if isinstance(inputs, str) else _first_user_text(inputs or [])
    schema = (((body.get("text") or {}).get("format")) or {}).get("schema")
    text = _answer_text(schema, user_text, kind)
    in_tokens, out_tokens = _tokens(body), _tokens(text)
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": int(time.time()),
        "model": body.get("model"),
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_fake",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": in_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": in_tokens + out_tokens,
        },
    }


def _openai_chat(body: dict[str, Any], kind: str, _path: str) -> dict[str, Any]:
    user_text = _first_user_text(body.get("messages") or [])
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    text = _answer_text(schema, user_text, kind)
    in_tokens, out_tokens = _tokens(body), _tokens(text)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": in_tokens,
            "completion_tokens": out_tokens,
            "total_tokens": in_tokens + out_tokens,
        },
    }


def _openai_embeddings(body: dict[str, Any], _kind: str, _path: str) -> dict[str, Any]:
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    data = []
    for index, text in enumerate(texts):
        vector = vector_for(str(text))
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        else:
            encoded = vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = _tokens(texts)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --- Anthropic --------------------------------------------------------------------------------------


def _anthropic_messages(body: dict[str, Any], kind: str, _path: str) -> dict[str, Any]:
    user_text = _first_user_text(body.get("messages") or [])
    tools = body.get("tools") or []
    tool = tools[0] if tools else {}
    if kind == "malformed":
        content: list[dict[str, Any]] = [{"type": "text", "text": _answer_text(None, user_text, kind)}]
    else:
        answer = json.loads(_answer_text(tool.get("input_schema"), user_text, kind))
        content = [
            {"type": "tool_use", "id": "toolu_fake", "name": tool.get("name", "answer"), "input": answer}
        ]
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": _tokens(body), "output_tokens": _tokens(content)},
    }


# --- Gemini -----------------------------------------------------------------------------------------


def _gemini(body: dict[str, Any], kind: str, path: str) -> dict[str, Any]:
    if path.split("?", 1)[0].endswith(":batchEmbedContents"):
        requests = body.get("requests") or []
        return {
            "embeddings": [
                {"values": vector_for("".join(p.get("text", "") for p in r["content"]["parts"]))}
                for r in requests
            ]
        }
    if path.split("?", 1)[0].endswith(":embedContent"):
        parts = (body.get("content") or {}).get("parts") or []
        return {"embedding": {"values": vector_for("".join(p.get("text", "") for p in parts))}}
    contents = body.get("contents") or []
    first = contents[0] if contents else {}
    user_text = "".join(p.get("text", "") for p in first.get("parts", []))
    schema = (body.get("generationConfig") or {}).get("responseJsonSchema")
    text = _answer_text(schema, user_text, kind)
    in_tokens, out_tokens = _tokens(body), _tokens(text)
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": in_tokens,
            "candidatesTokenCount": out_tokens,
            "totalTokenCount": in_tokens + out_tokens,
        },
        "modelVersion": path.split("/models/", 1)[-1].split(":", 1)[0],
    }


# --- Ollama -----------------------------------------------------------------------------------------


def _ollama_chat(body: dict[str, Any], kind: str, _path: str) -> dict[str, Any]:
    user_text = _first_user_text(body.get("messages") or [])
    schema = body.get("format") if isinstance(body.get("format"), dict) else None
    text = _answer_text(schema, user_text, kind)
    return {
        "model": body.get("model"),
        "created_at": "2024-12-04T09:00:28.000000Z",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "prompt_eval_count": _tokens(body),
        "eval_count": _tokens(text),
    }


def _ollama_embed(body: dict[str, Any], _kind: str, _path: str) -> dict[str, Any]:
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    return {
        "model": body.get("model"),
        "embeddings": [vector_for(str(t)) for t in texts],
        "prompt_eval_count": _tokens(texts),
    }


def _route(provider: str, path: str) -> Any:
    bare = path.split("?", 1)[0]
    table: dict[str, dict[str, Any]] = {
        "openai": {
            "/v1/responses": _openai_responses,
            "/v1/chat/completions": _openai_chat,
            "/v1/embeddings": _openai_embeddings,
        },
        "anthropic": {"/v1/messages": _anthropic_messages},
        "ollama": {"/api/chat": _ollama_chat, "/api/embed": _ollama_embed},
    }
    if provider == "gemini":
        if bare.startswith("/v1beta/models/") and bare.endswith(
            (":generateContent", ":embedContent", ":batchEmbedContents")
        ):
            return _gemini
        return None
    return table[provider].get(bare)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows when a benchmark or a
    # concurrent run opens 8-32 connections at once.
    request_queue_size = 128
    state: _State


class FakeLLMServer:
    """A loopback server speaking one provider's wire protocol.

    Args:
        provider: ``openai``, ``anthropic``, ``gemini`` or ``ollama``.
        default: Behaviour when the script is empty (e.g. ``slow:0.2`` for a
            fixed latency in benchmarks).

    """

    def __init__(self, provider: str, *, default: str = "ok") -> None:
        """Initialise; the arguments are described in the class docstring."""
        if provider not in PROVIDERS:
            raise ValueError(provider)
        self.provider = provider
        self._state = _State(provider=provider, default=default)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self._state
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{provider}",
            daemon=True,
        )
        self._running = False

    def start(self) -> FakeLLMServer:
        """Start serving in a thread; returns self."""
        self._thread.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The base URL the provider's SDK expects (OpenAI's includes ``/v1``)."""
        return f"{self.url}/v1" if self.provider == "openai" else self.url

    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next requests, in order."""
        with self._state.lock:
            self._state.behaviours.extend(behaviours)

    def reset(self) -> None:
        """Forget scripted behaviours and the request log."""
        with self._state.lock:
            self._state.behaviours.clear()
            self._state.requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log."""
        with self._state.lock:
            return list(self._state.requests)
