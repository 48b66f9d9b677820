"""Saying how long a long message will take to read, before the wait: from the model's own request records
when they exist, else from the speed declared for the packaged model."""

from __future__ import annotations

import statistics

from app.chat.prompt import estimate_tokens
from app.chat.reading import SLOW_READING_S, reading_estimate
from app.llm.model_files import CATALOG
from app.ports import ModelInfo
from storage.records import SqliteRecordStore
from tests.fixtures.fakes import StubRouter

EMBEDDED = ModelInfo(backend="embedded", name="qwen2.5-coder-1.5b", context_window=8192,
                     prompt_tokens_per_s=CATALOG["qwen2.5-coder-1.5b"].prompt_tokens_per_s)  # as its adapter declares
LONG = "The committee reviewed every regional budget line by line. " * 340  # ~20,000 characters


def _chat(model: ModelInfo, tokens_in: int, ttft_s: float, messages: int = 2) -> dict:
    prompt = [{"role": "system", "content": "s", "images": []}] + [
        {"role": "user", "content": "q", "images": []} for _ in range(messages - 1)]
    return {"user": "tester", "backend": model.backend, "model": model.name, "status": "ok", "tokens_in": tokens_in,
            "ttft_s": ttft_s, "prompt": prompt}


def test_a_long_message_on_the_embedded_model_is_estimated_from_its_declared_speed():
    estimate = reading_estimate(LONG, EMBEDDED)

    speed = EMBEDDED.prompt_tokens_per_s
    assert estimate is not None and estimate.source == "declared" and estimate.tokens == estimate_tokens(LONG)
    assert estimate.seconds == estimate.tokens / speed
    notice = estimate.notice(EMBEDDED.label)
    assert notice.startswith(f"Long message (~{round(estimate.tokens, -2):,} tokens): reading it takes about ")
    assert f"{round(estimate.seconds / 60)} minutes on {EMBEDDED.label}" in notice


def test_a_short_message_or_an_unknown_speed_says_nothing(tmp_path):
    assert reading_estimate("What is the total revenue?", EMBEDDED) is None
    quick = "x" * int(SLOW_READING_S * EMBEDDED.prompt_tokens_per_s * 3 * 0.5)
    assert reading_estimate(quick, EMBEDDED) is None
    ollama = ModelInfo(backend="ollama", name="qwen2.5:7b")  # its speed depends on the machine serving it
    assert reading_estimate(LONG, ollama, SqliteRecordStore(tmp_path / "records.sqlite")) is None


def test_the_measured_speed_of_first_questions_wins_and_cached_follow_ups_are_ignored(tmp_path):
    records = SqliteRecordStore(tmp_path / "records.sqlite")
    ollama = ModelInfo(backend="ollama", name="qwen2.5:7b")
    firsts = [(1200, 10.0), (2400, 16.0), (900, 6.0), (3000, 30.0), (1500, 7.5)]
    for tokens, ttft in firsts:
        records.append("chat", _chat(ollama, tokens, ttft))
    records.append("chat", _chat(ollama, 5000, 0.5, messages=4))  # a follow-up reading a cached prefix
    records.append("chat", _chat(ollama, 120, 2.0))  # too short to measure reading
    records.append("chat", _chat(EMBEDDED, 2000, 100.0))  # another model

    estimate = reading_estimate(LONG, ollama, records)

    expected = statistics.quantiles([t / s for t, s in firsts], n=4)[0]
    assert estimate is not None and estimate.source == "measured"
    assert estimate.tokens_per_s == expected and estimate.seconds == estimate.tokens / expected
    assert "measured on its recent answers" in estimate.notice(ollama.label)


def test_the_assistant_says_it_before_the_model_reads_the_message(tmp_path, settings_factory, fake_model):
    from app.chat.assistant import Assistant
    from storage.conversations import ConversationStore

    fake_model.model_info = EMBEDDED
    records = SqliteRecordStore(tmp_path / "records.sqlite")
    assistant = Assistant(StubRouter(settings_factory(), fake_model), ConversationStore(tmp_path / "c.sqlite"),
                          records)
    question = LONG[:9000]

    turn = assistant.ask(question)
    turn.resolve_model()
    notice = assistant.reading_notice(turn)

    assert notice == reading_estimate(question, EMBEDDED).notice(EMBEDDED.label)
    assert fake_model.sent == []  # said before anything is sent
    short = assistant.ask("What is the total revenue?")
    short.resolve_model()
    assert assistant.reading_notice(short) == ""


def test_the_default_message_cap_fits_half_the_embedded_context():
    # A 20,000-character message (~6,700 tokens) was accepted and took 427 s; the cap now leaves half the
    # embedded model's context for the evidence, the history and the answer.
    from app.settings import Settings

    defaults = Settings()
    assert estimate_tokens("x" * defaults.max_prompt_chars) <= defaults.embedded_ctx // 2
    assert estimate_tokens("x" * 20_000) > defaults.embedded_ctx // 2
