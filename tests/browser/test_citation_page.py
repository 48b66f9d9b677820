"""A document citation opens its page as an image with the passage highlighted (issue 11, item 6), in a real
browser: a real PDF attached in the chat, indexed by the app, answered by the embedded 0.5B model."""

from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.fixtures.browser import assert_no_exception, send_chat
from tests.fixtures.pdf_factory import text_pdf, write

MANUAL = [
    ["Orion X2 cordless drill - user guide", "Charging: the battery charges fully in 90 minutes.",
     "Use only the supplied charger. Store the battery at room temperature."],
    ["Orion X2 warranty", "The warranty on the Orion X2 drill lasts 36 months from the date of purchase.",
     "The warranty does not cover worn drill bits or damage from dropping the tool."],
]


def switch_on(scope, label: str, shows) -> None:
    """Turn a toggle on and wait for what it shows. A click that lands while the app redraws the
    conversation is lost, so the switch is clicked again (at most three times) until it shows."""
    box = scope.locator('[data-testid="stCheckbox"]', has_text=label).locator('input[type="checkbox"]')
    for attempt in range(3):
        if not box.is_checked():  # a click that did land but is slow to show must not switch it off again
            scope.get_by_text(label, exact=True).click()
        try:
            shows.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_a_citation_opens_the_rendered_page_with_the_passage_highlighted(running_app, browser_page, tmp_path):
    manual = write(tmp_path / "orion-x2-guide.pdf", text_pdf(MANUAL))
    page = browser_page
    page.goto(running_app.url)

    send_chat(page, "How long does the warranty on the Orion X2 drill last, according to the guide?", files=[manual])

    # Whatever the model writes, a document answer carries a page citation: "[n] orion-x2-guide.pdf, page N".
    label = page.locator("summary", has_text=re.compile(r"orion-x2-guide\.pdf, page \d"))
    expander = page.locator('[data-testid="stExpander"]', has=label).first
    expander.wait_for(timeout=300_000)
    # The finished answer is drawn once more (with its actions): a toggle clicked before that is lost.
    page.get_by_role("button", name="Regenerate").wait_for(timeout=60_000)
    assert_no_exception(page)
    expander.locator("summary").click()
    image = expander.locator('[data-testid="stImage"] img').first
    switch_on(expander, "Show the page", image)
    alt = image.get_attribute("alt") or ""
    assert re.match(r"Page \d of orion-x2-guide\.pdf", alt), alt
    # The passage is on the page's text layer, so it is highlighted (no "could not be located" caption).
    assert alt.endswith("the cited passage highlighted"), alt
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert abs(width / height - 612 / 792) < 0.01  # the whole letter-size page, not a crop of it
    # The picture the browser shows holds highlight colour (the page itself is black on white: red == blue).
    yellow = image.evaluate("""img => {
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] - d[i + 2] > 60) n++;
        return n; }""")
    assert yellow > 1000, yellow
    png = page.request.get(image.get_attribute("src") or "").body()
    (tmp_path / "citation-page.png").write_bytes(png)  # kept in the test's temp dir, to look at

    # The extracted text stays available as a second view, with the passage marked in it.
    switch_on(expander, "Show the extracted text", expander.locator("mark").first)
    assert_no_exception(page)
