"""A PDF page as a PNG image, with a cited passage highlighted on it (pypdfium2 draws, Pillow marks).

The passage comes from the index, whose text pypdf extracted; the boxes come from PDFium's own text
layer. The two differ in whitespace, hyphenation, ligatures and quotes, so the passage is located on
letters and digits only, first whole and then by short anchors, and an unlocatable passage still
shows its page (without a highlight, saying why) rather than a wrong one.
"""

from __future__ import annotations

import ctypes
import io
import statistics
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw

from app.errors import BadInputError, NotFoundError
from multimodal.pdf import CorruptPdfError, EncryptedPdfError

DEFAULT_SCALE = 1.5  # 108 dpi: body text stays legible in a chat column without a huge image
MAX_SIDE_PX = 3000  # a poster-sized page is scaled down instead of allocating hundreds of megabytes
HIGHLIGHT = (255, 210, 0, 100)  # translucent yellow: the text under it stays readable
HIGHLIGHT_PAD_PX = 2
_PUNCTUATION = ".,;:!?)(][\"'“”‘’«»…-"
_ANCHOR = 24  # letters per anchor when the whole passage is not found verbatim
_CACHE_PAGES = 24  # rendered PNGs kept in memory (~0.1-0.5 MB each), so reruns never redraw a page

# PDFium is not thread-safe, and Streamlit serves each browser session from its own thread.
_PDFIUM_LOCK = threading.Lock()

NO_TEXT_LAYER = "This page is a scanned image without a text layer, so the passage cannot be highlighted on it."
NOT_LOCATED = ("The passage could not be located in this page's text layer (it differs from the indexed "
               "text), so it is not highlighted.")


@dataclass(frozen=True)
class RenderedPage:
    """A drawn page: PNG bytes, their size in pixels, the highlight boxes, and why there are none."""

    png: bytes
    width: int
    height: int
    boxes: tuple[tuple[int, int, int, int], ...] = field(default=())
    note: str = ""

    @property
    def highlighted(self) -> bool:
        return bool(self.boxes)


def render_page_png(pdf_path: Path | str, page_number: int, passage_text: str = "",
                    scale: float = DEFAULT_SCALE, *, name: str = "") -> bytes:
    """PNG of page `page_number` (1-based) with `passage_text` highlighted where it is found."""
    return render_page(pdf_path, page_number, passage_text, scale, name=name).png


def render_page(pdf_path: Path | str, page_number: int, passage_text: str = "",
                scale: float = DEFAULT_SCALE, *, name: str = "") -> RenderedPage:
    """The page drawn at `scale` (1 = 72 dpi), the passage highlighted; cached per file version.

    Messages call the file `name` (default: its file name; the library stores copies under their hash).
    Raises NotFoundError (no such file or page), EncryptedPdfError, CorruptPdfError (not readable as a
    PDF) or BadInputError (a scale outside 0.25-4)."""
    path = Path(pdf_path)
    name = name or path.name
    if not 0.25 <= scale <= 4:
        raise BadInputError(f"Scale {scale} is outside 0.25-4.", "Use 1.5 for a readable page.")
    try:
        stat = path.stat()
    except OSError:
        raise NotFoundError(f"The file {name} is missing.", "Add the document again.") from None
    if not path.is_file():
        raise NotFoundError(f"{name} is not a file.", "Add the document again.")
    # The file's size and mtime are part of the key: a replaced file is drawn afresh.
    return _render_cached(str(path), stat.st_mtime_ns, stat.st_size, int(page_number),
                          " ".join(passage_text.split()), float(scale), name)


@lru_cache(maxsize=_CACHE_PAGES)
def _render_cached(path: str, _mtime_ns: int, _size: int, page_number: int, passage: str,
                   scale: float, name: str) -> RenderedPage:
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                raise EncryptedPdfError(f"{name} is password-protected, so its pages cannot be drawn.",
                                        "The page's extracted text is shown instead.") from None
            raise CorruptPdfError(f"{name} cannot be read as a PDF ({exc}).",
                                  "The file may be damaged; add it again.") from None
        try:
            if not 1 <= page_number <= len(doc):
                raise NotFoundError(f"{name} has no page {page_number} (it has {len(doc)}).")
            page = doc[page_number - 1]
            try:
                return _draw(page, passage, scale)
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            raise CorruptPdfError(f"Page {page_number} of {name} cannot be drawn ({exc}).",
                                  "The file may be damaged.") from None
        finally:
            doc.close()


def _draw(page: pdfium.PdfPage, passage: str, scale: float) -> RenderedPage:
    width_pt, height_pt = page.get_size()
    scale = min(scale, MAX_SIDE_PX / max(width_pt, height_pt, 1.0))
    image = page.render(scale=scale).to_pil().convert("RGB")
    boxes: list[tuple[int, int, int, int]] = []
    note = ""
    if passage:
        textpage = page.get_textpage()
        try:
            chars = _page_chars(textpage)
            span = locate(chars, passage) if chars.strip() else None
            if not chars.strip():
                note = NO_TEXT_LAYER
            elif span is None:
                note = NOT_LOCATED
            else:
                boxes = _pixel_boxes(page, textpage, span, image.size)
        finally:
            textpage.close()
    if boxes:
        image = _highlight(image, boxes)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return RenderedPage(out.getvalue(), image.width, image.height, tuple(boxes), note)


