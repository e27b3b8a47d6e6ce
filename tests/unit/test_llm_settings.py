"""Tests of LLMSettings and the processor factory's choices."""

from __future__ import annotations

import pytest

from tg_parser.config import load_settings
from tg_parser.config.llm import LLMSettings, load_llm_settings
from tg_parser.errors import ConfigurationError
from tg_parser.llm import PROMPT_VERSION, LLMProcessor, build_processor
from tg_parser.processing.base import Processor


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in (
        "LLM_PROVIDER",
        "LLM_MODEL",
        "LLM_RPM",
        "LLM_TPM",
        "LLM_MAX_REASKS",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "REDIS_URL",
        "LLM_RATE_LIMIT_REDIS_URL",
        "LLM_TIMEOUT_S",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "OPENAI_API_KEY",
        "LLM_OUTPUT_LANGUAGE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_offline():
    """Without variables the provider is offline with documented defaults."""
    s = load_llm_settings()
    assert s.llm_provider == "offline"
    assert s.llm_max_reasks == 2
    assert s.llm_timeout_s == 60.0
    assert s.llm_output_language == "auto"
    assert s.llm_rate_limit_redis_url is None


def test_variables_are_read(monkeypatch):
    """LLM_* variables fill the settings; the model default depends on the provider."""
    monkeypatch.setenv("LLM_PROVIDER", "gemini")
    monkeypatch.setenv("LLM_RPM", "120")
    monkeypatch.setenv("GOOGLE_API_KEY", "g-secret")
    s = load_llm_settings()
    assert s.model == "gemini-2.5-flash"
    assert s.llm_rpm == 120
    assert s.gemini_api_key is not None
    assert s.gemini_api_key.get_secret_value() == "g-secret"
    assert "g-secret" not in repr(s)


def test_invalid_value_names_the_variable():
    """An out-of-range value raises ConfigurationError naming the variable."""
    with pytest.raises(ConfigurationError, match="LLM_MAX_REASKS"):
        load_llm_settings(llm_max_reasks=99)


def test_invalid_nested_value_names_the_variable_in_the_whole_tree(monkeypatch):
    """LLM_TIMEOUT_S out of range fails load_settings with ConfigurationError naming LLM_TIMEOUT_S."""
    monkeypatch.setenv("LLM_TIMEOUT_S", "9999")
    with pytest.raises(ConfigurationError, match="LLM_TIMEOUT_S"):
        load_settings()


def test_llm_variables_fill_the_llm_branch_of_the_tree(monkeypatch):
    """LLM_PROVIDER and OPENAI_API_KEY keep their names and land in settings.llm."""
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_MODEL", "gpt-4.1-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    s = load_settings()
    assert (s.llm.llm_provider, s.llm.model) == ("openai", "gpt-4.1-mini")
    assert s.llm.openai_api_key is not None
    assert s.llm.openai_api_key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(s)


def test_llm_overrides_go_to_the_branch_and_moved_names_are_refused():
    """load_settings(llm={...}) overrides settings.llm; a moved root name (llm_provider=) is a TypeError."""
    s = load_settings(llm={"llm_provider": "ollama", "llm_model": "qwen2.5:7b"})
    assert (s.llm.llm_provider, s.llm.model) == ("ollama", "qwen2.5:7b")
    with pytest.raises(TypeError, match="llm_provider"):
        load_settings(llm_provider="ollama")


def test_processor_of_the_settings_tree_uses_its_redis(monkeypatch):
    """get_processor builds the LLM processor from settings.llm with settings.redis_url as limiter store."""
    from tg_parser.llm.ratelimit import RedisRateLimiter
    from tg_parser.services import processors

    monkeypatch.setattr(processors, "_cache", {})
    settings = load_settings(
        celery_broker_url="rediss://broker:6380/0",
        llm={"llm_provider": "ollama", "llm_rpm": 60, "ollama_host": "http://127.0.0.1:9"},
    )
    processor = processors.get_processor(settings)
    assert isinstance(processor, LLMProcessor)
    assert isinstance(processor.limiter, RedisRateLimiter)
    pool = processor.limiter._client.connection_pool  # noqa: SLF001
    assert pool.connection_kwargs["host"] == "broker"


def test_build_processor_offline_gives_offline_processor():
    """LLM_PROVIDER=offline gives the offline processor."""
    processor = build_processor(LLMSettings(llm_provider="offline"), redis_url=None)
    assert processor.name == "offline"


def test_build_processor_without_key_is_a_configuration_error(monkeypatch):
    """An OpenAI processor with no key anywhere fails as a configuration error, not at the first post."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build_processor(LLMSettings(llm_provider="openai"), redis_url=None)


def test_build_processor_llm_names_provider_and_model():
    """An LLM processor carries the provider name, the model and the prompt version."""
    processor = build_processor(
        LLMSettings(llm_provider="ollama", llm_model="llama3.1", ollama_host="http://127.0.0.1:9"),
        redis_url=None,
    )
    assert isinstance(processor, LLMProcessor)
    assert isinstance(processor, Processor)
    assert (processor.name, processor.model, processor.prompt_version) == (
        "ollama",
        "llama3.1",
        PROMPT_VERSION,
    )


def test_fixed_output_language_changes_prompt_version():
    """Fixing LLM_OUTPUT_LANGUAGE changes the prompt version, so posts are processed again."""
    processor = build_processor(
        LLMSettings(llm_provider="ollama", llm_output_language="en", ollama_host="http://127.0.0.1:9"),
        redis_url=None,
    )
    assert processor.prompt_version == f"{PROMPT_VERSION}+en"
