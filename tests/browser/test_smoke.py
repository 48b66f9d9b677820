"""Real-browser smoke test: start the app with `python -m app serve`, ask a question in Chromium."""

from __future__ import annotations

from tests.fixtures.browser import assert_no_exception, send_chat


def test_chat_in_a_real_browser(running_app, browser_page, tmp_path):
    page = browser_page
    page.goto(running_app.url)
    send_chat(page, "What is the capital of France?")
    page.get_by_text("Paris").first.wait_for(timeout=180_000)
    page.get_by_text("qwen2.5-coder-0.5b (embedded)").first.wait_for(timeout=60_000)
    assert page.get_by_text("What is the capital of France?").count() >= 1
    assert_no_exception(page)
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000
