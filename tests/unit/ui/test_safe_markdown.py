"""app.ui.common.safe_markdown (issue 17, finding 5): images, links, autolinks, HTML and LaTeX in text from
documents or a model show as text; ordinary formatting and code stay. Checked by rendering the result with a
CommonMark renderer (tests.fixtures.markdown)."""

from __future__ import annotations

import pytest

from app.ui.common import safe_markdown
from tests.fixtures.markdown import BEACON, BEACON_ANSWER, BEACON_PASSAGE, fetches_or_links, rendered_text

ATTACKS = [
    BEACON_PASSAGE,
    BEACON_ANSWER,
    f"![x]({BEACON})",
    f"!\\[x]({BEACON}) and \\![y]({BEACON})",
    f"![x][r]\n\n[r]: {BEACON}",
    f"[r]: {BEACON}\n\n![x][r]",
    f"![x][]\n\n[x]: <{BEACON}>",
    f"<img src='{BEACON}'>",
    f"<div>\n<img src=\"{BEACON}\">\n</div>",
    f"<{BEACON}>",
    f"see {BEACON} and www.{BEACON[7:]}",
    f"[click]({BEACON}?data=secret)",
    f"`a` ![x]({BEACON}) `b`",
    f"`unclosed ![x]({BEACON})",
    f"``a`` ` ![x]({BEACON}) ``",
    f"- `a\n- ![x]({BEACON}) `",  # a code span cannot cross list items
    f"`a\n\n![x]({BEACON})\n\n`",  # nor paragraphs
    f"| a | b |\n|---|---|\n| `x | ![i]({BEACON}) ` |",  # nor table cells
    f"``` a`b\n![x]({BEACON})\n```",  # not a fence: a backtick in a backtick fence's info string
    f"1. item\n   ```\n   code\n![x]({BEACON})",  # a fence indented into a list item ends with the item
    f"> ```\n![x]({BEACON})",
    f"```\ncode\n```\n![x]({BEACON})",
    f"~~~\ncode\n~~~~\n![x]({BEACON})",
    f"```\ncode\n   ```\n![x]({BEACON})",  # a closing fence may be indented 3 spaces
    f"line\r![x]({BEACON})\r\n<{BEACON}>",
    f"[^1] footnote\n\n[^1]: {BEACON}",
    f":red[![x]({BEACON})]",
    f"\\\\![x]({BEACON})",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_nothing_is_drawn_as_an_image_link_or_html(text):
    assert fetches_or_links(text) or "```" in text or "<div>" in text or ":red[" in text or "`a\n" in text
    safe = safe_markdown(text)
    assert fetches_or_links(safe) == [], safe
    assert "<img" not in rendered_text(safe)


def test_what_was_written_is_still_shown_as_text():
    html = rendered_text(safe_markdown(f"Sales ![chart]({BEACON}) fell <b>3%</b>, cost $5 and $7."))
    assert "![chart](</code>" not in html
    assert f"![chart]({BEACON})" in html.replace("<code>", "").replace("</code>", "")
    assert "&lt;b&gt;3%&lt;/b&gt;" in html
    assert "$5 and $7" in html


def test_ordinary_formatting_and_code_stay():
    text = ("# Revenue\n\n**Total**: 12 _units_\n\n- East\n- West\n\n| region | n |\n|---|---|\n| East | 3 |\n\n"
            "Use `arr[0] < 3` here.\n\n```sql\nSELECT a[1], '<x>' FROM t WHERE s = '$1'\n```\n> quoted")
    safe = safe_markdown(text)
    html = rendered_text(safe)
    for part in ("<h1>Revenue</h1>", "<strong>Total</strong>", "<em>units</em>", "<li>East</li>", "<table>",
                 "<code>arr[0] &lt; 3</code>", "SELECT a[1], '&lt;x&gt;' FROM t WHERE s = '$1'", "<blockquote>"):
        assert part in html, (part, html)
    assert "\\" not in html


def test_a_bare_url_is_shown_as_code_not_a_link():
    html = rendered_text(safe_markdown(f"Source: {BEACON}?a=1."))
    assert f"<code>{BEACON}?a=1</code>." in html
