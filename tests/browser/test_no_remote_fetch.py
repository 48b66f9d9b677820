"""Finding 5 (issue 17), in a real browser: a conversation whose answer and cited passage hold markdown images
(beacons), raw HTML images and links to another host is shown, its citation collapsed and then expanded,
and the browser sends no request to any host but the app's own."""

from __future__ import annotations

from urllib.parse import urlparse

from storage.conversations import OK, ConversationStore
from tests.fixtures.browser import assert_no_exception
from tests.fixtures.markdown import BEACON_ANSWER, BEACON_HOST, BEACON_PASSAGE

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _seed(data_dir) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = ConversationStore(data_dir / "chats.sqlite")
    conv = store.create("Quarterly report")
    store.add_message(conv.id, "user", "What does the report say about revenue?", OK, {})
    cite = {"n": 1, "source": "report.pdf", "page": 3, "quote": BEACON_PASSAGE, "doc_id": "", "chunk_id": "c1",
            "char_start": 0, "char_end": len(BEACON_PASSAGE)}
    step = {"name": "search_documents", "input": "revenue", "ok": True, "seconds": 0.2,
            "output": f"1 passage: {BEACON_PASSAGE}", "text": BEACON_PASSAGE}
    store.add_message(conv.id, "assistant", BEACON_ANSWER, OK,
                      {"citations": [cite], "tools": [step], "notices": [f"From the report: {BEACON_PASSAGE}"]})


def test_no_request_leaves_for_another_host_while_a_beacon_conversation_is_shown(app_factory, browser_page,
                                                                                  tmp_path):
    data_dir = tmp_path / "data"
    _seed(data_dir)
    app = app_factory(data_dir=str(data_dir))
    page = browser_page
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if urlparse(request.url).hostname not in LOCAL_HOSTS and not request.url.startswith("data:") else None)
    page.goto(app.url)

    # The answer is drawn with the beacon shown as text.
    page.get_by_text("Revenue grew", exact=False).first.wait_for(timeout=120_000)
    citation = page.locator('[data-testid="stExpander"]', has=page.locator("summary", has_text="report.pdf")).first
    citation.wait_for()
    page.wait_for_timeout(1500)  # let the browser issue anything the collapsed view would load
    assert_no_exception(page)
    assert not outside, outside

    citation.locator("summary").click()
    citation.get_by_text("Revenue grew 12% in Q3", exact=False).first.wait_for()
    steps = page.locator('[data-testid="stExpander"]', has=page.locator("summary", has_text="step(s)")).first
    steps.locator("summary").click()
    page.wait_for_timeout(1500)
    assert_no_exception(page)
    assert page.locator(f'img[src*="{BEACON_HOST}"]').count() == 0
    assert page.locator(f'a[href*="{BEACON_HOST}"]').count() == 0
    assert not outside, outside
    # What the passage said is on the page as text, for the reader to see.
    assert citation.get_by_text(BEACON_HOST, exact=False).count() > 0
