"""The chat sidebar's choice of documents and tables (kept per conversation across a reload), long messages
collapsed in the conversation, and a message over the length cap refused with a clear message."""

from __future__ import annotations

import gc
from pathlib import Path

from streamlit.testing.v1 import AppTest

from storage.conversations import ConversationStore, Scope
from tests.fixtures import pdf_factory as pf
from tests.fixtures.paths import ENTRY, FIXTURES

SALES_CSV = FIXTURES / "tables" / "sales.csv"


def _app() -> AppTest:
    return AppTest.from_file(ENTRY, default_timeout=120).run()


def _library(data: Path) -> tuple[str, str]:
    """Two indexed documents and two tables in the data dir, as a user would have them; returns the doc ids."""
    from app.documents.library import DocumentLibrary
    from app.tables.service import TablesService
    from storage.tables import TableStore

    library = DocumentLibrary(data)
    manual = library.ingest_bytes(pf.text_pdf([["Software manual", "Install it, then restart."]]), "manual.pdf")
    policy = library.ingest_bytes(pf.text_pdf([["Finance policy", "Revenue is the amount invoiced."]]), "policy.pdf")
    country = data / "country.csv"
    country.write_text("country,population\nNorway,5500000\nChile,19600000\n")
    tables = TablesService(TableStore(data / "tables.duckdb"))
    try:
        tables.load_file(SALES_CSV, file_name="sales.csv")
        tables.load_file(country, file_name="country.csv")
    finally:
        tables.close()  # DuckDB takes one writer: the app opens the file next
    del tables
    gc.collect()  # DuckDB keeps a file's instance while any connection object lives
    return manual.id, policy.id


def test_the_documents_and_tables_a_conversation_uses_are_chosen_in_the_sidebar_and_survive_a_reload(data_dir):
    data_dir.mkdir(parents=True)
    manual_id, policy_id = _library(data_dir)
    store = ConversationStore(data_dir / "chats.sqlite")
    conv = store.create("Budget questions")

    at = _app()
    assert not at.exception
    docs, tables = at.multiselect(key=f"chat.scope.docs.{conv.id}"), at.multiselect(key=f"chat.scope.tables.{conv.id}")
    assert docs.value == [] and tables.value == []  # all, until narrowed
    assert set(docs.options) == {"manual.pdf", "policy.pdf"} and set(tables.options) == {"sales", "country"}
    docs.set_value([policy_id]).run()
    at.multiselect(key=f"chat.scope.tables.{conv.id}").set_value(["sales"]).run()
    assert not at.exception
    assert store.scope(conv.id) == Scope([policy_id], ["sales"])

    again = _app()  # a reload: a new browser session
    assert not again.exception
    assert again.multiselect(key=f"chat.scope.docs.{conv.id}").value == [policy_id]
    assert again.multiselect(key=f"chat.scope.tables.{conv.id}").value == ["sales"]

    again.multiselect(key=f"chat.scope.tables.{conv.id}").set_value([]).run()  # back to all
    assert store.scope(conv.id) == Scope([policy_id], [])


def test_a_long_message_is_shown_collapsed_with_the_rest_in_an_expander(data_dir):
    store = ConversationStore(data_dir / "chats.sqlite")
    conv = store.create("Pasted")
    lines = [f"Line {i}: the quarterly review covered budget item number {i} in detail." for i in range(120)]
    long = "\n".join(lines)
    store.add_message(conv.id, "user", long)
    store.add_message(conv.id, "assistant", "A summary.")

    at = _app()

    assert not at.exception
    user = at.chat_message[0]
    shown = " ".join(m.value for m in user.markdown)
    assert lines[0] in shown
    (expander,) = [e for e in at.expander if e.label.startswith("Show the whole message")]
    assert f"{len(long):,} characters" in expander.label
    rest = " ".join(m.value for m in expander.markdown)
    assert lines[-1] in rest and lines[0] not in rest  # the head is not repeated
    head = user.markdown[0].value
    assert lines[-1] not in head and len(head) < len(long) // 5


def test_a_message_over_the_cap_is_refused_with_a_clear_message(data_dir, monkeypatch):
    monkeypatch.setenv("ANALYST_MAX_PROMPT_CHARS", "2000")
    at = _app()
    text = ("Please summarise this for me. " * 120).strip()
    at.chat_input[0].set_value(text).run()

    assert not at.exception
    (error,) = at.error
    assert f"{len(text):,} characters" in error.value and "2,000" in error.value and "attach" in error.value
    assert ConversationStore(data_dir / "chats.sqlite").messages(at.session_state["chat.conversation_id"]) == []
