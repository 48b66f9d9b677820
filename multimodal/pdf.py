"""PDF -> pages of text with physical page numbers, with per-page quality checks and fallbacks.

Pages are produced one at a time (a generator) so a 1,000-page file never sits in memory as
text. Each page's text is checked; poor text (empty, garbled, run-together, mis-encoded) is
retried with pypdf's layout mode, a mojibake repair, and finally OCR of the page's images.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import BadInputError
from multimodal import ocr  # the module, so tests can stand in for ocr.ocr_image
from multimodal.kinds import PDF_SNIFF_BYTES, sniff_pdf
from multimodal.library_logs import collecting, route

log = logging.getLogger(__name__)

MIN_OCR_SIDE = 48  # smaller images are icons, bullets or rules, not scanned text
MAX_OCR_IMAGES_PER_PAGE = 4
DEFAULT_OCR_BUDGET = 300  # images OCR'd per document at most (~1 s each)


class PdfError(BadInputError):
    """A PDF that cannot be read as given."""


class EmptyFileError(PdfError):
    """The file has no bytes."""


class NotAPdfError(PdfError):
    """The bytes are not a PDF, whatever the file name says."""


class CorruptPdfError(PdfError):
    """The PDF is damaged or truncated beyond repair."""


class EncryptedPdfError(PdfError):
    """The PDF is encrypted and needs a password (or the given one is wrong)."""


class PdfDependencyError(PdfError):
    """Decrypting the PDF needs an optional package that is not installed."""


def check_pdf_bytes(path: Path, name: str = "") -> None:
    """Raise a typed error unless the file starts like a PDF; messages call it `name` (default: its file name)."""
    name = name or path.name
    with path.open("rb") as fh:
        kind = sniff_pdf(fh.read(PDF_SNIFF_BYTES))
    if kind == "empty":
        raise EmptyFileError(f"{name} is empty (0 bytes).", "Check the file was fully copied or downloaded.")
    if kind != "pdf":
        raise NotAPdfError(
            f"{name} is not a PDF (its content does not start with %PDF-).",
            "Only PDF documents can be added here; export the file to PDF first.",
        )


# ---- text quality -------------------------------------------------------------------------

_MOJIBAKE = re.compile(r"[ÃÂâ][\x80-\xbf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ¡-¿]")
_CID = re.compile(r"\(cid:\d+\)")
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-\n(?=[a-z])")
_DOT_LEADER = re.compile(r"(?: ?\.){4,} ?")


@dataclass(frozen=True)
class Quality:
    """How usable a page's text is: score in [0, 1] and the main problem, if any."""

    score: float
    problem: str = ""  # "" | "empty" | "encoding" | "garbled" | "run-together"

    @property
    def ok(self) -> bool:
        """True when the text can be indexed as is."""
        return not self.problem


