# Russian posts are the test data; Cyrillic letters are intended
"""The four providers through their real SDKs against loopback servers speaking each wire protocol."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.integration.llm_servers import FakeLLMServer
from tg_parser.config.llm import LLMSettings
from tg_parser.domain import Message, PostAnalysis
from tg_parser.errors import ConfigurationError, PermanentError, RetryableError
from tg_parser.llm import LLMOutputError, LLMProcessor, build_processor, build_runtime

CONFIGS = {
    "openai-gpt5": ("openai", "gpt-5-mini"),
    "openai-chat": ("openai", "gpt-4.1-mini"),
    "anthropic": ("anthropic", "claude-haiku-4-5"),
    "gemini": ("gemini", "gemini-2.5-flash"),
    "ollama": ("ollama", "llama3.1"),
}
RU_POST = (
    "Почти три миллиарда лет назад на обратной стороне Луны извергались вулканы. "
    "Об этом говорят образцы, которые доставил «Чанъэ-6». #наука https://naked-science.ru/article/x"
)


def settings_for(server: FakeLLMServer, model: str, **extra) -> LLMSettings:
    """Return settings that point the provider's SDK at the loopback server."""
    endpoint = {
        "openai": {"openai_api_key": "sk-test", "openai_base_url": server.base_url},
        "anthropic": {"anthropic_api_key": "sk-ant-test", "anthropic_base_url": server.base_url},
        "gemini": {"gemini_api_key": "g-test", "gemini_base_url": server.base_url},
        "ollama": {"ollama_host": server.base_url},
    }[server.provider]
    values = {"llm_provider": server.provider, "llm_model": model, "llm_timeout_s": 5.0, **endpoint, **extra}
    return LLMSettings(_env_file=None, **values)


@pytest.fixture(params=list(CONFIGS), ids=list(CONFIGS))
def config(request):
    """(server, model) for each provider configuration; the server is stopped afterwards."""
    provider, model = CONFIGS[request.param]
    server = FakeLLMServer(provider).start()
    yield server, model
    server.stop()


def post(text: str = RU_POST, message_id: int = 1) -> Message:
    """Return a post of the Naked Science channel."""
    return Message(
        channel_id=1000724666, message_id=message_id, date=datetime(2024, 12, 4, tzinfo=UTC), text=text
    )


def test_valid_analysis_with_usage(config):
    """Each provider returns a validated analysis and usage naming provider, model, tokens and cost."""
    server, model = config
    processor = build_processor(settings_for(server, model), redis_url=None)
    result = processor.process(post())
    assert isinstance(result.analysis, PostAnalysis)
    assert result.analysis.language == "ru"
    assert result.analysis.summary.startswith("Почти три миллиарда")
    (usage,) = result.usage
    assert (usage.provider, usage.model) == (server.provider, model)
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.latency_ms > 0
    assert usage.cost_usd is not None
    assert len(server.requests) == 1


def test_gpt5_goes_to_responses_with_effort_and_no_temperature():
    """gpt-5 calls go to /v1/responses with effort, verbosity and a strict schema, no temperature."""
    server = FakeLLMServer("openai").start()
    try:
        settings = settings_for(server, "gpt-5-mini", llm_reasoning_effort="minimal", llm_verbosity="low")
        build_processor(settings, redis_url=None).process(post())
        (req,) = server.requests
        assert req.path == "/v1/responses"
        assert req.body["reasoning"] == {"effort": "minimal"}
        assert req.body["text"]["verbosity"] == "low"
        assert req.body["text"]["format"]["type"] == "json_schema"
        assert req.body["text"]["format"]["strict"] is True
        assert "temperature" not in req.body
        assert "top_p" not in req.body
        assert req.headers["authorization"] == "Bearer sk-test"
    finally:
        server.stop()


def test_other_openai_models_go_to_chat_completions_with_temperature():
    """gpt-4.1 calls go to /v1/chat/completions with temperature and a strict json_schema format."""
    server = FakeLLMServer("openai").start()
    try:
        build_processor(settings_for(server, "gpt-4.1-mini", llm_temperature=0.3), redis_url=None).process(
            post()
        )
        (req,) = server.requests
        assert req.path == "/v1/chat/completions"
        assert req.body["temperature"] == 0.3
        assert req.body["response_format"]["type"] == "json_schema"
        assert req.body["response_format"]["json_schema"]["strict"] is True
        assert "reasoning" not in req.body
        assert req.body["messages"][0]["role"] == "system"
    finally:
        server.stop()


def test_structured_output_is_requested_the_provider_way(config):
    """Each provider is sent the PostAnalysis schema in its own structured-output field."""
    server, model = config
    build_processor(settings_for(server, model), redis_url=None).process(post())
    body = server.requests[0].body
    if server.provider == "openai":
        schema = (
            body.get("text", {}).get("format", {}).get("schema")
            or body["response_format"]["json_schema"]["schema"]
        )
    elif server.provider == "anthropic":
        assert body["tool_choice"] == {"type": "tool", "name": "post_analysis"}
        schema = body["tools"][0]["input_schema"]
    elif server.provider == "gemini":
        assert server.requests[0].path == f"/v1beta/models/{model}:generateContent"
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        schema = body["generationConfig"]["responseJsonSchema"]
    else:
        assert body["stream"] is False
        schema = body["format"]
    assert set(schema["properties"]) == {"language", "summary", "keywords", "entities"}
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("behaviour", "expected_s"), [("429:2", 2.0), ("429ms:1500", 1.5), ("429date:30", 30.0)]
)
def test_429_is_retryable_with_retry_after_and_no_sdk_retry(config, behaviour, expected_s):
    """A 429 is a RetryableError carrying the server's wait, after one request (SDK retries off)."""
    server, model = config
    server.script(behaviour)
    processor = build_processor(settings_for(server, model), redis_url=None)
    with pytest.raises(RetryableError) as info:
        processor.process(post())
    assert info.value.retry_after_s == pytest.approx(expected_s, abs=1.5)
    assert len(server.requests) == 1


