"""The Evaluation page's "Do verified queries help?" through AppTest: with no verified pair for the set's database
the page says how to add one and offers no run; with one, the real 0.5B model answers the set's SQL questions
without and with it and the page shows both runs side by side."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

import app.ui.common
from storage.sql_examples import SqlExampleStore
from tests.fixtures import build_mini
from tests.fixtures.paths import ENTRY

RIGHT = "SELECT region, sum(units) AS units FROM sales GROUP BY region ORDER BY units DESC"


def _open() -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=600).run()
    at.switch_page("../pages/evaluation.py").run()
    assert not at.exception
    at.selectbox(key="evaluation.examples.set").set_value("mini.jsonl").run()
    return at


def test_verified_queries_are_measured_side_by_side_on_the_page(data_dir: Path):
    build_mini.build(data_dir / "eval" / "mini")  # a set the user keeps in the data dir, with its database
    try:
        at = _open()
        assert any("2 SQL question(s) · verified pairs stored: shop: 0" in c.value for c in at.caption)
        assert any("No verified queries are stored" in i.value for i in at.info)
        assert at.button(key="evaluation.examples.run").disabled

        SqlExampleStore(data_dir / "sql_examples.sqlite").add("Units sold per region, most units first.", RIGHT,
                                                              database="shop")
        at.run()
        assert not at.button(key="evaluation.examples.run").disabled
        at.button(key="evaluation.examples.run").click().run()
        assert not at.exception and not at.error

        table = next(d.value for d in at.dataframe if "with verified queries" in d.value.columns)
        table = table.data if hasattr(table, "data") else table  # a Styler shows its frame
        assert list(table.columns) == ["metric", "without verified queries", "with verified queries", "change"]
        assert "SQL execution accuracy" in list(table["metric"])
        assert "Seconds per question (median)" in list(table["metric"])
        assert any("Verified pairs were shown for 1 of 2 question(s)" in c.value for c in at.caption)
    finally:
        app.ui.common._services().close()
        st.cache_resource.clear()
