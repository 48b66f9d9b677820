"""Fixtures for whole chat turns: an assistant on real stores in a temp dir, answering with the scripted model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chat.assistant import Assistant
from app.documents.library import DocumentLibrary
from app.tables.service import TablesService
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore
from storage.tables import TableStore
from tests.fixtures.fakes import FakeChatModel, StubRouter

EnvBuilder = Callable[..., tuple[Assistant, TablesService, DocumentLibrary | None]]


@pytest.fixture()
def make_env(tmp_path: Path, settings_factory: Callable[..., Any], fake_model: FakeChatModel) -> Iterator[EnvBuilder]:
    """An assistant with real stores, real DuckDB tables and (optionally) a real document library."""
    services: list[TablesService] = []

    def build(documents: bool = False, **settings: Any) -> tuple[Assistant, TablesService, DocumentLibrary | None]:
        built = settings_factory(max_tokens=200, **settings)
        assistant = Assistant(
            StubRouter(built, fake_model),
            ConversationStore(tmp_path / "chats.sqlite"),
            SqliteRecordStore(tmp_path / "records.sqlite"),
        )
        db = tmp_path / "tables.duckdb"
        tables = TablesService(TableStore(db))
        services.append(tables)
        assistant.attach_tables(lambda: tables, db.exists)
        library = None
        if documents:
            library = DocumentLibrary(built.data_dir)
            assistant.attach_documents(lambda: library, lambda: True)
        return assistant, tables, library

    yield build
    for service in services:
        service.close()
