"""The chat sidebar's export popover offers HTML and PDF reports once the conversation has an answer."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from storage.conversations import ConversationStore


def _draw(conversation_id: str) -> None:
    """The AppTest script: the report buttons of one conversation, on the app's services."""
    from app.container import build_services
    from app.settings import load_settings
    from app.ui.reports import report_buttons

    report_buttons(build_services(load_settings()), conversation_id)


def _conversation(data_dir: Path, answered: bool) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = ConversationStore(data_dir / "chats.sqlite")
    conversation = store.create()
    store.add_message(conversation.id, "user", "What is the total revenue?")
    if answered:
        store.add_message(conversation.id, "assistant", "The total is 238.42.")
    return conversation.id


def test_an_answered_conversation_offers_html_and_pdf_reports(data_dir):
    at = AppTest.from_function(_draw, args=(_conversation(data_dir, True),), default_timeout=30).run()
    assert not at.exception
    labels = [e.proto.label for e in at.get("download_button")]
    assert labels == ["Report (HTML)", "Report (PDF)"]


def test_a_conversation_without_an_answer_says_when_reports_come(data_dir):
    at = AppTest.from_function(_draw, args=(_conversation(data_dir, False),), default_timeout=30).run()
    assert not at.exception
    assert at.get("download_button") == []
    assert any("once the conversation has an answer" in c.value for c in at.caption)


def test_the_answers_to_report_are_ticked_all_by_default_and_none_ticked_offers_no_file(data_dir):
    conversation_id = _conversation(data_dir, True)
    at = AppTest.from_function(_draw, args=(conversation_id,), default_timeout=30).run()
    picker = at.multiselect(key=f"chat.report.answers.{conversation_id}")
    assert picker.value == [1] and "What is the total revenue?" in picker.format_func(1)
    picker.set_value([]).run()
    assert at.get("download_button") == []
    assert any("Tick at least one answer" in c.value for c in at.caption)
