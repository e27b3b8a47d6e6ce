"""Tests of LLMSettings and the processor factory's choices."""

from __future__ import annotations

import pytest

from tg_parser.config import load_settings
from tg_parser.errors import ConfigurationError
from tg_parser.llm import PROMPT_VERSION, LLMProcessor, build_processor
from tg_parser.llm.processor import llm_settings_from
from tg_parser.llm.settings import LLMSettings, load_llm_settings
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
        "LLM_RATE_LIMIT_REDIS_URL",
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
    assert s.rate_limit_redis_url is None


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


def test_redis_broker_is_used_for_the_shared_limit(monkeypatch):
    """A Redis broker is the limiter's store unless LLM_RATE_LIMIT_REDIS_URL says otherwise."""
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://broker:6379/0")
    assert load_llm_settings().rate_limit_redis_url == "redis://broker:6379/0"
    monkeypatch.setenv("LLM_RATE_LIMIT_REDIS_URL", "redis://other:6379/3")
    assert load_llm_settings().rate_limit_redis_url == "redis://other:6379/3"
    monkeypatch.delenv("LLM_RATE_LIMIT_REDIS_URL")
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@rabbit//")
    assert load_llm_settings().rate_limit_redis_url is None


def test_build_processor_offline_gives_offline_processor():
    """LLM_PROVIDER=offline gives the offline processor."""
    processor = build_processor(LLMSettings(llm_provider="offline"))
    assert processor.name == "offline"


def test_build_processor_takes_app_settings_fields():
    """Fields of the application Settings (llm_provider, llm_model) win over the environment."""
    llm = llm_settings_from(load_settings(llm_provider="ollama", llm_model="qwen2.5:7b"))
    assert (llm.llm_provider, llm.model) == ("ollama", "qwen2.5:7b")


def test_build_processor_without_key_is_a_configuration_error(monkeypatch):
    """An OpenAI processor with no key anywhere fails as a configuration error, not at the first post."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build_processor(LLMSettings(llm_provider="openai"))


def test_build_processor_llm_names_provider_and_model():
    """An LLM processor carries the provider name, the model and the prompt version."""
    processor = build_processor(
        LLMSettings(llm_provider="ollama", llm_model="llama3.1", ollama_host="http://127.0.0.1:9")
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
        LLMSettings(llm_provider="ollama", llm_output_language="en", ollama_host="http://127.0.0.1:9")
    )
    assert processor.prompt_version == f"{PROMPT_VERSION}+en"
