"""Every page through Streamlit's AppTest, with the real embedded model for the chat flow."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore
from tests.fixtures.paths import ENTRY

QUESTION = "What is the capital of France?"


def _app() -> AppTest:
    return AppTest.from_file(ENTRY, default_timeout=60).run()


def _assistant_texts(at: AppTest) -> list[str]:
    return [" ".join(md.value for md in m.markdown) for m in at.chat_message if m.name == "assistant"]


def test_chat_page_renders_with_status_and_widgets(data_dir):
    at = _app()
    assert not at.exception
    assert len(at.chat_input) == 1
    assert at.selectbox(key="chat.model_picker").value == "As in Settings"
    assert any(b.label == "New conversation" for b in at.sidebar.button)
    sidebar = " ".join(m.value for m in at.sidebar.markdown) + " ".join(c.value for c in at.sidebar.caption)
    assert "qwen2.5-coder-0.5b" in sidebar and "embedded" in sidebar
    assert "Ollama not reachable at `http://127.0.0.1:9`" in sidebar
    assert at.info[0].value.startswith("Ask anything")


@pytest.mark.slow
def test_a_full_chat_turn_answers_and_survives_a_restart(data_dir, packaged_model_path):
    at = _app()
    at.chat_input[0].set_value(QUESTION).run(timeout=300)

    assert not at.exception
    assert not at.error
    users = [" ".join(md.value for md in m.markdown) for m in at.chat_message if m.name == "user"]
    assert users == [QUESTION]
    (answer,) = _assistant_texts(at)
    assert "Paris" in answer
    captions = [c.value for m in at.chat_message for c in m.caption]
    assert any("qwen2.5-coder-0.5b (embedded)" in c and "text only" in c for c in captions)
    (record,) = SqliteRecordStore(data_dir / "records.sqlite").query()
    assert (record["status"], record["model"], record["backend"]) == ("ok", "qwen2.5-coder-0.5b", "embedded")
    assert "Paris" in record["answer"]

    # A restart: new services, a new session, the same data dir.
    st.cache_resource.clear()
    again = _app()
    assert not again.exception
    assert _assistant_texts(again) == [answer]
    conv_id = again.session_state["chat.conversation_id"]
    assert again.button(key=f"chat.open.{conv_id}").label == QUESTION  # selected, titled after the question


def test_rename_and_delete_from_the_popover(data_dir):
    store = ConversationStore(data_dir / "chats.sqlite")
    older = store.create("Older chat")
    store.add_message(older.id, "user", "kept question")
    current = store.create("Budget questions")
    at = _app()
    assert at.session_state["chat.conversation_id"] == current.id

    at.text_input(key=f"chat.title.{current.id}").set_value("Budget 2025").run()
    at.button(key="chat.rename").click().run()
    assert not at.exception
    assert store.get(current.id).title == "Budget 2025"
    assert at.button(key=f"chat.open.{current.id}").label == "Budget 2025"

    at.button(key="chat.delete").click().run()
    assert not at.exception
    assert [c.id for c in store.list()] == [older.id]
    assert at.session_state["chat.conversation_id"] == older.id  # falls back to the remaining one
    assert [m.value for m in at.chat_message[0].markdown] == ["kept question"]


def test_an_empty_rename_shows_an_error(data_dir):
    store = ConversationStore(data_dir / "chats.sqlite")
    conv = store.create("Keep me")
    at = _app()
    at.text_input(key=f"chat.title.{conv.id}").set_value("   ").run()
    at.button(key="chat.rename").click().run()
    assert not at.exception
    assert any("cannot be empty" in e.value for e in at.error)
    assert store.get(conv.id).title == "Keep me"


def test_an_answer_cut_off_by_a_killed_app_is_shown_as_interrupted(data_dir):
    import sqlite3
    import uuid

    store = ConversationStore(data_dir / "chats.sqlite")
    conv = store.create("Cut off")
    store.add_message(conv.id, "user", "Tell me a long story")
    # The placeholder a killed server process leaves behind (owned by another process).
    sqlite3.connect(data_dir / "chats.sqlite", isolation_level=None).execute(
        "INSERT INTO messages (id, conversation_id, seq, role, content, status, meta, created_at, owner)"
        " VALUES (?, ?, 2, 'assistant', 'Once upon a', 'streaming', '{}', '2025', 'dead-process')",
        (uuid.uuid4().hex, conv.id),
    )
    at = _app()
    assert not at.exception
    assert _assistant_texts(at) == ["Once upon a"]
    assert any("Interrupted" in c.value for c in at.chat_message[1].caption)


def test_a_turn_stopped_before_its_first_word_says_so_and_how_to_ask_again(data_dir):
    store = ConversationStore(data_dir / "chats.sqlite")
    conv = store.create("Stopped early")
    store.add_message(conv.id, "user", "What is the capital of Peru according to the manual?")
    store.add_message(conv.id, "assistant", "", "stopped")
    at = _app()
    assert not at.exception
    captions = [c.value for c in at.chat_message[1].caption]
    assert any("Stopped before any answer was written" in c and "Regenerate" in c for c in captions), captions
    assert not any("partial answer is kept" in c for c in captions)


def test_new_conversation_button(data_dir):
    at = _app()
    next(b for b in at.sidebar.button if b.label == "New conversation").click().run()
    assert not at.exception
    conversations = ConversationStore(data_dir / "chats.sqlite").list()
    assert len(conversations) == 1
    assert at.session_state["chat.conversation_id"] == conversations[0].id


def test_new_conversation_reuses_an_empty_one(data_dir):
    data_dir.mkdir(parents=True)
    store = ConversationStore(data_dir / "chats.sqlite")
    asked = store.create()
    store.add_message(asked.id, "user", "How many vans?")
    store.rename(asked.id, "How many vans?")
    at = _app()
    for _ in range(2):  # the second click comes while the new conversation is still empty
        next(b for b in at.sidebar.button if b.label == "New conversation").click().run()
    assert not at.exception
    titles = sorted(c.title for c in store.list())
    assert titles == ["How many vans?", "New conversation"]
    assert [b.label for b in at.sidebar.button].count("New conversation") == 2  # the button and one entry
    assert at.session_state["chat.conversation_id"] != asked.id


def test_an_unreachable_ollama_backend_shows_the_fix_and_keeps_the_question(data_dir, monkeypatch):
    monkeypatch.setenv("ANALYST_BACKEND", "ollama")
    at = _app()
    assert any("ollama serve" in w.value for w in at.sidebar.warning)
    at.chat_input[0].set_value(QUESTION).run()

    assert not at.exception
    assert any("not reachable" in e.value and "ollama serve" in e.value for e in at.error)
    (conv,) = ConversationStore(data_dir / "chats.sqlite").list()
    messages = ConversationStore(data_dir / "chats.sqlite").messages(conv.id)
    assert [(m.role, m.status) for m in messages] == [("user", "ok"), ("assistant", "error")]
    (record,) = SqliteRecordStore(data_dir / "records.sqlite").query()
    assert record["status"] == "error" and "not reachable" in record["error"]["message"]


def test_ollama_without_a_chat_model_shows_what_to_pull(data_dir, monkeypatch, fake_ollama):
    fake_ollama.add_model("nomic-embed-text:latest", ("embedding",), family="nomic-bert")
    monkeypatch.setenv("ANALYST_BACKEND", "ollama")
    monkeypatch.setenv("ANALYST_OLLAMA_HOST", fake_ollama.host)
    at = _app()
    assert not at.exception
    assert any("ollama pull" in w.value for w in at.sidebar.warning)
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any("no chat model" in e.value and "ollama pull" in e.value for e in at.error)


def test_settings_page_renders_validates_and_saves(data_dir, monkeypatch):
    # The Ollama host comes from the saved file here, so the form may edit it (an env var would lock it).
    monkeypatch.delenv("ANALYST_OLLAMA_HOST")
    data_dir.mkdir(parents=True)
    (data_dir / "settings.json").write_text(json.dumps({"ollama_host": "http://127.0.0.1:9"}))
    at = _app()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    assert any(t.value == "Settings" for t in at.title)
    assert at.radio(key="settings.backend").disabled  # fixed by ANALYST_BACKEND
    assert not at.text_input(key="settings.ollama_host").disabled
    submit = next(b for b in at.button if b.label == "Save settings")

    at.text_input(key="settings.ollama_host").set_value("ftp://x")
    submit.click().run()
    assert not at.exception
    assert any("ollama_host" in e.value for e in at.error)
    assert json.loads((data_dir / "settings.json").read_text()) == {"ollama_host": "http://127.0.0.1:9"}

    at.text_input(key="settings.ollama_host").set_value("http://127.0.0.1:9")
    at.text_input(key="settings.user").set_value("analyst-7")
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception
    assert not at.error
    assert any("user" in s.value for s in at.success)
    saved = json.loads((data_dir / "settings.json").read_text())
    assert saved == {"ollama_host": "http://127.0.0.1:9", "user": "analyst-7"}


def test_settings_test_connection_reports_unreachable(data_dir):
    at = _app()
    at.switch_page("../pages/settings.py").run()
    at.button(key="settings.test").click().run()
    assert not at.exception
    assert any("not reachable" in e.value for e in at.error)


def test_regenerate_and_edit_replace_the_last_turn(data_dir, packaged_model_path):
    at = _app()
    at.chat_input[0].set_value(QUESTION).run(timeout=300)
    (first,) = _assistant_texts(at)
    conv_id = at.session_state["chat.conversation_id"]
    store = ConversationStore(data_dir / "chats.sqlite")

    at.button(key="chat.regenerate").click().run(timeout=300)
    assert not at.exception
    messages = store.messages(conv_id)
    assert [(m.role, m.content if m.role == "user" else "") for m in messages] == [("user", QUESTION),
                                                                                  ("assistant", "")]
    assert messages[1].content.strip()  # a fresh answer replaced the old one, nothing piled up

    edited = "What is the capital of Italy?"
    at.text_area(key=f"chat.edit.{messages[0].id}").set_value(edited)
    at.button(key="chat.edit.send").click().run(timeout=300)
    assert not at.exception
    messages = store.messages(conv_id)
    assert [m.role for m in messages] == ["user", "assistant"] and messages[0].content == edited
    assert "Rome" in messages[1].content and "Paris" in first
    assert len(SqliteRecordStore(data_dir / "records.sqlite").query()) == 3  # every turn stays in the audit trail


def test_the_test_only_model_is_not_offered_unless_configured(data_dir, monkeypatch):
    at = _app()
    assert not at.exception
    assert not any("SmolLM2" in o for o in at.selectbox(key="chat.model_picker").options)
    at.switch_page("../pages/settings.py").run()
    shown = at.selectbox(key="settings.embedded_model").options  # display names
    assert not any("SmolLM2" in o for o in shown) and any("Qwen2.5-Coder-0.5B" in o for o in shown)

    monkeypatch.setenv("ANALYST_EMBEDDED_MODEL", "smollm2-135m")  # chosen on purpose: shown, so it can be seen
    st.cache_resource.clear()
    at = _app()
    assert any("SmolLM2" in o for o in at.selectbox(key="chat.model_picker").options)


def test_an_answer_the_page_cannot_draw_is_a_failed_turn_and_a_display_error(data_dir, monkeypatch, fake_model):
    import app.ui.chat
    import app.ui.common

    at = _app()
    services = app.ui.common.get_services()  # the process-wide services the page uses
    fake_model.queue("Paris is ", "the capital.")
    monkeypatch.setattr(services.router, "get_model", lambda progress=None, overrides=None: fake_model)
    real_reporter = app.ui.chat.progress_reporter

    def breaking_reporter(label):  # noqa: ANN001, ANN202
        report, _clear = real_reporter(label)

        def clear() -> None:  # called when the first words arrive
            raise RuntimeError("the page could not draw this")

        return report, clear

    monkeypatch.setattr(app.ui.chat, "progress_reporter", breaking_reporter)
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception
    assert any("The answer could not be shown (RuntimeError)" in e.value for e in at.error)
    store = SqliteRecordStore(data_dir / "records.sqlite")
    (turn,) = store.query(kind="chat")
    assert turn["status"] == "error" and "the page could not draw this" in turn["error"]["message"]
    (shown,) = store.query(kind="ui_error")
    assert shown["where"] == "chat answer" and shown["conversation_id"] == turn["conversation_id"]
    (conv,) = ConversationStore(data_dir / "chats.sqlite").list()
    assert [m.status for m in ConversationStore(data_dir / "chats.sqlite").messages(conv.id)] == ["ok", "error"]

    monkeypatch.setattr(app.ui.chat, "progress_reporter", real_reporter)
    at.switch_page("../pages/monitoring.py").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Error rate"] == "100.0%" and metrics["Display errors"] == "1"


def test_settings_shows_whole_seconds_as_whole_numbers(data_dir, monkeypatch):
    at = _app()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    timeout, longest = at.number_input(key="settings.ollama_timeout"), at.number_input(key="settings.max_audio_seconds")
    assert (timeout.value, timeout.proto.format) == (300, "%d")  # not "300.00"
    assert (longest.value, longest.proto.format) == (14400, "%d")
    assert at.number_input(key="settings.embedded_ctx").value == 2048  # integer settings stay integers
    assert at.slider(key="settings.temperature").value == 0.0

    monkeypatch.setenv("ANALYST_OLLAMA_TIMEOUT", "2.5")  # a fraction keeps its decimals
    monkeypatch.setenv("ANALYST_MAX_AUDIO_SECONDS", "200000")  # beyond the form's range: shown, not an error
    st.cache_resource.clear()
    at = _app()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    timeout = at.number_input(key="settings.ollama_timeout")
    assert (timeout.value, timeout.proto.format) == (2.5, "%.2f")
    assert at.number_input(key="settings.max_audio_seconds").value == 200000


def test_the_sidebar_shows_the_one_line_fix_when_ollama_is_not_reachable(data_dir, monkeypatch):
    for backend in ("embedded", "auto"):  # the embedded model answers, and the fix is still one line away
        monkeypatch.setenv("ANALYST_BACKEND", backend)
        st.cache_resource.clear()
        at = _app()
        assert not at.exception
        captions = " ".join(c.value for c in at.sidebar.caption)
        assert "Ollama not reachable at `http://127.0.0.1:9`" in captions
        assert "Start Ollama with `ollama serve`, or set its host in Settings." in captions


def test_a_user_facing_failure_on_a_page_is_said_with_its_fix_not_as_an_internal_error(data_dir, monkeypatch):
    import app.ui.documents
    from app.errors import VectorStoreUnavailableError

    def unreachable(services):  # noqa: ANN001, ANN202 - e.g. a Chroma server that went away
        raise VectorStoreUnavailableError("The Chroma server at http://127.0.0.1:9 is not reachable.",
                                          "Start it, or leave chroma_url empty.")

    monkeypatch.setattr(app.ui.documents, "documents_page", unreachable)
    at = _app()
    at.switch_page("../pages/documents.py").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("Chroma server at" in e and "leave chroma_url empty" in e for e in errors), errors
    assert not any("internal error" in e for e in errors)
