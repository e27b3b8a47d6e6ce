"""GeminiBatchClient through the real ``google-genai`` SDK against the loopback batch server.

Covers what the CLI tests in ``tests/e2e/test_llm_batch.py`` do not reach: the
state mapping step by step, cancel, a failed job's reason, the request each
inline entry becomes on the wire.
"""

from __future__ import annotations

import pytest

from tests.integration.llm_batch_servers import FakeOpenAIBatchServer
from tg_parser.domain import PostAnalysis
from tg_parser.llm.gemini import GeminiProvider
from tg_parser.llm.gemini_batch import KEY, GeminiBatchClient
from tg_parser.llm.schema import strict_json_schema

pytestmark = pytest.mark.integration


def _client(server: FakeOpenAIBatchServer) -> GeminiBatchClient:
    provider = GeminiProvider(
        model="gemini-2.5-flash", api_key="g-test", base_url=server.base_url.removesuffix("/v1")
    )
    return GeminiBatchClient(provider)


def _submit(client: GeminiBatchClient, n: int) -> str:
    schema = strict_json_schema(PostAnalysis)
    lines = (
        client.request_line(
            custom_id=f"p{i}-abcdef", system="instructions", user=f"Post:\n\npost {i}", schema=schema
        )
        for i in range(n)
    )
    input_file, name = client.submit(lines, label="run:0")
    assert input_file is None
    return name


def test_states_results_in_order_with_keys() -> None:
    """PENDING/RUNNING → in_progress, SUCCEEDED → completed; answers keyed by metadata, errors kept."""
    server = FakeOpenAIBatchServer().start()
    server.fail_requests({1: "error", 2: "nokey"})
    try:
        client = _client(server)
        name = _submit(client, 4)
        assert name.startswith("batches/")
        (create,) = [r for r in server.requests if r.method == "POST"]
        assert create.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
        sent = create.body["batch"]["inputConfig"]["requests"]["requests"]
        assert [r["metadata"][KEY] for r in sent] == [f"p{i}-abcdef" for i in range(4)]
        assert sent[0]["request"]["systemInstruction"]["parts"][0]["text"] == "instructions"
        assert sent[0]["request"]["generationConfig"]["responseMimeType"] == "application/json"
        assert client.state(name).status == "in_progress"
        done = client.state(name)
        assert (done.status, done.terminal, done.completed, done.failed) == ("completed", True, 3, 1)
        results = list(client.results(name))
        assert [r.custom_id for r in results] == ["p0-abcdef", "p1-abcdef", "", "p3-abcdef"]
        assert results[0].reply is not None
        assert results[0].reply.input_tokens > 0
        assert results[1].reply is None
        assert "scripted internal error" in (results[1].error or "")
        assert results[2].reply is None
        assert "no key" in (results[2].error or "")
    finally:
        server.stop()


def test_cancel_and_failed_job() -> None:
    """A cancelled job ends `cancelled` with no answers; a failed one `failed` with a reason."""
    server = FakeOpenAIBatchServer().start()
    try:
        client = _client(server)
        name = _submit(client, 2)
        client.cancel(name)
        state = client.state(name)
        assert (state.status, state.terminal) == ("cancelled", True)
        assert list(client.results(name)) == []
        server.outcome = "failed"
        failed = _submit(client, 2)
        client.state(failed)
        state = client.state(failed)
        assert (state.status, state.terminal, state.error) == ("failed", True, "JOB_STATE_FAILED")
        assert list(client.results(failed)) == []
    finally:
        server.stop()
