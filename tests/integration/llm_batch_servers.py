"""A loopback server that speaks OpenAI's Files and Batch protocol and Anthropic's Message Batches.

Paths served, as https://platform.openai.com/docs/api-reference/batch documents them:

* ``POST /v1/files`` (multipart, ``purpose=batch``) → a file object;
* ``POST /v1/batches`` → a batch in ``validating``; ``GET /v1/batches/<id>`` moves it one
  state per poll: ``validating`` → ``in_progress`` → ``finalizing`` → the final outcome;
* ``POST /v1/batches/<id>/cancel``;
* ``GET /v1/files/<id>/content`` → the input file, or the output / error JSONL files;
* Anthropic: ``POST /v1/messages/batches`` (the requests in the body), ``GET
  /v1/messages/batches/<id>`` (``in_progress`` twice, then ``ended``), ``GET
  /v1/messages/batches/<id>/results`` (``succeeded`` / ``errored`` / ``expired`` /
  ``canceled`` lines), ``POST /v1/messages`` (synchronous);
* Gemini Batch Mode (the REST shapes the ``google-genai`` SDK reads): ``POST
  /v1beta/models/<model>:batchGenerateContent`` (inline requests) → an operation
  ``{"name": "batches/<id>", "metadata": {"state": "BATCH_STATE_PENDING", …}}``;
  ``GET /v1beta/batches/<id>`` (``PENDING``, ``RUNNING``, then the outcome: ``SUCCEEDED``
  with ``metadata.output.inlinedResponses.inlinedResponses`` in request order, each with
  its request's ``metadata``; ``EXPIRED`` and ``FAILED`` with no output;
  ``CANCELLED`` after ``POST /v1beta/batches/<id>:cancel``); ``POST
  /v1beta/models/<model>:generateContent`` (synchronous);
* ``POST /v1/responses``, ``/v1/chat/completions``: the synchronous answers of
  :mod:`tests.integration.llm_servers` (the fallback path).

Scripting:

* :attr:`FakeOpenAIBatchServer.outcome`: ``completed`` (default), ``expired`` (the first
  half of the requests answered, the rest ``batch_expired`` in the error file),
  ``cancelled`` (the same with ``batch_cancelled``) or ``failed`` (validation failed, no
  file at all);
* :meth:`FakeOpenAIBatchServer.fail_requests`: per-request errors inside the results,
  by position in the input (``500`` → an output line with ``status_code`` 500; ``error`` →
  an error-file line; ``invalid`` → a 200 answer whose JSON misses fields; ``missing`` →
  no line at all).

:attr:`FakeOpenAIBatchServer.hold` keeps every batch ``in_progress`` until cleared.

Answers report ``cached_tokens`` = :attr:`FakeOpenAIBatchServer.cached_tokens` so cost
with cache prices can be checked. Every request is logged (:attr:`requests`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration.llm_servers import (
    RecordedRequest,
    _anthropic_messages,
    _gemini,
    _openai_chat,
    _openai_responses,
)

_STEPS = ("validating", "in_progress", "finalizing")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keep test output quiet."""

    def _read(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _log(self, method: str, body: Any) -> None:
        with self.server.fake.lock:
            self.server.fake.log.append(
                RecordedRequest(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )

    def do_POST(self) -> None:
        """Upload, batch create, cancel, or a synchronous answer."""
        raw = self._read()
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        if path == "/v1/files":
            self._log("POST", "<multipart>")
            self._json(200, fake.upload(self.headers.get("content-type", ""), raw))
            return
        body = json.loads(raw) if raw else {}
        self._log("POST", body)
        if path.startswith("/v1beta/"):
            self._gemini_post(path, body)
        elif path == "/v1/messages/batches":
            self._json(200, fake.create_message_batch(body))
        elif path.startswith("/v1/messages/batches/") and path.endswith("/cancel"):
            self._json(200, fake.cancel(path.split("/")[4]))
        elif path == "/v1/messages":
            self._json(200, _anthropic_messages(body, "ok", path))
        elif path == "/v1/batches":
            self._json(200, fake.create_batch(body))
        elif path.startswith("/v1/batches/") and path.endswith("/cancel"):
            self._json(200, fake.cancel(path.split("/")[3]))
        elif path == "/v1/responses":
            self._json(200, fake.sync_answer(_openai_responses, body))
        elif path == "/v1/chat/completions":
            self._json(200, fake.sync_answer(_openai_chat, body))
        else:
            self._json(404, {"error": {"message": f"no route {path}"}})

    def _gemini_post(self, path: str, body: dict[str, Any]) -> None:
        fake = self.server.fake
        if path.startswith("/v1beta/models/") and path.endswith(":batchGenerateContent"):
            self._json(200, fake.create_gemini_batch(path, body))
        elif path.startswith("/v1beta/batches/") and path.endswith(":cancel"):
            self._json(200, fake.cancel_gemini_batch(path.split("/")[3].removesuffix(":cancel")))
        elif path.startswith("/v1beta/models/") and path.endswith(":generateContent"):
            self._json(200, _gemini(body, "ok", path))
        else:
            self._json(404, {"error": {"message": f"no route {path}"}})

    def do_GET(self) -> None:
        """Batch status, or a file's content."""
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        self._log("GET", None)
        parts = path.split("/")
        if path.startswith("/v1beta/batches/"):
            self._json(200, fake.poll_gemini_batch(parts[3]))
        elif path.startswith("/v1/messages/batches/") and path.endswith("/results"):
            self._bytes(200, fake.message_results(parts[4]), "application/binary")
        elif path.startswith("/v1/messages/batches/"):
            self._json(200, fake.poll(parts[4]))
        elif path.startswith("/v1/batches/") and len(parts) == 4:
            self._json(200, fake.poll(parts[3]))
        elif path.startswith("/v1/files/") and path.endswith("/content"):
            data = fake.files.get(parts[3])
            if data is None:
                self._json(404, {"error": {"message": "no such file"}})
                return
            self._bytes(200, data, "application/octet-stream")
        else:
            self._json(404, {"error": {"message": f"no route {path}"}})

    def _json(self, status: int, payload: Any) -> None:
        self._bytes(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    def _bytes(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAIBatchServer


class FakeOpenAIBatchServer:
    """OpenAI's Files + Batch protocol on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, outcome: str = "completed", cached_tokens: int = 0) -> None:
        """Initialise; not serving until :meth:`start`."""
        self.outcome = outcome
        self.cached_tokens = cached_tokens
        self.hold = False
        self.lock = threading.Lock()
        self.log: list[RecordedRequest] = []
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._request_errors: dict[int, str] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    def start(self) -> FakeOpenAIBatchServer:
        """Serve in a thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (what the SDK's ``base_url`` expects)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log."""
        with self.lock:
            return list(self.log)

    def fail_requests(self, errors: dict[int, str]) -> None:
        """Script per-request errors by input position: ``500``, ``error``, ``invalid``, ``missing``.

        Gemini also knows ``nokey``: a response without its request's ``metadata``.
        """
        self._request_errors = dict(errors)

    # --- protocol ---------------------------------------------------------------------------

    def upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        """Store a multipart upload; return the file object."""
        head = f"content-type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=policy.default).parsebytes(head + raw)
        data, purpose, name = b"", "", "upload.jsonl"
        for part in message.iter_parts():
            field = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if field == "file":
                data, name = payload, part.get_filename() or name
            elif field == "purpose":
                purpose = payload.decode()
        file_id = f"file-{uuid.uuid4().hex[:12]}"
        with self.lock:
            self.files[file_id] = data
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }

    def create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a batch on an uploaded file."""
        batch_id = f"batch_{uuid.uuid4().hex[:12]}"
        lines = [json.loads(x) for x in self.files[body["input_file_id"]].splitlines() if x.strip()]
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        with self.lock:
            self.batches[batch_id] = batch
            self._polls[batch_id] = 0
        return batch

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """Cancel a batch (it ends ``cancelled`` at the next poll)."""
        with self.lock:
            batch = self.batches[batch_id]
            if batch_id.startswith("msgbatch_"):
                batch["processing_status"] = "canceling"
                return {k: v for k, v in batch.items() if k not in {"requests", "results"}}
            batch["status"] = "cancelling"
        return batch

    def poll(self, batch_id: str) -> dict[str, Any]:
        """Advance the batch one state per poll and return it."""
        if batch_id.startswith("msgbatch_"):
            return self._poll_message_batch(batch_id)
        with self.lock:
            batch = self.batches[batch_id]
            if batch["status"] in {"completed", "expired", "cancelled", "failed"}:
                return batch
            step = self._polls[batch_id]
            if self.hold and step >= 1:
                batch["status"] = "in_progress"
                return batch
            self._polls[batch_id] = step + 1
            if self.outcome == "failed" and step >= 1:
                batch["status"] = "failed"
                batch["errors"] = {
                    "object": "list",
                    "data": [{"code": "invalid_file", "message": "scripted"}],
                }
                return batch
            if step < len(_STEPS) and batch["status"] != "cancelling":
                batch["status"] = _STEPS[step]
                total = batch["request_counts"]["total"]
                batch["request_counts"]["completed"] = total * step // len(_STEPS)
                return batch
            self._finish(batch)
            return batch

    def _finish(self, batch: dict[str, Any]) -> None:
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].splitlines() if x.strip()]
        outcome = "cancelled" if batch["status"] == "cancelling" else self.outcome
        answered = len(lines) if outcome == "completed" else len(lines) // 2
        out, err = [], []
        for index, line in enumerate(lines):
            rid = f"batch_req_{uuid.uuid4().hex[:8]}"
            if index >= answered:
                code = "batch_expired" if outcome == "expired" else "batch_cancelled"
                err.append(
                    {
                        "id": rid,
                        "custom_id": line["custom_id"],
                        "response": None,
                        "error": {"code": code, "message": f"scripted {code}"},
                    }
                )
                continue
            kind = self._request_errors.get(index, "ok")
            if kind == "missing":
                continue
            if kind == "error":
                err.append(
                    {
                        "id": rid,
                        "custom_id": line["custom_id"],
                        "response": None,
                        "error": {"code": "server_error", "message": "scripted"},
                    }
                )
                continue
            if kind == "500":
                out.append(
                    {
                        "id": rid,
                        "custom_id": line["custom_id"],
                        "error": None,
                        "response": {
                            "status_code": 500,
                            "request_id": rid,
                            "body": {"error": {"message": "scripted 500", "type": "server_error"}},
                        },
                    }
                )
                continue
            route = _openai_responses if line["url"] == "/v1/responses" else _openai_chat
            body = self._with_cache(
                route(line["body"], "invalid" if kind == "invalid" else "ok", line["url"])
            )
            out.append(
                {
                    "id": rid,
                    "custom_id": line["custom_id"],
                    "error": None,
                    "response": {"status_code": 200, "request_id": rid, "body": body},
                }
            )
        for key, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = f"file-{uuid.uuid4().hex[:12]}"
                self.files[file_id] = b"".join(
                    json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows
                )
                batch[key] = file_id
        batch["status"] = outcome
        batch["request_counts"] = {
            "total": len(lines),
            "completed": len(out),
            "failed": len(lines) - len(out),
        }

    # --- Anthropic Message Batches ----------------------------------------------------------

    def create_message_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a Message Batch from the requests in the body."""
        batch_id = f"msgbatch_{uuid.uuid4().hex[:12]}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        batch = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {
                "processing": len(body["requests"]),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": now,
            "expires_at": now,
            "ended_at": None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
            "requests": body["requests"],
        }
        with self.lock:
            self.batches[batch_id] = batch
            self._polls[batch_id] = 0
        return {k: v for k, v in batch.items() if k != "requests"}

    def _poll_message_batch(self, batch_id: str) -> dict[str, Any]:
        with self.lock:
            batch = self.batches[batch_id]
            step = self._polls[batch_id]
            if batch["processing_status"] != "ended" and not (self.hold and step >= 1):
                self._polls[batch_id] = step + 1
                if step >= 2 or batch["processing_status"] == "canceling":
                    self._end_message_batch(batch)
            return {k: v for k, v in batch.items() if k not in {"requests", "results"}}

    def _end_message_batch(self, batch: dict[str, Any]) -> None:
        requests = batch["requests"]
        outcome = "cancelled" if batch["processing_status"] == "canceling" else self.outcome
        answered = len(requests) if outcome == "completed" else len(requests) // 2
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        lines = []
        for index, request in enumerate(requests):
            kind = self._request_errors.get(index, "ok") if index < answered else outcome
            if kind == "missing":
                continue
            if kind in {"expired", "cancelled"}:
                key = "expired" if kind == "expired" else "canceled"
                counts[key] += 1
                result: dict[str, Any] = {"type": key}
            elif kind in {"500", "error"}:
                counts["errored"] += 1
                result = {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": "api_error", "message": "scripted"}},
                }
            else:
                counts["succeeded"] += 1
                message = _anthropic_messages(request["params"], "invalid" if kind == "invalid" else "ok", "")
                result = {"type": "succeeded", "message": message}
            lines.append({"custom_id": request["custom_id"], "result": result})
        batch["results"] = b"".join(json.dumps(x, ensure_ascii=False).encode() + b"\n" for x in lines)
        batch["processing_status"] = "ended"
        batch["request_counts"] = counts
        batch["results_url"] = f"{self.base_url}/messages/batches/{batch['id']}/results"

    def message_results(self, batch_id: str) -> bytes:
        """The ``.jsonl`` results of an ended Message Batch."""
        return bytes(self.batches[batch_id].get("results", b""))

    # --- Gemini Batch Mode --------------------------------------------------------------------

    def create_gemini_batch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a batch from inline requests; answer with its operation."""
        batch_id = f"gembatch{uuid.uuid4().hex[:12]}"
        model = path.split("/models/", 1)[1].split(":", 1)[0]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        batch = {
            "model": f"models/{model}",
            "displayName": body["batch"].get("displayName", ""),
            "createTime": now,
            "updateTime": now,
            "state": "BATCH_STATE_PENDING",
            "requests": body["batch"]["inputConfig"]["requests"]["requests"],
        }
        with self.lock:
            self.batches[batch_id] = batch
            self._polls[batch_id] = 0
        return self._gemini_operation(batch_id, batch)

    def cancel_gemini_batch(self, batch_id: str) -> dict[str, Any]:
        """Cancel a batch (it ends ``CANCELLED``, without output, at the next poll)."""
        with self.lock:
            self.batches[batch_id]["cancel"] = True
        return {}

    def poll_gemini_batch(self, batch_id: str) -> dict[str, Any]:
        """``PENDING`` → ``RUNNING`` → the outcome, one state per poll."""
        with self.lock:
            batch = self.batches[batch_id]
            step = self._polls[batch_id]
            ended = batch["state"] not in {"BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"}
            if not ended and not (self.hold and step >= 1):
                self._polls[batch_id] = step + 1
                if batch.get("cancel"):
                    batch["state"] = "BATCH_STATE_CANCELLED"
                elif step == 0:
                    batch["state"] = "BATCH_STATE_RUNNING"
                else:
                    self._end_gemini_batch(batch)
            return self._gemini_operation(batch_id, batch)

    def _end_gemini_batch(self, batch: dict[str, Any]) -> None:
        if self.outcome in {"expired", "failed"}:
            batch["state"] = f"BATCH_STATE_{self.outcome.upper()}"
            if self.outcome == "failed":
                batch["error"] = {"code": 3, "message": "scripted failure"}
            return
        responses = []
        for index, item in enumerate(batch["requests"]):
            kind = self._request_errors.get(index, "ok")
            if kind == "missing":
                continue
            entry: dict[str, Any] = {}
            if kind != "nokey" and item.get("metadata") is not None:
                entry["metadata"] = item["metadata"]
            if kind in {"500", "error"}:
                entry["error"] = {"code": 13, "message": "scripted internal error"}
            else:
                path = f"/v1beta/{batch['model']}:generateContent"
                answer = _gemini(item["request"], "invalid" if kind == "invalid" else "ok", path)
                entry["response"] = answer
            responses.append(entry)
        batch["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        batch["state"] = "BATCH_STATE_SUCCEEDED"

    @staticmethod
    def _gemini_operation(batch_id: str, batch: dict[str, Any]) -> dict[str, Any]:
        name = f"batches/{batch_id}"
        metadata = {k: v for k, v in batch.items() if k not in {"requests", "cancel", "error"}}
        metadata |= {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"}
        metadata["name"] = name
        operation: dict[str, Any] = {"name": name, "metadata": metadata}
        if batch["state"] not in {"BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"}:
            operation["done"] = True
            if "error" in batch:
                operation["error"] = batch["error"]
        return operation

    def _with_cache(self, body: dict[str, Any]) -> dict[str, Any]:
        usage = body.get("usage") or {}
        if "input_tokens" in usage:
            usage["input_tokens_details"] = {
                "cached_tokens": min(self.cached_tokens, usage["input_tokens"]),
                "cache_write_tokens": 0,
            }
        elif "prompt_tokens" in usage:
            usage["prompt_tokens_details"] = {
                "cached_tokens": min(self.cached_tokens, usage["prompt_tokens"])
            }
        return body

    def sync_answer(self, route: Any, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous answer (same tokens as the batch answer of the same request)."""
        return self._with_cache(route(body, "ok", ""))
