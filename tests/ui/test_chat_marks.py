"""A stored answer with a number the sources do not hold: the chat draws the mark so it stands out, and a
'not in your documents' reply shows its search step (drawn by the chat's own function from the real store)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from storage.conversations import ConversationStore


def _draw(conversations: str, conversation_id: str) -> None:
    """The AppTest script: the last stored message, as the chat page draws it."""
    from pathlib import Path

    from app.ui.chat_messages import render_message
    from storage.conversations import ConversationStore

    render_message(None, ConversationStore(Path(conversations)).messages(conversation_id)[-1])


def _stored(tmp_path: Path, answer: str, meta: dict) -> tuple[str, str]:
    store = ConversationStore(tmp_path / "chats.sqlite")
    conversation = store.create()
    store.add_message(conversation.id, "user", "How many points does locator() wait for?")
    store.add_message(conversation.id, "assistant", answer, meta=meta)
    return str(tmp_path / "chats.sqlite"), conversation.id


def test_an_untraced_number_is_drawn_marked(tmp_path):
    notice = ("1 number(s) in this answer (42) appear in none of its sources (the SQL results and cited passages); "
              "they are marked and may have been invented by the model.")
    path, conversation = _stored(tmp_path, "It waits for 42 (not found in the sources) points [1].",
                                 {"notices": [notice], "citations": [], "tools": []})
    at = AppTest.from_function(_draw, args=(path, conversation), default_timeout=30).run()
    assert not at.exception
    assert any(":orange[(not found in the sources)]" in m.value for m in at.markdown)
    assert any("may have been invented" in c.value for c in at.caption)


def test_a_not_in_documents_reply_shows_its_search_step(tmp_path):
    step = {"name": "search_documents", "input": "Excel", "ok": True, "seconds": 0.2, "output": "3 passage(s)"}
    path, conversation = _stored(tmp_path, "I could not find this in your documents.",
                                 {"notices": [], "citations": [], "tools": [step]})
    at = AppTest.from_function(_draw, args=(path, conversation), default_timeout=30).run()
    assert not at.exception
    assert any("I could not find this in your documents." in m.value for m in at.markdown)
    assert [e.label for e in at.expander] == ["1 step(s)"]
