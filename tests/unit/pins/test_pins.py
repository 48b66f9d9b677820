"""Pins on real DuckDB: an SQL-backed answer pinned, refreshed after its table changed, stale once it is gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chat.assistant import Assistant
from app.errors import BadInputError
from app.pins.refresh import pin_latest_answer, refresh_pin
from app.pins.store import PinStore
from app.tables.service import TablesService
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore
from storage.tables import TableStore
from tests.fixtures.fakes import StubRouter
from tests.fixtures.turns import SALES_CSV, TOTAL_SQL, sql_reply


@pytest.fixture()
def env(tmp_path, settings_factory, fake_model):
    """A conversation whose answer cites the total revenue of a real DuckDB table, and an empty board."""
    settings = settings_factory(max_tokens=200)
    assistant = Assistant(StubRouter(settings, fake_model), ConversationStore(tmp_path / "chats.sqlite"),
                          SqliteRecordStore(tmp_path / "records.sqlite"))
    tables = TablesService(TableStore(tmp_path / "tables.duckdb"))
    assistant.attach_tables(lambda: tables, (tmp_path / "tables.duckdb").exists)
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("The total revenue is 238.42 [S1].")
    conv = assistant.conversations.create()
    assert assistant.ask("What is the total revenue?", conversation_id=conv.id,
                         files=[("sales.csv", SALES_CSV)]).run().status == "ok"

    class Env:
        pass

    Env.assistant, Env.tables, Env.conversation_id = assistant, tables, conv.id
    Env.board = PinStore(tmp_path / "board.sqlite")
    yield Env
    tables.close()


def _replace_sales(tables: TablesService, tmp_path: Path, extra_line: str) -> None:
    (source,) = tables.sources()
    tables.delete_source(source.sha256)
    changed = tmp_path / "sales.csv"
    changed.write_bytes(SALES_CSV.rstrip(b"\n") + b"\n" + extra_line.encode() + b"\n")
    tables.load_file(changed)


def test_a_pin_refreshes_on_the_changed_table_and_says_what_changed(env, tmp_path):
    records = env.assistant.records
    pin = pin_latest_answer(env.board, env.assistant.conversations, records, env.conversation_id, "ana")
    assert (pin.sql, pin.headline) == (TOTAL_SQL, "total_revenue = 238.42")
    assert pin_latest_answer(env.board, env.assistant.conversations, records, env.conversation_id, "ana").id == pin.id
    _replace_sales(env.tables, tmp_path, "7,North,2024-01-09,Widget,1,100.00")  # one more order

    refreshed = refresh_pin(env.board, env.tables, records, env.board.get(pin.id), "ana")

    assert refreshed.changed and refreshed.pin.headline == "total_revenue = 338.42"
    assert "changed total_revenue = 238.42 -> total_revenue = 338.42" in refreshed.summary
    (stored,) = env.board.list()
    assert (stored.headline, stored.previous, stored.stale) == ("total_revenue = 338.42", "total_revenue = 238.42", "")
    (record,) = records.query(kind="pin_refreshed")
    assert record["changed"] is True and record["after"] == "total_revenue = 338.42"
    assert records.verify() == []


def test_a_pin_whose_table_is_gone_keeps_its_value_marked_stale(env):
    records = env.assistant.records
    pin = pin_latest_answer(env.board, env.assistant.conversations, records, env.conversation_id, "ana")
    (source,) = env.tables.sources()
    env.tables.delete_source(source.sha256)

    refreshed = refresh_pin(env.board, env.tables, records, pin, "ana")

    assert refreshed.pin.stale and "sales" in refreshed.pin.stale
    assert refreshed.pin.headline == "total_revenue = 238.42" and not refreshed.changed
    assert refreshed.summary.startswith("STALE")
    assert env.board.list()[0].stale == refreshed.pin.stale
    (record,) = records.query(kind="pin_refreshed")
    assert record["status"] == "error"


def test_a_conversation_without_an_sql_answer_cannot_be_pinned(env):
    conv = env.assistant.conversations.create()
    env.assistant.conversations.add_message(conv.id, "user", "Hello?")
    env.assistant.conversations.add_message(conv.id, "assistant", "Hello.")
    with pytest.raises(BadInputError, match="nothing to pin"):
        pin_latest_answer(env.board, env.assistant.conversations, env.assistant.records, conv.id, "ana")


def test_a_multi_row_pin_says_when_its_values_changed(env, tmp_path):
    records = env.assistant.records
    pin = env.board.add("Revenue by region?", "SELECT region, SUM(revenue) AS revenue FROM sales GROUP BY 1 ORDER BY 1",
                        ["region", "revenue"], [], 0)
    first = refresh_pin(env.board, env.tables, records, pin, "ana")
    assert first.changed and not first.pin.stale
    assert not refresh_pin(env.board, env.tables, records, env.board.get(pin.id), "ana").changed
    _replace_sales(env.tables, tmp_path, "7,North,2024-01-09,Widget,1,100.00")
    again = refresh_pin(env.board, env.tables, records, env.board.get(pin.id), "ana")
    assert again.changed and again.summary.startswith(f"{pin.id}: values changed")
