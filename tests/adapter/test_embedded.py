"""The embedded adapter with the REAL packaged qwen2.5-coder-0.5b model (llama.cpp in-process)."""

from __future__ import annotations

import dataclasses
import shutil
import threading

import pytest

from app.errors import CapabilityError, ModelFileError, PromptTooLongError
from app.llm import model_files
from app.llm.embedded import EmbeddedChatModel
from app.ports import ChatMessage, GenerationParams

pytestmark = pytest.mark.slow

QUESTION = [
    ChatMessage("system", "You are a helpful assistant. Answer in one short sentence."),
    ChatMessage("user", "What is the capital of France?"),
]
PARAMS = GenerationParams(temperature=0.0, top_p=0.9, max_tokens=32, seed=42)


@pytest.fixture()
def model(embedded_settings) -> EmbeddedChatModel:
    """The 0.5B model with the shared test settings, so every test reuses one loaded copy."""
    s = embedded_settings
    return EmbeddedChatModel(s.embedded_model, s.resolved_models_dir, s.embedded_threads, s.embedded_ctx)


def test_info_declares_backend_and_capabilities(model, embedded_settings):
    info = model.info
    assert (info.backend, info.name) == ("embedded", "qwen2.5-coder-0.5b")
    assert info.supports_images is False
    assert info.context_window == embedded_settings.embedded_ctx
    assert info.digest == model_files.CATALOG["qwen2.5-coder-0.5b"].sha256


def test_answers_a_real_question(model):
    chunks = list(model.stream(QUESTION, PARAMS))
    text = "".join(c.text for c in chunks)
    assert "Paris" in text
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1 and usage[0] is chunks[-1].usage
    assert usage[0].tokens_in > 0 and usage[0].tokens_out > 0
    assert usage[0].finish_reason in ("stop", "length")


def test_closing_the_stream_stops_generation_and_the_next_request_works(model):
    counting = [ChatMessage("user", "Count from 1 to 200, separated by commas.")]
    stream = model.stream(counting, GenerationParams(temperature=0.0, max_tokens=512, seed=1))
    received = [next(stream).text for _ in range(3)]
    stream.close()
    assert "".join(received).strip()

    # With one slot (n_parallel=1) the next request could only be served once the first one stopped.
    text = "".join(c.text for c in model.stream(QUESTION, PARAMS))
    assert "Paris" in text
    workers = [t for t in threading.enumerate() if t.name == "embedded-generate"]
    for worker in workers:
        worker.join(timeout=120)
    assert not any(w.is_alive() for w in workers)  # the stopped request did not keep generating


def test_an_over_long_prompt_is_refused_with_prompt_too_long(model, embedded_settings):
    long = [ChatMessage("user", "apple banana cherry " * (embedded_settings.embedded_ctx + 200))]
    with pytest.raises(PromptTooLongError) as caught:
        list(model.stream(long, PARAMS))
    assert f"{embedded_settings.embedded_ctx}" in caught.value.message
    assert caught.value.hint
    # The model is still usable afterwards.
    assert "Paris" in "".join(c.text for c in model.stream(QUESTION, PARAMS))


def test_a_corrupted_model_part_is_refused_before_loading(tmp_path, monkeypatch, packaged_model_path):
    # Reuse the real part packages except the last one, which is a copy with a few bytes flipped.
    spec = model_files.CATALOG["qwen2.5-coder-0.5b"]
    last = model_files.source_files(spec)[-1]
    package = tmp_path / "site" / "corrupt_qwen_part_last"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    damaged = package / "data" / last.name
    shutil.copyfile(last, damaged)
    with open(damaged, "r+b") as handle:
        handle.seek(1000)
        original = handle.read(16)
        handle.seek(1000)
        handle.write(bytes(b ^ 0xFF for b in original))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    corrupt = dataclasses.replace(spec, part_modules=(*spec.part_modules[:-1], "corrupt_qwen_part_last"))
    monkeypatch.setitem(model_files.CATALOG, "qwen2.5-coder-0.5b", corrupt)

    fresh = tmp_path / "fresh-models"  # no assembled file, no marker
    model = EmbeddedChatModel("qwen2.5-coder-0.5b", fresh, threads=1, n_ctx=2048)
    with pytest.raises(ModelFileError) as caught:
        model.load()
    assert "checksum" in caught.value.message
    assert "reinstall" in caught.value.hint.lower()
    assert not (fresh / spec.file_name).exists()
    assert not any(fresh.glob("*.partial"))


def test_a_damaged_assembled_file_is_rebuilt_from_the_packages(tmp_path, packaged_model_path):
    # A copied model file that was altered, in a folder without the verification marker, is never trusted.
    spec = model_files.CATALOG["qwen2.5-coder-0.5b"]
    fresh = tmp_path / "copied-models"
    fresh.mkdir()
    target = fresh / spec.file_name
    shutil.copyfile(packaged_model_path, target)
    with open(target, "r+b") as handle:
        handle.seek(4096)
        handle.write(b"\x00" * 64)
    assert not model_files.verify_file(target, spec.sha256)

    path = model_files.ensure_model_file("qwen2.5-coder-0.5b", fresh)
    assert path == target
    assert model_files.verify_file(path, spec.sha256)
    assert path.with_suffix(".verified.json").exists()


def test_not_enough_memory_is_refused_with_a_clear_message(monkeypatch, embedded_settings):
    from app.errors import InsufficientMemoryError
    from app.llm import embedded

    # Pretend the machine has 100 MB free; the loader must refuse before llama.cpp allocates.
    monkeypatch.setattr(embedded, "available_memory_bytes", lambda: 100 * 1024 * 1024)
    embedded.unload()
    fresh = embedded.EmbeddedChatModel(
        "qwen2.5-coder-0.5b", embedded_settings.resolved_models_dir, threads=1, n_ctx=1024
    )
    with pytest.raises(InsufficientMemoryError) as info:
        fresh.load()
    assert "GB is available" in info.value.message
    assert "smaller" in info.value.hint


# Tool calling in Qwen's text format ---------------------------------------------------------------------------

TOOLS = [{"type": "function", "function": {
    "name": "run_sql", "description": "Answer a question about numbers in the user's tables with SQL.",
    "parameters": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}}}]


def test_info_declares_tool_calling_no_planning_no_remote_and_its_reading_speed(model):
    info = model.info
    assert info.supports_tools and not info.plans_tools and not info.remote
    assert info.prompt_tokens_per_s == model_files.CATALOG[info.name].prompt_tokens_per_s > 0


def test_a_real_tool_round_reads_the_models_call(model):
    messages = [ChatMessage("system", "Call run_sql for numbers in the user's tables."),
                ChatMessage("user", "What is the total revenue in the sales table?")]
    reply = model.call_tools(messages, TOOLS, GenerationParams(temperature=0.0, top_p=1.0, max_tokens=96, seed=0))

    assert reply.usage.tokens_in > 0 and reply.usage.tokens_out > 0
    assert [(c.name, c.error) for c in reply.calls] == [("run_sql", "")], reply.content
    assert reply.calls[0].arguments.get("question")


def test_a_model_without_tool_support_refuses_a_tool_round(embedded_settings):
    s = embedded_settings
    small = EmbeddedChatModel("smollm2-135m", s.resolved_models_dir, s.embedded_threads, s.embedded_ctx)
    assert not small.info.supports_tools
    with pytest.raises(CapabilityError):
        small.call_tools(QUESTION, TOOLS, PARAMS)