def _page_chars(textpage: pdfium.PdfTextPage) -> str:
    """The text layer, one str character per PDFium character index (so indexes map back to boxes)."""
    codes = (pdfium_c.FPDFText_GetUnicode(textpage.raw, i) for i in range(textpage.count_chars()))
    return "".join(chr(c) if 0 < c < 0x110000 and not 0xD800 <= c < 0xE000 else " " for c in codes)


def _normalised(text: str) -> tuple[str, list[int]]:
    """Lower-case letters and digits only (ligatures unfolded), and for each the index it came from."""
    letters: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).lower():
            if c.isalnum():
                letters.append(c)
                origin.append(i)
    return "".join(letters), origin


def locate(page_text: str, passage: str) -> tuple[int, int] | None:
    """Where the passage lies in page_text, as [start, end) character indexes, or None.

    Whitespace, punctuation, hyphenation and case are ignored. When the passage is not there verbatim,
    anchors of a few words each are looked up; those that agree on where the passage starts (most
    extraction differences are local) give the span. Too few agreeing anchors: None, not a guess."""
    page_norm, origin = _normalised(page_text)
    passage_norm, _ = _normalised(passage)
    if not passage_norm or not page_norm:
        return None
    at = page_norm.find(passage_norm)
    if at >= 0:
        return _with_edges(page_text, passage, origin[at], origin[at + len(passage_norm) - 1] + 1)
    if len(passage_norm) < 2 * _ANCHOR:
        return None
    offsets = list(range(0, len(passage_norm) - _ANCHOR + 1, _ANCHOR))
    if offsets[-1] != len(passage_norm) - _ANCHOR:
        offsets.append(len(passage_norm) - _ANCHOR)  # the last letters too: the highlight ends where it should
    hits = _anchor_hits(page_norm, passage_norm, offsets)
    if len(hits) < max(2, len(offsets) // 3):
        return None
    start = statistics.median(pos - off for off, pos in hits)
    slack = max(_ANCHOR, len(passage_norm) // 5)
    agreeing = [(off, pos) for off, pos in hits if abs((pos - off) - start) <= slack]
    if len(agreeing) < max(2, len(offsets) // 3):
        return None
    first = min(pos for _, pos in agreeing)
    last = max(pos for _, pos in agreeing) + _ANCHOR - 1
    return _with_edges(page_text, passage, origin[first], origin[last] + 1)


def _with_edges(page_text: str, passage: str, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) over the punctuation the passage starts or ends with (a final full stop, an
    opening quote), which the letters-only match left out."""
    body = passage.strip()
    opening = len(body) - len(body.lstrip(_PUNCTUATION))
    closing = len(body) - len(body.rstrip(_PUNCTUATION))
    while opening and start > 0 and page_text[start - 1] in _PUNCTUATION:
        start, opening = start - 1, opening - 1
    while closing and end < len(page_text) and page_text[end] in _PUNCTUATION:
        end, closing = end + 1, closing - 1
    return start, end


def _anchor_hits(page_norm: str, passage_norm: str, offsets: Sequence[int]) -> list[tuple[int, int]]:
    """(offset in passage, position in page) for each anchor found exactly once on the page."""
    hits = []
    for off in offsets:
        anchor = passage_norm[off: off + _ANCHOR]
        pos = page_norm.find(anchor)
        if pos >= 0 and page_norm.find(anchor, pos + 1) < 0:  # a repeated phrase places nothing
            hits.append((off, pos))
    return hits


def _pixel_boxes(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, span: tuple[int, int],
                 size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The span's text rectangles (PDFium merges characters into runs per line) in image pixels."""
    start, end = span
    boxes = []
    for i in range(textpage.count_rects(start, end - start)):
        left, bottom, right, top = textpage.get_rect(i)
        # PageToDevice applies the page's rotation and crop box, as the rendering did.
        corners = [_to_device(page, size, x, y) for x, y in ((left, top), (right, bottom))]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        box = (max(0, min(xs) - HIGHLIGHT_PAD_PX), max(0, min(ys) - HIGHLIGHT_PAD_PX),
               min(size[0], max(xs) + HIGHLIGHT_PAD_PX), min(size[1], max(ys) + HIGHLIGHT_PAD_PX))
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return _merge_lines(boxes)


def _merge_lines(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """One box per stretch of a line: PDFium splits a line at every font change (code, bold), which would
    leave the highlight full of gaps."""
    merged: list[tuple[int, int, int, int]] = []
    for box in boxes:
        if merged:
            x0, y0, x1, y1 = merged[-1]
            overlap = min(y1, box[3]) - max(y0, box[1])
            height = min(y1 - y0, box[3] - box[1])
            if overlap >= height / 2 and box[0] - x1 <= height * 2:
                merged[-1] = (min(x0, box[0]), min(y0, box[1]), max(x1, box[2]), max(y1, box[3]))
                continue
        merged.append(box)
    return merged


def _to_device(page: pdfium.PdfPage, size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    dx, dy = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
    return dx.value, dy.value


def _highlight(image: Image.Image, boxes: Sequence[tuple[int, int, int, int]]) -> Image.Image:
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for box in boxes:
        draw.rectangle(box, fill=HIGHLIGHT)
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
