"""Fixtures for reports: a conversation answered by the scripted model over real DuckDB tables and documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chat.assistant import Assistant
from app.documents.library import DocumentLibrary
from app.tables.service import TablesService
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore
from storage.tables import TableStore
from tests.fixtures import pdf_factory as pf
from tests.fixtures.fakes import FakeChatModel, StubRouter
from tests.fixtures.turns import POLICY_PAGES, SALES_CSV, TOTAL_SQL, sql_reply

QUESTION = "What is the total revenue, and how does the policy define revenue?"
ANSWER = "Revenue is the amount invoiced, net of refunds and discounts [1]. The total is 238.42 [S1]."


class Answered:
    """An assistant on real stores, a conversation it answered, and its tables service."""

    def __init__(self, assistant: Assistant, tables: TablesService, conversation_id: str) -> None:
        self.assistant = assistant
        self.tables = tables
        self.conversation_id = conversation_id

    @property
    def conversations(self) -> ConversationStore:
        """The conversation store."""
        return self.assistant.conversations

    @property
    def records(self) -> SqliteRecordStore:
        """The request records."""
        return self.assistant.records


@pytest.fixture()
def answered(tmp_path: Path, settings_factory: Any, fake_model: FakeChatModel) -> Iterator[Answered]:
    """One conversation whose answer cites a PDF passage and an SQL result (real DuckDB, real index)."""
    settings = settings_factory(max_tokens=200)
    assistant = Assistant(StubRouter(settings, fake_model), ConversationStore(tmp_path / "chats.sqlite"),
                          SqliteRecordStore(tmp_path / "records.sqlite"))
    db = tmp_path / "tables.duckdb"
    tables = TablesService(TableStore(db))
    assistant.attach_tables(lambda: tables, db.exists)
    library = DocumentLibrary(settings.data_dir)
    assistant.attach_documents(lambda: library, lambda: True)
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue(ANSWER)
    conv = assistant.conversations.create()
    result = assistant.ask(QUESTION, conversation_id=conv.id,
                           files=[("policy.pdf", pf.text_pdf(POLICY_PAGES)), ("sales.csv", SALES_CSV)]).run()
    assert result.status == "ok" and result.record_id
    yield Answered(assistant, tables, conv.id)
    tables.close()
