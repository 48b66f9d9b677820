"""The assistant's one answer path, with a scripted model and real SQLite stores."""

from __future__ import annotations

import hashlib

import pytest

from app.chat.assistant import Assistant
from app.errors import (
    BadInputError,
    GenerationError,
    ModelUnavailableError,
    PromptTooLongError,
)
from app.ports import ModelInfo, Usage
from storage.conversations import ERROR, OK, STOPPED, ConversationStore
from storage.records import SqliteRecordStore
from tests.fixtures.fakes import StubRouter

QUESTION = "What is the capital of France?"


@pytest.fixture()
def env(tmp_path, settings_factory, fake_model):
    """An assistant on real stores in a temp dir, answering with the fake model."""

    class Env:
        settings = settings_factory(seed=7, temperature=0.3, top_p=0.8, max_tokens=200)
        router = StubRouter(settings, fake_model)
        conversations = ConversationStore(tmp_path / "chats.sqlite")
        records = SqliteRecordStore(tmp_path / "records.sqlite")
        assistant = Assistant(router, conversations, records)
        model = fake_model

    return Env


def test_an_answer_is_streamed_saved_and_recorded_once(env):
    env.model.queue("Paris ", "is the ", "capital.", usage=Usage(31, 3, "stop"))
    conv = env.conversations.create()

    turn = env.assistant.ask(f"  {QUESTION}  ", conversation_id=conv.id)
    deltas = list(turn)

    assert "".join(deltas) == "Paris is the capital."
    result = turn.result
    assert (result.status, result.answer, result.backend, result.model) == ("ok", "Paris is the capital.", "fake",
                                                                            "fake-model")
    assert (result.tokens_in, result.tokens_out) == (31, 3)
    assert result.ttft_s is not None and result.total_s >= result.ttft_s

    (record,) = env.records.query()
    assert record["id"] == result.record_id
    assert record["kind"] == "chat"
    assert (record["backend"], record["model"], record["status"]) == ("fake", "fake-model", "ok")
    assert record["model_digest"] == "f" * 64
    assert record["question"] == QUESTION
    assert record["answer"] == "Paris is the capital."
    assert record["error"] is None
    assert record["ttft_s"] is not None and record["total_s"] >= record["ttft_s"]
    assert record["load_s"] >= 0 and record["total_s"] >= record["load_s"]
    assert (record["tokens_in"], record["tokens_out"]) == (31, 3)
    assert record["user"] == "tester"
    assert record["conversation_id"] == conv.id
    assert [m["role"] for m in record["prompt"]] == ["system", "user"]
    assert record["prompt"][0]["content"] == env.settings.system_prompt
    assert record["prompt"][-1]["content"] == QUESTION
    assert record["params"]["seed"] == 7 and record["params"]["context_window"] == 8192
    assert env.records.verify() == []

    messages = env.conversations.messages(conv.id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", QUESTION, OK),
        ("assistant", "Paris is the capital.", OK),
    ]
    assert messages[1].meta["model"] == "fake-model (fake)"
    assert messages[1].meta["tokens_out"] == 3
    assert record["message_id"] == messages[1].id
    assert env.conversations.get(conv.id).title == QUESTION  # first question names the conversation


def test_generation_params_come_from_settings(env):
    env.model.queue("ok")
    env.assistant.ask(QUESTION).run()
    (params,) = env.model.params
    assert (params.temperature, params.top_p, params.max_tokens, params.seed) == (0.3, 0.8, 200, 7)


def test_model_choice_is_passed_to_the_router(env):
    env.model.queue("ok")
    env.assistant.ask(QUESTION, model_choice={"backend": "embedded"}).run()
    assert env.router.calls == [{"backend": "embedded"}]


def test_without_a_conversation_the_answer_is_still_recorded(env):
    env.model.queue("Paris")
    result = env.assistant.ask(QUESTION).run()
    assert result.answer == "Paris"
    assert result.conversation_id is None
    assert env.records.count() == 1
    assert env.records.get(result.record_id)["message_id"] is None
    assert env.conversations.list() == []


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_prompt_is_refused_and_nothing_is_recorded(env, question):
    conv = env.conversations.create()
    with pytest.raises(BadInputError, match="empty"):
        env.assistant.ask(question, conversation_id=conv.id)
    assert env.records.count() == 0
    assert env.conversations.messages(conv.id) == []
    assert env.model.sent == []


def test_a_message_over_the_character_limit_is_refused_before_anything_runs(env):
    conv = env.conversations.create()
    with pytest.raises(BadInputError, match="characters") as caught:
        env.assistant.ask("x" * (env.settings.max_prompt_chars + 1), conversation_id=conv.id)
    assert "document" in caught.value.hint
    assert env.records.count() == 0
    assert env.conversations.messages(conv.id) == []


