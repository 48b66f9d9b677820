"""PDF extraction: sniffing, metadata, page numbers, bad input, quality checks and fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import BadInputError
from multimodal import pdf as pdfmod
from multimodal.kinds import sniff_pdf
from multimodal.pdf import (
    CorruptPdfError,
    EmptyFileError,
    EncryptedPdfError,
    NotAPdfError,
    assess_text,
    normalise_page_text,
    open_pdf,
    repair_mojibake,
)
from tests.fixtures import pdf_factory as pf

PAGES = [
    ["Quarterly report for the northern region.", "Revenue grew by twelve percent year on year."],
    ["Second page about costs.", "Operating costs were flat compared with last year."],
    ["Third page: outlook for next year is cautious but stable overall."],
]


def test_sniff_pdf_uses_bytes_not_names() -> None:
    assert sniff_pdf(b"%PDF-1.7\n...") == "pdf"
    assert sniff_pdf(b"\x00junk%PDF-1.4") == "pdf"  # leading junk within 1 KB is legal
    assert sniff_pdf(b"PK\x03\x04") == "unknown"
    assert sniff_pdf(b"") == "empty"


def test_pages_metadata_and_physical_numbers(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "report.bin", pf.text_pdf(PAGES, title="Q3 Report", author="Ann Analyst"))
    with open_pdf(path) as pdf:
        assert (pdf.info.title, pdf.info.author, pdf.info.page_count) == ("Q3 Report", "Ann Analyst", 3)
        pages = list(pdf.pages())
    assert [p.number for p in pages] == [1, 2, 3]
    assert "twelve percent" in pages[0].text and "Operating costs" in pages[1].text
    assert all(p.method == "text" and not p.fallback for p in pages)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "empty.pdf", b"")
    with pytest.raises(EmptyFileError) as err:
        open_pdf(path)
    assert isinstance(err.value, BadInputError) and "empty" in err.value.message


def test_non_pdf_renamed_pdf(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "notes.pdf", b"PK\x03\x04 this is really a zip/docx file" * 10)
    with pytest.raises(NotAPdfError) as err:
        open_pdf(path)
    assert "not a PDF" in err.value.message


@pytest.mark.parametrize("cut", [0.5, 0.1])
def test_truncated_pdf(tmp_path: Path, cut: float) -> None:
    data = pf.text_pdf(PAGES)
    path = pf.write(tmp_path / "cut.pdf", data[: int(len(data) * cut)])
    with pytest.raises(CorruptPdfError) as err:
        open_pdf(path)
    assert "damaged" in err.value.message


def test_garbage_after_header_is_corrupt(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "bad.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 40)
    with pytest.raises(CorruptPdfError):
        open_pdf(path)


def test_encrypted_pdf_needs_password(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "secret.pdf", pf.encrypted_pdf(pf.text_pdf(PAGES), "s3cret"))
    with pytest.raises(EncryptedPdfError) as err:
        open_pdf(path)
    assert "password" in err.value.message
    with pytest.raises(EncryptedPdfError, match="wrong"):
        open_pdf(path, password="nope")
    with open_pdf(path, password="s3cret") as pdf:
        assert pdf.info.encrypted and "twelve percent" in next(pdf.pages()).text


def test_encrypted_with_empty_user_password_opens_without_asking(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "owner-only.pdf", pf.encrypted_pdf(pf.text_pdf(PAGES), ""))
    with open_pdf(path) as pdf:
        assert pdf.info.encrypted and pdf.info.page_count == 3


def test_aes_without_crypto_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pypdf needs `cryptography` for AES, which is not installed here; simulate what pypdf raises then.
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    def no_aes(self: object, password: str) -> None:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", no_aes)
    path = pf.write(tmp_path / "aes.pdf", pf.encrypted_pdf(pf.text_pdf(PAGES), "pw"))
    with pytest.raises(pdfmod.PdfDependencyError) as err:
        open_pdf(path, password="pw")
    assert "cryptography" in err.value.message and isinstance(err.value, BadInputError)


def test_quality_checks() -> None:
    assert assess_text("A perfectly normal sentence about revenue and costs.").ok
    assert assess_text("   ").problem == "empty"
    assert assess_text("\ufffd\ufffd\ufffd bad \ufffd\ufffd text \ufffd\ufffd\ufffd here and there").problem \
        == "encoding"
    assert assess_text("(cid:12)(cid:44)(cid:3)(cid:19)(cid:7) hello world text").problem == "encoding"
    assert assess_text("#$%^&*()_+{}|:<>?~`#$%^&*()_+{}|:<>?~`").problem == "garbled"
    joined = "Thequarterlyrevenuegrewbytwelvepercentcomparedwithlastyear " * 3
    assert assess_text(joined).problem == "run-together"


def test_mojibake_repair_and_normalisation() -> None:
    assert repair_mojibake("CafÃ© crÃ¨me costs â‚¬5") == "Café crème costs €5"
    assert repair_mojibake("plain text") == "plain text"
    assert normalise_page_text("pack-\nages and Chapter 1 . . . . . . 7") == "packages and Chapter 1 ... 7"


def test_broken_encoding_page_is_repaired(tmp_path: Path) -> None:
    # UTF-8 text mis-decoded as cp1252 when the PDF was made: a classic broken-encoding page.
    broken = "Le cafÃ© de la rÃ©gion a augmentÃ© ses prix de faÃ§on notable cette annÃ©e."
    path = pf.write(tmp_path / "mojibake.pdf", pf.text_pdf([[broken]]))
    with open_pdf(path) as pdf:
        page = next(pdf.pages())
    assert page.fallback and page.problem == "encoding" and page.method == "repair"
    assert "café de la région" in page.text


def test_control_character_page_is_flagged(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "ctrl.pdf", pf.text_pdf([["\x01\x02\x03\x04\x05\x06\x07\x0e\x0f\x10\x11\x12" * 4]]))
    with open_pdf(path) as pdf:
        page = next(pdf.pages())
    assert page.fallback  # nothing can fix it, but it is counted and never crashes


def test_thousands_of_tiny_images_are_not_ocred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr("multimodal.ocr.ocr_image", lambda img: calls.append(1))
    path = pf.write(tmp_path / "confetti.pdf", pf.tiny_images_pdf(3000))
    with open_pdf(path) as pdf:
        page = next(pdf.pages())
    assert page.problem == "empty" and page.method == "none" and calls == []


def test_many_large_images_respect_ocr_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multimodal.ocr import OcrResult

    calls: list[int] = []

    def fake_ocr(img: object) -> OcrResult:
        calls.append(1)
        return OcrResult(text="recognised words from a scanned image region")

    monkeypatch.setattr("multimodal.ocr.ocr_image", fake_ocr)
    path = pf.write(tmp_path / "mosaic.pdf", pf.tiny_images_pdf(50, side=64))
    with open_pdf(path, ocr_budget=3) as pdf:
        page = next(pdf.pages())
    assert len(calls) == 3 <= pdfmod.MAX_OCR_IMAGES_PER_PAGE
    assert page.method == "ocr" and "recognised words" in page.text


def test_ocr_budget_exhausted_is_reported(tmp_path: Path) -> None:
    path = pf.write(tmp_path / "scan.pdf", pf.scanned_pdf([["Some scanned words here"]]))
    with open_pdf(path, ocr_budget=0) as pdf:
        page = next(pdf.pages())
    assert page.ocr_skipped and page.method == "none"


def test_all_scanned_pdf_is_read_with_ocr(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr")
    lines = [["The warehouse inventory count finished in March."], ["Shipping delays affected the eastern depot."]]
    path = pf.write(tmp_path / "scan.pdf", pf.scanned_pdf(lines))
    with open_pdf(path) as pdf:
        pages = list(pdf.pages())
    assert [p.method for p in pages] == ["ocr", "ocr"]
    assert all(p.problem == "empty" for p in pages)
    assert "inventory" in pages[0].text.lower() and "eastern" in pages[1].text.lower()
