"""How a place inside a document is written in a citation, the same in the chat, exports, reports and the audit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def place_in_document(cite: Mapping[str, Any], page_word: str = "page") -> str:
    """'slide 7', '3.2 Revenue ¶4', 'Setup (lines 12–30)', '@ 12:31' or 'page 3' ('' when nothing is known).

    Word, PowerPoint, HTML, text and e-mail passages carry a locator; their `page` is only the section's
    number inside the document, so the locator wins over it.
    """
    locator = str(cite.get("locator") or "")
    if locator:
        return locator
    if cite.get("timestamp"):
        return f"@ {cite['timestamp']}"
    if cite.get("slide"):
        return f"slide {cite['slide']}"
    if cite.get("page") is not None:
        return f"{page_word} {cite['page']}"
    return ""