@pytest.mark.parametrize("behaviour", ["500", "503"])
def test_5xx_is_retryable_without_sdk_retry(config, behaviour):
    """5xx becomes RetryableError after one request."""
    server, model = config
    server.script(behaviour)
    with pytest.raises(RetryableError):
        build_processor(settings_for(server, model), redis_url=None).process(post())
    assert len(server.requests) == 1


@pytest.mark.parametrize("behaviour", ["400", "401", "404"])
def test_other_4xx_is_permanent(config, behaviour):
    """400/401/404 become PermanentError at once."""
    server, model = config
    server.script(behaviour)
    with pytest.raises(PermanentError):
        build_processor(settings_for(server, model), redis_url=None).process(post())
    assert len(server.requests) == 1


def test_slow_answer_times_out_as_retryable(config):
    """An answer slower than LLM_TIMEOUT_S is a RetryableError, raised near the timeout."""
    server, model = config
    server.script("slow:3")
    processor = build_processor(settings_for(server, model, llm_timeout_s=0.5), redis_url=None)
    start = time.monotonic()
    with pytest.raises(RetryableError):
        processor.process(post())
    assert time.monotonic() - start < 2.5
    assert len(server.requests) == 1


def test_connection_refused_is_retryable(config):
    """A provider that is down gives a RetryableError."""
    server, model = config
    settings = settings_for(server, model)
    server.stop()
    with pytest.raises(RetryableError):
        build_processor(settings, redis_url=None).process(post())


def test_malformed_answer_is_reasked(config):
    """A malformed answer is asked again and the second, valid one is returned."""
    server, model = config
    server.script("malformed")
    result = build_processor(settings_for(server, model), redis_url=None).process(post())
    assert result.analysis.language == "ru"
    assert len(result.usage) == 2
    assert len(server.requests) == 2
    assert "previous answer was not valid" in str(server.requests[1].body)


def test_invalid_answers_end_in_permanent_error(config):
    """Invalid answers past LLM_MAX_REASKS end in a PermanentError, never a crash."""
    server, model = config
    server.script("invalid", "malformed", "invalid")
    with pytest.raises(LLMOutputError):
        build_processor(settings_for(server, model, llm_max_reasks=2), redis_url=None).process(post())
    assert len(server.requests) == 3


def test_output_language_is_stated_in_the_prompt(config):
    """A Russian post asks for Russian; LLM_OUTPUT_LANGUAGE=en asks for English."""
    server, model = config
    build_processor(settings_for(server, model), redis_url=None).process(post())
    build_processor(settings_for(server, model, llm_output_language="en"), redis_url=None).process(post())
    first, second = (str(r.body) for r in server.requests)
    assert "in Russian" in first
    assert "in English" in second


def test_topic_label(config):
    """A topic gets a label and summary through the same provider and structured output."""
    server, model = config
    runtime = build_runtime(settings_for(server, model), redis_url=None)
    assert runtime is not None
    label, usage = runtime.label_topic(
        keywords=["луна", "вулканы", "Чанъэ"], sample_posts=[RU_POST, "Луна и вулканы"]
    )
    assert label.label
    assert label.summary
    assert usage[0].provider == server.provider
    assert "in Russian" in str(server.requests[0].body)


def test_embeddings(config):
    """OpenAI, Gemini and Ollama embed texts in order; Anthropic says it has no embeddings."""
    server, model = config
    runtime = build_runtime(settings_for(server, model), redis_url=None)
    assert runtime is not None
    if server.provider == "anthropic":
        with pytest.raises(ConfigurationError):
            runtime.embed(["a"])
        return
    vectors, usage = runtime.embed(["первый пост", "second post", "первый пост"])
    assert len(vectors) == 3
    assert vectors[0] == vectors[2] != vectors[1]
    assert usage[0].model == runtime.provider.embedding_model
    path = server.requests[-1].path
    expected = {"openai": "/v1/embeddings", "gemini": ":batchEmbedContents", "ollama": "/api/embed"}[
        server.provider
    ]
    assert expected in path


def test_llm_processor_is_what_build_processor_returns(config):
    """build_processor gives an LLMProcessor named after provider and model."""
    server, model = config
    processor = build_processor(settings_for(server, model), redis_url=None)
    assert isinstance(processor, LLMProcessor)
    assert (processor.name, processor.model) == (server.provider, model)


@pytest.mark.parametrize("bad", ["huge", "nul", "surrogate"])
def test_untrusted_answer_is_reasked(config, bad):
    """An answer over 1 MiB, with a NUL or with a lone surrogate is asked again; the valid one is kept."""
    server, model = config
    server.script(bad)
    result = build_processor(settings_for(server, model), redis_url=None).process(post())
    assert result.analysis.language == "ru"
    assert "\x00" not in result.analysis.model_dump_json()
    assert len(server.requests) == 2
    assert "previous answer was not valid" in str(server.requests[1].body)
    assert len(str(server.requests[1].body)) < 100_000  # the 1 MiB answer is not echoed back whole


@pytest.mark.parametrize("bad", ["huge", "nul", "surrogate", "malformed", "invalid"])
def test_untrusted_answers_end_in_output_error(config, bad):
    """The same bad answer past LLM_MAX_REASKS ends in LLMOutputError (a dead letter), never a crash."""
    server, model = config
    server.script(bad, bad)
    with pytest.raises(LLMOutputError):
        build_processor(settings_for(server, model, llm_max_reasks=1), redis_url=None).process(post())
    assert len(server.requests) == 2
