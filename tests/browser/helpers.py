"""Helpers for real-browser tests (Playwright on Debian's Chromium)."""

from __future__ import annotations

from pathlib import Path

CHAT_PLACEHOLDER = "Ask a question, attach files or record a voice note…"


def send_chat(page, question: str, files: list[Path] | None = None) -> None:
    """Type a question in the chat input, attach files, and send it with Enter."""
    box = page.get_by_placeholder(CHAT_PLACEHOLDER)
    box.wait_for(timeout=60_000)
    if files:
        # The chat input's hidden <input type=file>; Streamlit shows each file as a chip once read.
        page.locator('[data-testid="stChatInput"] input[type="file"]').set_input_files([str(f) for f in files])
        for f in files:
            page.get_by_text(f.name).first.wait_for(timeout=30_000)
    box.fill(question)
    box.press("Enter")


def assert_no_exception(page) -> None:
    """No Streamlit exception box (traceback) is on the page."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
