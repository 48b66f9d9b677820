"""The Board page on real DuckDB: pins show their headline; Refresh all re-runs their SQL, and a pin whose table
is gone keeps its value, marked stale."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.pins.store import PinStore
from tests.fixtures.paths import ENTRY


def test_an_empty_board_says_how_to_pin(data_dir):
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.switch_page("../pages/board.py").run()
    assert not at.exception
    assert "No pinned answers yet" in at.info[0].value


def test_refresh_all_reruns_the_sql_and_marks_a_pin_on_a_missing_table_stale(data_dir):
    board = PinStore(data_dir / "board.sqlite")
    board.add("The answer?", "SELECT 41 + 1 AS answer", ["answer"], [[41]], 1)
    board.add("Orders?", "SELECT count(*) AS orders FROM gone_table", ["orders"], [[7]], 1)
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.switch_page("../pages/board.py").run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["answer = 41", "orders = 7"]

    at.button(key="board.refresh_all").click().run()

    assert not at.exception
    assert [m.value for m in at.metric] == ["answer = 42", "orders = 7"]
    assert any("Stale" in w.value and "gone_table" in w.value for w in at.warning)
    fresh, stale = board.list()
    assert (fresh.headline, fresh.previous, fresh.stale) == ("answer = 42", "answer = 41", "")
    assert stale.headline == "orders = 7" and "gone_table" in stale.stale
