"""Repair after DuckDB's binder errors: the hint names the table that has the column and the join path."""

from __future__ import annotations

from pathlib import Path

from app.tables.joins import join_graph
from app.tables.repair import binder_hint
from app.tables.service import TablesService
from storage.tables_engine import QueryEngine
from tests.fixtures.fakes import ScriptedModel

INVENTED = ("SELECT p.title FROM orders o JOIN products p ON o.order_id = p.order_id WHERE o.customer_id = 1")
RIGHT = ("SELECT DISTINCT p.title FROM orders o JOIN order_items i ON o.order_id = i.order_id "
         "JOIN products p ON i.product_id = p.product_id WHERE o.customer_id = 1")


def test_an_invented_join_key_gets_the_bridging_path(shop: Path) -> None:
    engine = QueryEngine.open_attached(shop)
    try:
        raw = 'Binder Error: Table "p" does not have a column named "order_id"\n\nCandidate bindings: : "title"'
        hint = binder_hint(raw, INVENTED, engine.tables(), join_graph(engine, "shop"))
    finally:
        engine.close()
    assert "table products has no column order_id" in hint
    assert "order_id is in orders, order_items" in hint or "order_id is in order_items" in hint
    assert "orders.order_id = order_items.order_id AND order_items.product_id = products.product_id" in hint


def test_an_ambiguous_column_gets_the_qualified_names(shop: Path) -> None:
    engine = QueryEngine.open_attached(shop)
    try:
        raw = ("Binder Error: Ambiguous reference to column name \"order_id\" (use: 'orders.order_id' or "
               "'order_items.order_id')")
        hint = binder_hint(raw, "SELECT order_id FROM orders JOIN order_items USING (order_id)", engine.tables(),
                           join_graph(engine, "shop"))
    finally:
        engine.close()
    assert "orders.order_id" in hint and "order_items.order_id" in hint


def test_the_repair_prompt_carries_the_path_and_the_repair_runs(shop: Path) -> None:
    model = ScriptedModel([f"```sql\n{INVENTED}\n```", f"```sql\n{RIGHT}\n```"])
    service = TablesService.open_database(shop, model=model, join_hints=True)
    try:
        answer = service.ask("Which products did customer 1 order?")
    finally:
        service.close()
    assert answer.error is None and answer.attempts == 2
    assert sorted(answer.rows) == [["Desk"], ["Lamp"]]
    repair = model.sent[1][-1].content
    assert "does not have a column named" in repair
    assert "order_items.product_id = products.product_id" in repair