def test_a_100_kb_prompt_is_too_long_and_the_question_is_kept(env):
    env.settings.max_prompt_chars = 200_000  # past the message cap: the model's context is what refuses it
    conv = env.conversations.create()
    big = ("The quarterly revenue grew in every region. " * 2400)[:100_000]
    turn = env.assistant.ask(big, conversation_id=conv.id)

    with pytest.raises(PromptTooLongError) as caught:
        turn.run()

    assert "8,192" in caught.value.message  # names the context window it does not fit
    assert caught.value.hint
    assert env.model.sent == []  # never sent to the model
    user, answer = env.conversations.messages(conv.id)
    assert (user.role, user.content, user.status) == ("user", big.strip(), OK)
    assert (answer.role, answer.status) == ("assistant", ERROR)
    assert answer.meta["error"] == caught.value.message
    (record,) = env.records.query()
    assert record["status"] == "error"
    assert record["error"]["message"] == caught.value.message
    assert record["question"] == big.strip()


def test_a_stream_error_midway_keeps_the_partial_answer(env):
    env.model.queue("Paris ", "is ", "the", error=GenerationError("The connection broke.", "Try again."),
                    fail_after=2)
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    received = []
    with pytest.raises(GenerationError):
        for delta in turn:
            received.append(delta)

    assert received == ["Paris ", "is "]
    assert (turn.result.status, turn.result.answer) == ("error", "Paris is ")
    answer = env.conversations.messages(conv.id)[-1]
    assert (answer.content, answer.status) == ("Paris is ", ERROR)
    assert answer.meta["error"] == "The connection broke." and answer.meta["hint"] == "Try again."
    (record,) = env.records.query()
    assert (record["status"], record["answer"]) == ("error", "Paris is ")
    assert record["error"] == {"message": "The connection broke.", "hint": "Try again."}


def test_an_unexpected_exception_is_recorded_and_not_swallowed(env):
    env.model.queue("Par", "is", error=RuntimeError("bug in adapter"), fail_after=1)
    conv = env.conversations.create()
    with pytest.raises(RuntimeError, match="bug in adapter"):
        env.assistant.ask(QUESTION, conversation_id=conv.id).run()
    (record,) = env.records.query()
    assert record["status"] == "error"
    assert "RuntimeError" in record["error"]["message"]
    assert env.conversations.messages(conv.id)[-1].content == "Par"


def test_stopping_early_keeps_the_partial_answer_and_cancels_the_model(env):
    env.model.queue("Paris ", "is ", "the ", "capital.")
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    iterator = iter(turn)
    assert next(iterator) == "Paris "
    assert next(iterator) == "is "
    turn.close()

    assert (turn.result.status, turn.result.answer) == ("stopped", "Paris is ")
    assert env.model.closed == 1  # the backend's stream was closed, so generation stops
    answer = env.conversations.messages(conv.id)[-1]
    assert (answer.content, answer.status) == ("Paris is ", STOPPED)
    (record,) = env.records.query()
    assert (record["status"], record["answer"], record["error"]) == ("stopped", "Paris is ", None)
    assert record["tokens_out"] > 0 and record["tokens_estimated"] is True  # no usage from a stopped stream


def test_stopping_before_the_first_token_is_recorded(env):
    env.model.queue("never sent")
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    turn.resolve_model()
    turn.close()
    assert turn.result.status == "stopped"
    (record,) = env.records.query()
    assert (record["status"], record["answer"]) == ("stopped", "")
    turn.close()  # a second click does not record twice
    assert env.records.count() == 1


def test_model_unavailable_is_recorded_with_its_message(env):
    env.router.error = ModelUnavailableError("Ollama is not reachable at http://x:1.", "Start it with `ollama serve`.")
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    with pytest.raises(ModelUnavailableError):
        turn.run()
    (record,) = env.records.query()
    assert record["status"] == "error"
    assert record["error"] == {"message": "Ollama is not reachable at http://x:1.",
                               "hint": "Start it with `ollama serve`."}
    assert record["backend"] is None and record["answer"] == ""
    user, answer = env.conversations.messages(conv.id)
    assert user.content == QUESTION
    assert (answer.status, answer.meta["hint"]) == (ERROR, "Start it with `ollama serve`.")


def test_history_is_sent_in_order_and_failed_turns_are_left_out(env):
    conv = env.conversations.create()
    env.model.queue("Paris.")
    env.assistant.ask(QUESTION, conversation_id=conv.id).run()
    env.model.queue("Ber", error=GenerationError("broke"), fail_after=1)
    with pytest.raises(GenerationError):
        env.assistant.ask("And of Germany?", conversation_id=conv.id).run()
    env.model.queue("Rome.")
    env.assistant.ask("And of Italy?", conversation_id=conv.id).run()

    sent = env.model.sent[-1]
    assert [(m.role, m.content) for m in sent[1:]] == [
        ("user", QUESTION),
        ("assistant", "Paris."),
        ("user", "And of Germany?"),
        ("user", "And of Italy?"),
    ]


