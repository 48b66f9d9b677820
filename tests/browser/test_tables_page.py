"""The Tables page in a real browser (issue 11, item 8): Enter asks, one click runs, the editor is there at once.

A plain button that is disabled until the question box has text swallows the first click (that click only
commits the text), and Enter in the box never asked at all; only a real browser shows either.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.fixtures.browser import assert_no_exception

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tables"
QUESTION_LABEL = "Ask a question about your tables"


def _load_sales(page, url: str) -> None:
    page.goto(f"{url}/tables")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(FIXTURES / "sales.csv"))
    page.get_by_text("sales.csv: sales").first.wait_for(timeout=120_000)
    # A fresh session: the loaded table stays, the upload's message goes (so any message below is new).
    page.goto(f"{url}/tables")
    page.get_by_label(QUESTION_LABEL).wait_for(timeout=60_000)


def test_enter_asks_and_one_click_runs_sql(running_app, browser_page):
    page = browser_page
    _load_sales(page, running_app.url)
    editor = page.locator('[data-testid="stTextArea"] textarea')
    expect(editor).to_be_visible()  # the SQL editor is there before any question

    # Enter in the question box asks: the model's SQL lands in the editor, or the page says why it has none.
    page.get_by_label(QUESTION_LABEL).fill("How many orders are in the sales table?")
    page.get_by_label(QUESTION_LABEL).press("Enter")
    outcome = page.get_by_text(re.compile(r"\d+ attempt\(s\)")).or_(page.locator('[data-testid="stAlert"]'))
    outcome.first.wait_for(timeout=300_000)
    assert_no_exception(page)

    # Typed, then one click on Run SQL with nothing in between: the click runs the query just typed.
    editor.fill("SELECT region, sum(revenue) AS revenue FROM sales GROUP BY region ORDER BY revenue ASC")
    page.get_by_role("button", name="Run SQL").click()
    page.get_by_text("in the query's order: region = South").first.wait_for(timeout=60_000)
    expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()

    # Ctrl+Enter in the editor runs it too.
    editor.fill("SELECT count(*) AS orders FROM sales")
    editor.press("Control+Enter")
    orders = len((FIXTURES / "sales.csv").read_text(encoding="utf-8").splitlines()) - 1
    page.get_by_text(f"The answer is {orders} (orders).").first.wait_for(timeout=60_000)
    assert_no_exception(page)