def assess_text(text: str) -> Quality:
    """Score extracted text; thresholds are generic, not tuned to any one document."""
    visible = [c for c in text if not c.isspace()]
    if len(visible) < 20:
        return Quality(0.0, "empty")
    n = len(visible)
    bad = sum(1 for c in visible if c == "\ufffd" or (ord(c) < 32) or 0xE000 <= ord(c) <= 0xF8FF)
    bad += 5 * len(_CID.findall(text)) + 2 * len(_MOJIBAKE.findall(text))
    if bad / n > 0.03:
        return Quality(max(0.0, 0.5 - bad / n), "encoding")
    wordlike = sum(1 for c in visible if c.isalnum())
    if wordlike / n < 0.5:
        return Quality(wordlike / n, "garbled")
    words = text.split()
    long_chars = sum(len(w) for w in words if len(w) > 25 and "/" not in w)
    if long_chars / n > 0.3:
        return Quality(0.6 - long_chars / n / 2, "run-together")
    return Quality(1.0 - bad / n)


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 text that was decoded as cp1252/latin-1 (e.g. 'cafÃ©' -> 'café')."""
    if not _MOJIBAKE.search(text):
        return text
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    # Mixed text: repair only the broken runs.
    def fix(m: re.Match[str]) -> str:
        try:
            return m.group(0).encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return m.group(0)

    return re.sub(r"(?:[ÃÂâ][\x80-\xbf€-Ÿ¡-¿]{1,2})+", fix, text)


def normalise_page_text(text: str) -> str:
    """Tidy extracted text: join words hyphenated across lines, drop NULs and trailing spaces."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = _HYPHEN_BREAK.sub("", text)
    # Table-of-contents dot leaders look like garbage to the quality check and waste embedding tokens.
    text = _DOT_LEADER.sub(" ... ", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


# ---- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PdfInfo:
    """Document-level facts."""

    title: str
    author: str
    page_count: int
    encrypted: bool


@dataclass(frozen=True)
class PdfPage:
    """One physical page (1-based number) and how its text was obtained."""

    number: int
    text: str
    method: str  # "text" | "layout" | "repair" | "ocr" | "none"
    problem: str = ""  # problem of the first extraction, "" when it was fine
    ocr_skipped: bool = False  # OCR was needed but the budget or the OCR engine was missing

    @property
    def fallback(self) -> bool:
        """True when the plain extraction was not good enough."""
        return bool(self.problem)


class PdfFile:
    """An opened PDF; iterate `pages()` to stream page texts."""

    def __init__(
        self, path: Path, password: str | None = None, ocr_budget: int = DEFAULT_OCR_BUDGET, name: str = ""
    ) -> None:
        self.path = Path(path)
        # Messages name the file as the user knows it, not the content-addressed copy being read.
        self.name = name or self.path.name
        check_pdf_bytes(self.path, self.name)
        self.ocr_budget = ocr_budget
        self._notes: list[str] = []  # what pypdf worked around while reading (see `warnings`)
        route("pypdf")
        self._fh: BinaryIO = self.path.open("rb")
        with collecting(self._notes):
            encrypted, count = self._open(password)
            meta = self._safe_metadata()
        self.info = PdfInfo(
            title=meta.get("/Title", "") or "",
            author=meta.get("/Author", "") or "",
            page_count=count,
            encrypted=encrypted,
        )

    def _open(self, password: str | None) -> tuple[bool, int]:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError, PyPdfError

        try:
            self._reader = PdfReader(self._fh, strict=False)
            encrypted = bool(self._reader.is_encrypted)
            if encrypted:
                self._decrypt(password)
            count = len(self._reader.pages)
        except PdfError:
            self.close()
            raise
        except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError,
                RecursionError) as exc:
            self.close()
            raise CorruptPdfError(
                f"{self.name} is damaged and cannot be read ({type(exc).__name__}: {exc}).",
                "Re-export or re-download the PDF.",
            ) from exc
        if count == 0:
            self.close()
            raise CorruptPdfError(f"{self.name} has no readable pages.", "Re-export or re-download the PDF.")
        return encrypted, count

    @property
    def warnings(self) -> list[str]:
        """At most one line per kind of problem pypdf worked around in this file so far (pages read included)."""
        return pdf_warnings(self.name, self._notes)

    def _decrypt(self, password: str | None) -> None:
        from pypdf.errors import DependencyError

        try:
            for candidate in ("", password) if password else ("",):
                if self._reader.decrypt(candidate):
                    return
        except DependencyError as exc:
            raise PdfDependencyError(
                f"{self.name} uses AES encryption, which needs the 'cryptography' package.",
                "Install it (pip install cryptography) or save an unencrypted copy.",
            ) from exc
        if password:
            raise EncryptedPdfError(f"The password for {self.name} is wrong.", "Check the password and retry.")
        raise EncryptedPdfError(
            f"{self.name} is password-protected.", "Enter its password to add it (nothing was stored)."
        )

    def _safe_metadata(self) -> dict[str, Any]:
        try:
            meta: dict[Any, Any] = self._reader.metadata or {}
            return {k: str(v) for k, v in meta.items() if k in ("/Title", "/Author")}
        except Exception:  # noqa: BLE001 - metadata is optional; a broken Info dict must not fail the file
            return {}

    def close(self) -> None:
        """Release the file handle."""
        self._fh.close()

    def __enter__(self) -> PdfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, start: int = 1) -> Iterator[PdfPage]:
        """Yield pages from `start` (1-based) on, one at a time."""
        for number in range(start, self.info.page_count + 1):
            with collecting(self._notes):
                page = self._read_page(number)
            yield page

    def _read_page(self, number: int) -> PdfPage:
        page = self._reader.pages[number - 1]
        plain = normalise_page_text(self._extract(page, "plain"))
        quality = assess_text(plain)
        if quality.ok:
            return PdfPage(number, plain, "text")
        best, best_q, method = plain, quality, "text"
        repaired = repair_mojibake(plain)
        if repaired != plain:
            best, best_q, method = _better(best, best_q, method, repaired, "repair")
        if not best_q.ok:
            layout = normalise_page_text(_collapse_spaces(self._extract(page, "layout")))
            best, best_q, method = _better(best, best_q, method, layout, "layout")
        skipped = False
        if not best_q.ok:
            ocr_text, skipped = self._ocr_page(page)
            if ocr_text:
                best, best_q, method = _better(best, best_q, method, normalise_page_text(ocr_text), "ocr")
        if best_q.problem == "empty" and not best.strip():
            method = "none"
        return PdfPage(number, best, method, quality.problem, skipped)

    def _extract(self, page: Any, mode: str) -> str:
        from pypdf.errors import DependencyError

        try:
            return page.extract_text(extraction_mode=mode) or ""
        except DependencyError as exc:
            # AES streams only fail when read; never index such a file as silently empty pages.
            raise PdfDependencyError(
                f"{self.name} uses AES encryption, which needs the 'cryptography' package.",
                "Install it (pip install cryptography) or save an unencrypted copy.",
            ) from exc
        except Exception as exc:  # noqa: BLE001 - one broken content stream must not lose the document
            log.warning("%s: text extraction (%s) failed: %s", self.name, mode, exc)
            return ""

    def _ocr_page(self, page: Any) -> tuple[str, bool]:
        candidates = _image_names(page)
        if not candidates:
            return "", False
        if self.ocr_budget <= 0:
            return "", True
        texts = []
        for name in candidates[:MAX_OCR_IMAGES_PER_PAGE]:
            if self.ocr_budget <= 0:
                break
            self.ocr_budget -= 1
            try:
                image = page.images[name].image
                texts.append(ocr.ocr_image(image.convert("RGB")).text)
            except Exception as exc:  # noqa: BLE001 - undecodable image: skip it, keep the page
                log.warning("%s: OCR of image %s failed: %s", self.name, name, exc)
        return "\n".join(t for t in texts if t.strip()), False