def test_history_that_does_not_fit_is_dropped_with_a_notice(env):
    env.model.model_info = ModelInfo(backend="fake", name="tiny-ctx", context_window=1024)
    conv = env.conversations.create()
    for i in range(8):
        env.conversations.add_message(conv.id, "user", f"question {i} " + "q" * 600)
        env.conversations.add_message(conv.id, "assistant", f"answer {i} " + "a" * 600)
    env.model.queue("ok")
    result = env.assistant.ask("Latest question?", conversation_id=conv.id).run()

    sent = env.model.sent[0]
    assert sent[0].role == "system" and sent[-1].content == "Latest question?"
    history = sent[1:-1]
    assert 0 < len(history) < 16
    assert history[0].role == "user"  # never starts with an orphaned answer
    assert history[-1].content.startswith("answer 7")  # the newest history is kept
    assert any("left out" in n and "1,024" in n for n in result.notices)
    record = env.records.get(result.record_id)
    assert record["notices"] == result.notices
    assert env.conversations.messages(conv.id)[-1].meta["notices"] == result.notices


def test_an_answer_cut_at_max_tokens_gets_a_notice(env):
    env.model.queue("Paris is", usage=Usage(10, 200, "length"))
    result = env.assistant.ask(QUESTION).run()
    assert any("maximum length" in n for n in result.notices)


def _png(colour=(220, 20, 20), size=(64, 48)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_images_reach_the_model_and_the_record_keeps_only_their_hash(env):
    env.model.model_info = ModelInfo(backend="fake", name="seeing", supports_images=True)
    env.model.queue("A red square.")
    image = _png()
    conv = env.conversations.create()
    result = env.assistant.ask("What is this?", conversation_id=conv.id, images=[image]).run()

    sent = env.model.sent[0][-1].images
    assert len(sent) == 1 and sent[0].startswith(b"\x89PNG")  # re-encoded, metadata stripped
    record = env.records.get(result.record_id)
    ref = {"name": "image-1", "kind": "image", "sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image)}
    assert record["attachments"] == [ref]
    assert record["vision"] is True
    assert record["prompt"][-1]["images"][0]["bytes"] == len(sent[0])
    assert record["tools"][0]["name"] == "describe_image" and record["tools"][0]["ok"] is True
    kept = env.conversations.messages(conv.id)[0].meta["attachments"][0]
    assert kept["name"] == "image-1" and kept["sha256"] == ref["sha256"]
    assert open(kept["path"], "rb").read() == image  # the image stays with the conversation


def test_a_text_only_model_answers_from_image_facts_and_says_a_vision_model_sees_more(env):
    env.model.queue("It is a red picture.")
    result = env.assistant.ask("What colour is it?", files=[("chart.png", _png())]).run()

    prompt = env.model.sent[0][-1]
    assert prompt.images == ()  # a text-only model never gets pixels
    assert 'Attached image "chart.png"' in prompt.content and "red" in prompt.content
    assert any("ollama pull" in n for n in result.notices)


def test_a_broken_attachment_the_question_is_about_is_answered_as_unreadable_without_the_model(env):
    # Before: the model was asked anyway and "summarised" a file nobody could read.
    result = env.assistant.ask("Summarise this", files=[("notes.mp3", b"just some text, not audio")]).run()

    assert result.status == "ok"
    assert result.tools[0]["ok"] is False and "notes.mp3" == result.tools[0]["input"]
    assert "**notes.mp3** could not be read" in result.answer and result.unreadable == ["notes.mp3"]
    assert env.model.sent == []


def test_asking_in_a_deleted_conversation_is_a_clear_error(env):
    conv = env.conversations.create()
    env.conversations.delete(conv.id)
    from app.errors import NotFoundError

    with pytest.raises(NotFoundError):
        env.assistant.ask(QUESTION, conversation_id=conv.id)
    assert env.records.count() == 0


def test_a_conversation_deleted_in_another_tab_before_the_answer_is_still_recorded(env):
    from app.errors import NotFoundError

    env.model.queue("Paris")
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    env.conversations.delete(conv.id)  # the other tab
    with pytest.raises(NotFoundError):
        turn.run()
    (record,) = env.records.query()
    assert record["status"] == "error" and "no longer exists" in record["error"]["message"]


def test_a_conversation_deleted_while_answering_keeps_the_record(env):
    env.model.queue("Paris ", "is ", "the capital.")
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    iterator = iter(turn)
    next(iterator)
    env.conversations.delete(conv.id)
    assert "".join(iterator) == "is the capital."
    (record,) = env.records.query()
    assert (record["status"], record["answer"]) == ("ok", "Paris is the capital.")


def test_a_question_is_in_flight_only_while_it_is_answered(env):
    # A browser reconnecting mid-answer replays its submission; the page asks this before answering twice.
    env.model.queue("Paris ", "is the capital.")
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    assert env.assistant.is_in_flight(conv.id, QUESTION)
    assert not env.assistant.is_in_flight(conv.id, "Another question?")
    turn.run()
    assert not env.assistant.is_in_flight(conv.id, QUESTION)


def test_a_turn_stopped_before_its_answer_started_still_shows_in_the_conversation(env):
    conv = env.conversations.create()
    turn = env.assistant.ask(QUESTION, conversation_id=conv.id)
    turn.resolve_model()
    turn.close()

    roles = [(m.role, m.status) for m in env.conversations.messages(conv.id)]
    assert roles == [("user", OK), ("assistant", STOPPED)]
    assert not env.assistant.is_in_flight(conv.id, QUESTION)
