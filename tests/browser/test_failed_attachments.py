"""In a real browser: a file attached in the chat that cannot be read gets a plain answer naming it and why,
not a "summary" or columns invented from elsewhere (issue 11, item 3)."""

from __future__ import annotations

import random

from tests.fixtures.browser import assert_no_exception, send_chat

MESSAGE = '[data-testid="stChatMessage"]'


def _last_answer(page, expected: str) -> tuple[str, str]:
    """The newest chat message once it contains `expected` (the saved answer after the rerun): its first
    paragraph and its whole text."""
    # The saved answer (drawn after the rerun) names its failed step; the live view being replaced does not.
    page.locator(MESSAGE).last.filter(has_text=expected).filter(has_text="1 failed").wait_for(timeout=180_000)
    message = page.locator(MESSAGE).last
    return message.locator('[data-testid="stMarkdown"]').first.inner_text(), message.inner_text()


def test_unreadable_attachments_are_named_and_nothing_is_invented(running_app, browser_page, tmp_path):
    page = browser_page
    page.goto(running_app.url)
    report = tmp_path / "report.pdf"
    report.write_bytes(b"")

    send_chat(page, "Summarise this report", files=[report])
    first, text = _last_answer(page, "report.pdf could not be read")

    # The answer opens with the file and why; nothing "summarised" comes before or instead of it.
    assert first.startswith("report.pdf could not be read: it is empty (0 bytes)")
    assert "cannot answer this question about it" in text and "1 step(s), 1 failed" in text
    assert_no_exception(page)

    data = tmp_path / "data.csv"
    data.write_bytes(random.Random(11).randbytes(4096))
    send_chat(page, "What columns does data.csv have?", files=[data])
    first, text = _last_answer(page, "data.csv could not be read")

    assert first.startswith("data.csv could not be read:") and "damaged or mislabelled" in first
    assert "cannot answer this question about it" in text and "1 step(s), 1 failed" in text
    assert_no_exception(page)
    page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
