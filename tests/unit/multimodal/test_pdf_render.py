"""A cited page drawn as an image with its passage highlighted: real PDFs built by pdf_factory, drawn by
PDFium, the passage taken from the same extraction and chunking the index uses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from app.errors import BadInputError, NotFoundError
from multimodal.chunking import chunk_page
from multimodal.pdf import CorruptPdfError, EncryptedPdfError, open_pdf
from multimodal.pdf_render import NO_TEXT_LAYER, NOT_LOCATED, locate, render_page, render_page_png
from tests.fixtures import pdf_factory

# pdf_factory's layout: a 612 x 792 pt page, first baseline at y=760 pt, one line every 14 pt.
PAGE_W, PAGE_H, TOP_BASELINE, LEADING = 612, 792, 760, 14
SCALE = 1.5

FIRST_PAGE = [f"Chapter one, line {i}: the committee reviews revenue and returns." for i in range(12)]
SECOND_PAGE = [
    "Net revenue and how it is reported",
    "Revenue is reported every quarter by the finance office.",
    "Gross revenue is all sales before returns are taken off.",
    "The finance committee reviews the quarterly figures in March.",
    "Regional directors set the targets for their region each year.",
    "Net revenue is gross revenue minus returns, discounts and",
    "allowances. Refunds issued after a quarter closes are deducted",
    "from the following quarter's net revenue.",
    "A region that misses its target twice presents a recovery plan.",
    "Targets are published in the annual plan every January.",
]


@pytest.fixture()
def handbook(tmp_path: Path) -> Path:
    return pdf_factory.write(tmp_path / "handbook.pdf", pdf_factory.text_pdf([FIRST_PAGE, SECOND_PAGE]))


def indexed_passage(path: Path, page: int, contains: str) -> str:
    """The passage as the index stores it: pypdf's page text, cut by the index's chunker."""
    with open_pdf(path) as pdf:
        text = next(p.text for p in pdf.pages() if p.number == page)
    chunks = [c for c in chunk_page(text, page, max_chars=160, overlap_chars=0) if contains in " ".join(c.text.split())]
    assert chunks, "the fixture's passage is on the page"
    return chunks[0].text


def yellow_rows(png: bytes) -> tuple[Image.Image, list[int]]:
    """The image and the pixel rows holding highlight colour (the page itself is black on white: R == B)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    r, _, b = image.split()
    rows = []
    for y in range(image.height):
        line_r = r.crop((0, y, image.width, y + 1)).tobytes()
        line_b = b.crop((0, y, image.width, y + 1)).tobytes()
        if any(rr - bb > 60 for rr, bb in zip(line_r, line_b, strict=True)):
            rows.append(y)
    return image, rows


def line_band(first: int, last: int) -> tuple[float, float]:
    """Pixel rows from the top of line `first` to the bottom of line `last` (0-based), a line's slack each side."""
    top_pt = PAGE_H - (TOP_BASELINE - LEADING * first) - LEADING
    bottom_pt = PAGE_H - (TOP_BASELINE - LEADING * last) + LEADING / 2
    return top_pt * SCALE, bottom_pt * SCALE


def test_the_page_is_drawn_at_its_size_with_the_passage_highlighted_where_it_is(handbook):
    passage = indexed_passage(handbook, 2, "Net revenue is gross revenue minus returns")

    png = render_page_png(handbook, 2, passage, SCALE)

    image, rows = yellow_rows(png)
    assert abs(image.width / image.height - PAGE_W / PAGE_H) < 0.005
    assert image.width == pytest.approx(PAGE_W * SCALE, abs=2)
    assert rows, "the passage is highlighted"
    top, bottom = line_band(5, 7)  # the passage runs over lines 5-7 of the second page
    assert top <= min(rows) and max(rows) <= bottom
    assert set(range(int(line_band(0, 0)[0]), int(line_band(0, 0)[1]))).isdisjoint(rows)  # the title is not


def test_the_passage_is_found_despite_different_line_breaks_and_spacing(handbook):
    passage = "net revenue is gross revenue   minus returns,\ndiscounts and allowances."

    page = render_page(handbook, 2, passage, SCALE)

    assert page.highlighted and page.note == ""
    assert all(line_band(5, 6)[0] <= y0 and y1 <= line_band(5, 6)[1] for _, y0, _, y1 in page.boxes)


