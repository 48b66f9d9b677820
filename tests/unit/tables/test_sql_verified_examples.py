"""Verified queries: stored per database, retrieved by similarity, shown to the model only while they still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import BadInputError
from app.tables.service import TablesService
from storage.sql_examples import SqlExampleStore
from tests.fixtures.fakes import ScriptedModel

GOOD = ("Which products did customer 2 order?",
        "SELECT p.title FROM orders o JOIN order_items i ON o.order_id = i.order_id "
        "JOIN products p ON i.product_id = p.product_id WHERE o.customer_id = 2")


def test_similar_verified_pairs_of_the_same_database_are_shown_and_broken_ones_are_not(shop: Path,
                                                                                     tmp_path: Path) -> None:
    store = SqlExampleStore(tmp_path / "sql_examples.sqlite")
    store.add(*GOOD, database="shop")
    store.add("Which products did customer 3 order?", "SELECT title FROM gone_table", database="shop")
    store.add("Which products did customer 1 order?", "SELECT 1", database="another")
    model = ScriptedModel(["```sql\nSELECT 1\n```"])
    service = TablesService.open_database(shop, model=model, examples=lambda db, q: [
        (e.question, e.sql) for _, e in store.similar(db, q, 3)])
    try:
        service.ask("Which products did customer 1 order?")
    finally:
        service.close()
    prompt = model.sent[0][-1].content
    assert "Verified examples" in prompt and GOOD[1] in prompt
    assert "gone_table" not in prompt and "another" not in prompt


def test_mark_correct_stores_only_sql_that_is_safe_and_runs(shop: Path, tmp_path: Path) -> None:
    store = SqlExampleStore(tmp_path / "sql_examples.sqlite")
    service = TablesService.open_database(shop)
    try:
        example = service.mark_correct(store, *GOOD, user="ann")
        with pytest.raises(BadInputError, match="cannot be stored"):
            service.mark_correct(store, "Drop it", "DROP TABLE orders")
        with pytest.raises(BadInputError, match="cannot be stored"):
            service.mark_correct(store, "Missing", "SELECT nope FROM orders")
        with pytest.raises(BadInputError, match="needs the question"):
            service.mark_correct(store, "  ", "SELECT 1")
    finally:
        service.close()
    assert [(e.id, e.database, e.user) for e in store.list()] == [(example.id, "shop", "ann")]
    assert store.similar("shop", "What did customer 2 order?")[0][1].id == example.id
    assert store.delete(example.id) and not store.delete(example.id) and store.list() == []
