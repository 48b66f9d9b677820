"""One reading of a model spec (`embedded:KEY`, `ollama:NAME`, bare names): CLI, evaluation runs, chat page."""

from __future__ import annotations

import pytest

from app.errors import BadInputError
from app.llm.selector import ModelSpec, parse_model_spec


def test_no_spec_means_the_model_in_settings():
    assert parse_model_spec(None) is None and parse_model_spec("") is None


def test_named_backends():
    assert parse_model_spec("embedded:qwen2.5-coder-0.5b") == ModelSpec("embedded", "qwen2.5-coder-0.5b")
    assert parse_model_spec("ollama:qwen2.5:7b") == ModelSpec("ollama", "qwen2.5:7b")  # tags keep their colon


def test_a_bare_embedded_key_is_the_embedded_model():
    spec = parse_model_spec("qwen2.5-coder-0.5b")
    assert spec == ModelSpec("embedded", "qwen2.5-coder-0.5b")
    assert spec.overrides() == {"backend": "embedded", "embedded_model": "qwen2.5-coder-0.5b"}


def test_a_bare_other_name_is_an_ollama_model_that_leaves_the_backend_as_configured():
    spec = parse_model_spec("llama3.2:latest")
    assert (spec.backend, spec.name, spec.sets_backend) == ("ollama", "llama3.2:latest", False)
    assert spec.overrides() == {"ollama_model": "llama3.2:latest"}


def test_overrides_of_a_named_ollama_model_switch_the_backend():
    assert parse_model_spec("ollama:llama3.2").overrides() == {"backend": "ollama", "ollama_model": "llama3.2"}


def test_an_unknown_embedded_key_is_refused_with_the_choices():
    with pytest.raises(BadInputError) as caught:
        parse_model_spec("embedded:nope")
    assert "Unknown model 'embedded:nope'" in caught.value.message and "qwen2.5-coder-0.5b" in caught.value.hint


@pytest.mark.parametrize("text", ["embedded:qwen2.5-coder-0.5b", "ollama:qwen2.5:7b"])
def test_a_spec_reads_back_as_itself(text):
    assert str(parse_model_spec(text)) == text
    assert parse_model_spec(str(parse_model_spec(text))) == parse_model_spec(text)
