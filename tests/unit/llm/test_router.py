"""Backend choice: auto falls back to embedded, prefers a usable Ollama chat model, explains what is wrong."""

from __future__ import annotations

import pytest

from app.errors import ModelNotFoundError
from app.llm.gate import GatedChatModel
from app.llm.ollama import OllamaChatModel
from app.llm.selector import ModelRouter, embedded_choices


def test_auto_picks_embedded_when_ollama_is_unreachable(settings_factory, closed_port):
    host = f"http://127.0.0.1:{closed_port}"
    router = ModelRouter(settings_factory(ollama_host=host, embedded_model="qwen2.5-coder-0.5b"))

    choice = router.choose()

    assert (choice.backend, choice.model) == ("embedded", "qwen2.5-coder-0.5b")
    assert host in choice.reason
    status = router.ollama_status()
    assert status.reachable is False and status.models == []
    assert "ollama serve" in status.hint


def test_embedded_backend_never_probes_ollama(settings_factory, fake_ollama):
    router = ModelRouter(settings_factory(backend="embedded", ollama_host=fake_ollama.host))
    choice = router.choose()
    assert (choice.backend, choice.model) == ("embedded", "qwen2.5-coder-1.5b")
    assert fake_ollama.httpserver.log == []


def test_auto_picks_ollama_with_a_chat_model_and_skips_embedding_models(settings_factory, fake_ollama):
    fake_ollama.add_model("nomic-embed-text:latest", ("embedding",), family="nomic-bert")
    fake_ollama.add_model("qwen2.5:7b", ("completion", "tools"))
    router = ModelRouter(settings_factory(ollama_host=fake_ollama.host))

    choice = router.choose()

    assert (choice.backend, choice.model) == ("ollama", "qwen2.5:7b")
    assert router.ollama_status().models == ["nomic-embed-text:latest", "qwen2.5:7b"]
    model = router.get_model()
    assert isinstance(model, GatedChatModel) and isinstance(model.inner, OllamaChatModel)  # queued fairly
    assert (model.info.backend, model.info.name, model.info.supports_tools) == ("ollama", "qwen2.5:7b", True)
    assert model.info.context_window == 8192  # the configured num_ctx, under the model's 32768


def test_auto_with_only_embedding_models_falls_back_to_embedded(settings_factory, fake_ollama):
    fake_ollama.add_model("nomic-embed-text:latest", ("embedding",), family="nomic-bert")
    router = ModelRouter(settings_factory(ollama_host=fake_ollama.host))
    choice = router.choose()
    assert choice.backend == "embedded"
    assert "no chat model" in choice.reason


def test_configured_model_is_used_and_latest_tag_matches(settings_factory, fake_ollama):
    fake_ollama.add_model("qwen2.5:7b").add_model("llama3:latest")
    router = ModelRouter(settings_factory(ollama_host=fake_ollama.host, ollama_model="llama3"))
    assert (router.choose().backend, router.choose().model) == ("ollama", "llama3")


def test_auto_with_a_configured_model_not_pulled_falls_back_and_says_so(settings_factory, fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    router = ModelRouter(settings_factory(ollama_host=fake_ollama.host, ollama_model="mistral:7b"))
    choice = router.choose()
    assert choice.backend == "embedded"
    assert "mistral:7b" in choice.reason and "not pulled" in choice.reason


def test_ollama_backend_with_a_model_not_pulled_names_the_pull_command(settings_factory, fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    router = ModelRouter(settings_factory(backend="ollama", ollama_host=fake_ollama.host, ollama_model="mistral:7b"))
    assert (router.choose().backend, router.choose().model) == ("ollama", "mistral:7b")
    with pytest.raises(ModelNotFoundError) as caught:
        router.get_model()
    assert "mistral:7b" in caught.value.message
    assert "ollama pull mistral:7b" in caught.value.hint


def test_ollama_backend_with_nothing_pulled_says_what_to_pull(settings_factory, fake_ollama):
    router = ModelRouter(settings_factory(backend="ollama", ollama_host=fake_ollama.host))
    with pytest.raises(ModelNotFoundError) as caught:
        router.get_model()
    assert "ollama pull" in caught.value.hint


def test_ollama_backend_unreachable_explains_how_to_fix(settings_factory, closed_port):
    router = ModelRouter(settings_factory(backend="ollama", ollama_host=f"http://127.0.0.1:{closed_port}"))
    choice = router.choose()
    assert choice.backend == "ollama" and "not reachable" in choice.reason
    with pytest.raises(ModelNotFoundError) as caught:
        router.get_model()
    assert "not reachable" in caught.value.message and "ollama serve" in caught.value.hint


def test_session_overrides_pick_another_backend(settings_factory, fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    router = ModelRouter(settings_factory(ollama_host=fake_ollama.host))
    override = {"backend": "embedded", "embedded_model": "smollm2-135m", "temperature": 2.0}
    assert (router.choose(override).backend, router.choose(override).model) == ("embedded", "smollm2-135m")
    assert router.with_overrides(override).temperature == router.settings.temperature  # only model keys apply
    assert router.choose().backend == "ollama"


def test_ollama_probe_is_cached_until_refreshed(settings_factory, fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    router = ModelRouter(settings_factory(ollama_host=fake_ollama.host))
    router.ollama_status()
    router.ollama_status()
    tags = lambda: sum(1 for r, _ in fake_ollama.httpserver.log if r.path == "/api/tags")  # noqa: E731
    assert tags() == 1
    router.ollama_status(refresh=True)
    assert tags() == 2


def test_update_settings_switches_host(settings_factory, fake_ollama, closed_port):
    fake_ollama.add_model("qwen2.5:7b")
    settings = settings_factory(ollama_host=f"http://127.0.0.1:{closed_port}")
    router = ModelRouter(settings)
    assert router.choose().backend == "embedded"
    router.update_settings(settings.model_copy(update={"ollama_host": fake_ollama.host}))
    assert router.choose().backend == "ollama"
    assert router.settings.ollama_host == fake_ollama.host


def test_embedded_choices_offer_the_user_models_and_the_test_model_only_when_configured():
    choices = embedded_choices()
    assert set(choices) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"}  # SmolLM2 is for plumbing tests only
    assert "not installed" not in choices["qwen2.5-coder-0.5b"]
    assert set(embedded_choices("qwen2.5-coder-0.5b")) == set(choices)
    configured = embedded_choices("smollm2-135m")  # chosen explicitly (settings, env or --model): still shown
    assert set(configured) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m"}


def test_ollama_backend_without_a_chat_model_is_reported_not_raised_by_choose(settings_factory, fake_ollama):
    # The status panel and `status` call choose() on every rerun: it must describe the problem, not raise.
    fake_ollama.add_model("nomic-embed-text:latest", ("embedding",), family="nomic-bert")
    router = ModelRouter(settings_factory(backend="ollama", ollama_host=fake_ollama.host))
    choice = router.choose()
    assert (choice.backend, choice.model) == ("ollama", "")
    assert "no chat model" in choice.reason
    with pytest.raises(ModelNotFoundError) as caught:
        router.get_model()
    assert "no chat model" in caught.value.message and "ollama pull" in caught.value.hint