def test_a_passage_that_is_not_on_the_page_is_not_highlighted_and_the_page_says_so(handbook):
    page = render_page(handbook, 1, "Net revenue is gross revenue minus returns, discounts and allowances.", SCALE)

    _, rows = yellow_rows(page.png)
    assert rows == [] and not page.highlighted
    assert page.note == NOT_LOCATED
    assert (page.width, page.height) == pytest.approx((PAGE_W * SCALE, PAGE_H * SCALE), abs=2)


def test_no_passage_draws_the_plain_page(handbook):
    page = render_page(handbook, 1, "", SCALE)
    assert yellow_rows(page.png)[1] == [] and page.note == ""


def test_a_scanned_page_is_drawn_without_a_highlight_and_says_why(tmp_path):
    path = pdf_factory.write(tmp_path / "scan.pdf", pdf_factory.scanned_pdf([["Invoices are kept for 7 years."]]))

    page = render_page(path, 1, "Invoices are kept for 7 years.", SCALE)

    image = Image.open(io.BytesIO(page.png))
    assert image.width > 0 and not page.highlighted
    assert page.note == NO_TEXT_LAYER


def test_a_redrawn_page_comes_from_the_cache_until_the_file_changes(tmp_path):
    path = pdf_factory.write(tmp_path / "a.pdf", pdf_factory.text_pdf([["First version of the page."]]))
    first = render_page(path, 1, "First version", SCALE)
    assert render_page(path, 1, "First version", SCALE) is first

    pdf_factory.write(path, pdf_factory.text_pdf([["Second version of the page, somewhat longer."]]))
    again = render_page(path, 1, "First version", SCALE)
    assert again is not first and not again.highlighted


def test_missing_damaged_encrypted_files_and_wrong_pages_raise_typed_errors(tmp_path, handbook):
    with pytest.raises(NotFoundError, match="missing"):
        render_page(tmp_path / "gone.pdf", 1)
    broken = pdf_factory.write(tmp_path / "broken.pdf", pdf_factory.text_pdf([["x"]])[:120])
    with pytest.raises(CorruptPdfError, match="cannot be read as a PDF"):
        render_page(broken, 1)
    locked = pdf_factory.write(tmp_path / "locked.pdf",
                               pdf_factory.encrypted_pdf(pdf_factory.text_pdf([["secret"]]), "pw"))
    with pytest.raises(EncryptedPdfError, match="password"):
        render_page(locked, 1)
    with pytest.raises(NotFoundError, match="no page 3"):
        render_page(handbook, 3)
    with pytest.raises(BadInputError, match="Scale"):
        render_page(handbook, 1, "", 50)


def test_locate_anchors_on_the_ends_when_the_middle_was_extracted_differently():
    page = ("Header line\nThe retention policy applies to every record the office keeps. Invoices and receipts "
            "are kept for seven years after the end of the financial year, then destroyed.\nFooter 12")
    # The index saw a ligature and a hyphenated line break where the text layer has neither.
    passage = ("The retention policy applies to every record the office keeps. Invoices and re-\nceipts are "
               "kept for seven years after the end of the ﬁnancial year, then destroyed.")
    start, end = locate(page, passage)
    assert page[start:end].startswith("The retention policy") and page[start:end].endswith("destroyed.")

    changed = passage.replace("seven years", "7 years")  # a real difference in the middle: anchors still agree
    start, end = locate(page, changed)
    assert page[start:end].startswith("The retention") and page[start:end].endswith("destroyed.")

    assert locate(page, "Nothing of this sentence is anywhere on the page at all, not a single phrase.") is None


def test_a_rotated_page_is_drawn_turned_with_the_highlight_on_its_turned_line(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_factory.text_pdf([SECOND_PAGE]))))
    writer.pages[0].rotate(90)
    path = tmp_path / "rotated.pdf"
    with path.open("wb") as out:
        writer.write(out)

    page = render_page(path, 1, "Regional directors set the targets for their region each year.", SCALE)

    assert abs(page.width / page.height - PAGE_H / PAGE_W) < 0.005  # landscape, as a viewer shows it
    (x0, y0, x1, y1), = page.boxes
    assert y1 - y0 > 5 * (x1 - x0)  # the line now runs down the page, so its highlight is tall and narrow
    _, rows = yellow_rows(page.png)
    assert rows and min(rows) >= y0 and max(rows) <= y1
