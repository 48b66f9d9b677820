"""The join graph on a real DuckDB sales database whose orders reach products only through order_items."""

from __future__ import annotations

from pathlib import Path

from app.tables.joins import join_graph
from app.tables.prompt import select_schema
from app.tables.service import TablesService
from storage.tables_engine import QueryEngine
from tests.fixtures.fakes import ScriptedModel
from tests.fixtures.shop import build_shop

ORDERS_TO_PRODUCTS = ["orders.order_id = order_items.order_id", "order_items.product_id = products.product_id"]


def conditions(engine: QueryEngine, identity: str) -> set[str]:
    return {edge.condition() for edge in join_graph(engine, identity).edges}


def test_declared_foreign_keys_are_the_join_graph(tmp_path: Path) -> None:
    engine = QueryEngine.open_attached(build_shop(tmp_path / "declared.duckdb", declared=True))
    try:
        graph = join_graph(engine, "declared")
        assert all(edge.declared for edge in graph.edges)
        assert {e.condition() for e in graph.edges} == {
            "orders.customer_id = customers.customer_id", "order_items.order_id = orders.order_id",
            "order_items.product_id = products.product_id"}
    finally:
        engine.close()


def test_undeclared_keys_are_found_from_names_and_values_with_the_bridging_path(shop: Path) -> None:
    engine = QueryEngine.open_attached(shop)
    try:
        graph = join_graph(engine, "undeclared")
        found = {e.condition() for e in graph.edges}
        assert "customers.customer_id = orders.customer_id" in found
        assert {"order_items.order_id = orders.order_id", "order_items.product_id = products.product_id"} <= found
        assert not any("orders" in c and "products" in c for c in found)  # no invented direct key
        path = graph.path("orders", "products")
        assert path is not None and [e.other("order_items") for e in path] == ["orders", "products"]
        text = graph.describe(["orders", "products"])
        assert graph.describe(["orders"]) == ""
        assert "orders to products goes through order_items" in text
    finally:
        engine.close()


def test_values_that_do_not_overlap_make_no_join(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "apart.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE a AS SELECT range AS item_id FROM range(50)")
    con.execute("CREATE TABLE b AS SELECT range + 1000 AS item_id FROM range(50)")
    con.close()
    engine = QueryEngine.open_attached(path)
    try:
        assert join_graph(engine, "apart").edges == ()
    finally:
        engine.close()


def test_schema_selection_pulls_in_the_bridging_table(shop: Path) -> None:
    engine = QueryEngine.open_attached(shop)
    try:
        graph = join_graph(engine, "shop")
        # A budget too small for every table: only the tables the question names would be chosen.
        schema = select_schema(engine, "Which customers bought the Lamp product?", 100, graph=graph)
        assert {"customers", "products", "order_items", "orders"} <= set(schema.tables)
        without = select_schema(engine, "Which customers bought the Lamp product?", 100)
        assert "order_items" not in without.tables
    finally:
        engine.close()


def test_the_prompt_spells_out_the_join_path(shop: Path) -> None:
    model = ScriptedModel(["```sql\nSELECT count(*) FROM orders\n```"])
    service = TablesService.open_database(shop, model=model, join_hints=True)
    try:
        service.ask("How many products were ordered by each customer?")
    finally:
        service.close()
    prompt = model.sent[0][-1].content
    assert "Join keys" in prompt
    assert all(condition in prompt for condition in ORDERS_TO_PRODUCTS)