def pdf_warnings(name: str, notes: list[str]) -> list[str]:
    """pypdf's many log lines about one file, as at most two lines that say what they mean for the user."""
    fonts = [n for n in notes if "fontTools" in n]
    repairs = list(dict.fromkeys(n for n in notes if "fontTools" not in n))
    out = []
    if repairs:
        more = f"; {len(repairs) - 1} more" if len(repairs) > 1 else ""
        out.append(f"{name} is damaged; it was read with repairs ({repairs[0][:120]}{more}). "
                   "Check that its text is complete, or re-export the PDF.")
    if fonts:
        out.append(f"{name} uses a compact (CFF) font whose character map cannot be fully read; "
                   "a few characters of its text may be wrong.")
    return out


def _better(best: str, best_q: Quality, method: str, text: str, new_method: str) -> tuple[str, Quality, str]:
    q = assess_text(text)
    if q.score > best_q.score or (q.ok and not best_q.ok):
        return text, q, new_method
    return best, best_q, method


def _collapse_spaces(text: str) -> str:
    # Layout mode pads columns with runs of spaces; keep the line structure, drop the padding.
    return re.sub(r"[ \t]{2,}", "  ", text)


def _image_names(page: Any) -> list[str]:
    """Names of the page's image XObjects big enough to hold text, largest first, without decoding."""
    try:
        xobjects = page["/Resources"].get_object().get("/XObject")
        if xobjects is None:
            return []
        sized = []
        for name, ref in xobjects.get_object().items():
            obj = ref.get_object()
            if obj.get("/Subtype") != "/Image":
                continue
            w, h = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
            if min(w, h) >= MIN_OCR_SIDE:
                sized.append((w * h, str(name)))
        return [name for _, name in sorted(sized, reverse=True)]
    except Exception:  # noqa: BLE001 - malformed resources simply mean "no usable images"
        return []


def open_pdf(path: Path, password: str | None = None, ocr_budget: int = DEFAULT_OCR_BUDGET, name: str = "") -> PdfFile:
    """Open a PDF after sniffing its bytes; raises a PdfError subclass on bad input."""
    return PdfFile(path, password=password, ocr_budget=ocr_budget, name=name)
