"""The two chat breakers a new user hit (issue 11, items 1 and 2), in a real browser.

1. A question the documents cannot answer must get a visible reply (saved, shown after a reload).
2. A conversation holding a recording's timestamp citation (or any odd stored message) must open.
"""

from __future__ import annotations

import re
import subprocess
import sys

from storage.conversations import OK, ConversationStore
from tests.fixtures.browser import assert_no_exception, open_expander, send_chat
from tests.fixtures.paths import ROOT
from tests.fixtures.pdf_factory import text_pdf, write

MANUAL = [
    ["Installing the toolkit", "Run the installer and choose a target folder. The installer copies the binaries",
     "and registers the command line tool. Restart the shell so the new PATH takes effect."],
    ["Configuring projects", "Each project keeps its options in project.toml. The build section sets the",
     "compiler flags, the output folder and whether warnings stop the build."],
]
FINISHED = re.compile(r"qwen2\.5-coder-0\.5b \(embedded\) · text only")
NOT_FOUND = "I could not find this in your documents."


def test_a_question_the_manual_cannot_answer_gets_a_visible_reply(app_factory, app_env, browser_page, tmp_path):
    data_dir = tmp_path / "data"
    manual = write(tmp_path / "toolkit-manual.pdf", text_pdf(MANUAL))
    done = subprocess.run([sys.executable, "-m", "app", "ingest", str(manual)], cwd=ROOT, env=app_env(data_dir),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    app = app_factory(data_dir=str(data_dir))
    page = browser_page
    page.goto(app.url)
    send_chat(page, "What is the capital of Peru according to the manual?")
    page.get_by_text(NOT_FOUND).first.wait_for(timeout=180_000)
    # What was searched is shown with the refusal, and the answer can be regenerated like any other.
    page.get_by_text("1 step(s)").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Regenerate").wait_for(timeout=30_000)
    assert_no_exception(page)

    page.reload()
    page.get_by_text(NOT_FOUND).first.wait_for(timeout=60_000)
    page.get_by_text("What is the capital of Peru according to the manual?").first.wait_for()
    assert_no_exception(page)
    messages = ConversationStore(data_dir / "chats.sqlite")
    conversation = messages.list()[0]
    stored = messages.messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == NOT_FOUND and stored[1].status == OK
    assert any(step["name"] == "search_documents" for step in stored[1].meta["tools"])


def test_a_conversation_with_a_recording_citation_opens_and_odd_messages_do_not_break_it(
    running_app, browser_page
):
    store = ConversationStore(running_app.data_dir / "chats.sqlite")
    conversation = store.create("Budget meeting")
    store.add_message(conversation.id, "user", "When was the budget decided?", OK,
                      {"attachments": [{"name": "meeting.wav", "sha256": "0" * 64, "path": "/nonexistent",
                                        "kind": "audio", "bytes": 10}]})
    # The exact shape a recording attached to a question produces: no doc_id (it is not in the library).
    audio_citation = {"n": 1, "source": "meeting.wav", "page": None, "kind": "audio", "timestamp": "00:12",
                      "start": 12.0, "end": 15.5, "quote": "we agreed the budget on Monday"}
    store.add_message(conversation.id, "assistant", "The budget was agreed on Monday (meeting.wav @ 00:12).", OK,
                      {"citations": [audio_citation], "model": "qwen (embedded)"})
    store.add_message(conversation.id, "user", "And the page?", OK, {})
    # Damaged or foreign metadata: a citation that is not a dict, a PDF citation without page or doc, odd steps.
    store.add_message(conversation.id, "assistant", "Still readable answer.", OK,
                      {"citations": ["oops", {"n": 2, "source": "old.pdf"}], "tools": [{"name": "run_sql"}],
                       "notices": ["A notice."]})

    page = browser_page
    page.goto(running_app.url)
    page.get_by_text("The budget was agreed on Monday").first.wait_for(timeout=60_000)
    citation = page.locator('[data-testid="stExpander"] summary', has_text="meeting.wav @ 00:12")
    citation.wait_for()
    page.get_by_text("Still readable answer.").first.wait_for()
    assert_no_exception(page)
    open_expander(page, citation, "we agreed the budget on Monday")
    assert_no_exception(page)
    page.reload()
    page.get_by_text("Still readable answer.").first.wait_for(timeout=60_000)
    assert_no_exception(page)
    # The input box is still there: the user can go on.
    page.get_by_placeholder("Ask a question, attach files or record a voice note…").wait_for()


def test_a_question_about_an_attached_recording_is_answered_and_the_conversation_reopens(
    running_app, browser_page
):
    recording = ROOT / "tests" / "fixtures" / "audio" / "ill_disposed.wav"
    page = browser_page
    page.goto(running_app.url)
    send_chat(page, "What does the speaker say in this recording?", files=[recording])
    # The stats line under a finished answer (the "Answering with …" caption while streaming says less).
    page.get_by_text(FINISHED).first.wait_for(timeout=300_000)
    assert_no_exception(page)
    page.reload()
    page.get_by_text("What does the speaker say in this recording?").first.wait_for(timeout=60_000)
    page.get_by_text(FINISHED).first.wait_for(timeout=60_000)
    assert_no_exception(page)
    page.get_by_placeholder("Ask a question, attach files or record a voice note…").wait_for()


def test_a_reload_while_a_question_is_answered_shows_its_state_then_the_answer(running_app, browser_page):
    recording = ROOT / "tests" / "fixtures" / "audio" / "ill_disposed.wav"
    page = browser_page
    page.goto(running_app.url)
    send_chat(page, "Summarise this recording in one sentence.", files=[recording])
    page.get_by_text("Working…").first.wait_for(timeout=60_000)
    page.reload()
    page.get_by_text("Summarise this recording in one sentence.").first.wait_for(timeout=60_000)
    # Never a bare question: without another reload the page shows the answer, or - when the server stopped
    # the old page's work - the kept partial answer, or that nothing was saved with a way to ask again.
    outcome = (page.get_by_text(FINISHED).or_(page.get_by_text("Stopped — the partial answer is kept"))
               .or_(page.get_by_text("Stopped before any answer was written"))
               .or_(page.get_by_role("button", name="Ask again")))
    outcome.first.wait_for(timeout=120_000)
    assert_no_exception(page)
