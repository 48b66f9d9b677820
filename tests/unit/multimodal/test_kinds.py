"""multimodal/kinds.py: a file's kind from its real bytes, and the accepted extensions every uploader shares."""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pytest
from openpyxl import Workbook
from PIL import Image

from app.errors import BadInputError
from multimodal import kinds
from tests.fixtures import pdf_factory as pf
from tests.fixtures.media import encode_audio
from tests.fixtures.paths import FIXTURES

WAV = FIXTURES / "audio" / "ten_of_clubs.wav"
SALES_CSV = FIXTURES / "tables" / "sales.csv"
CP1252_CSV = FIXTURES / "tables" / "umsatz_cp1252.csv"


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def _tone(fmt: str, codec: str) -> bytes:
    t = np.arange(8_000) / 16_000
    return encode_audio(0.3 * np.sin(2 * np.pi * 440 * t), fmt, codec)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# ---- the lists agree --------------------------------------------------------------------------------
def test_chat_accepts_what_every_page_accepts() -> None:
    chat = set(kinds.ATTACHMENT_TYPES)
    for page_types in (kinds.DOCUMENT_TYPES, kinds.IMAGE_TYPES, kinds.AUDIO_TYPES, kinds.TABLE_TYPES):
        assert set(page_types) <= chat
    assert {"aac", "mp4", "ndjson", "heif", "aiff"} <= chat  # once missing from one list or another
    assert set(kinds.DOCUMENT_TYPES) == ({"pdf"} | set(kinds.IMAGE_TYPES) | set(kinds.AUDIO_TYPES)
                                         | set(kinds.uploader_types(kinds.SECTION_EXTENSIONS)))
    assert kinds.TABLE_TYPES == sorted(kinds.TABLE_TYPES) and all("." not in t for t in kinds.ATTACHMENT_TYPES)


def test_kind_by_name_and_mime() -> None:
    assert kinds.kind_by_name("Report.PDF") == "pdf"
    assert kinds.kind_by_name("notes.txt") == "text"
    assert kinds.kind_by_name("events.ndjson") == "table"
    assert kinds.kind_by_name("clip.aac") == "audio" and kinds.kind_by_name("film.mp4") == "audio"
    assert kinds.kind_by_name("photo.heif") == "image"
    assert kinds.kind_by_name("archive.zip") == "unknown" and kinds.kind_by_name("README") == "unknown"
    assert kinds.mime_type(Path("abc.m4a")) == "audio/mp4" and kinds.mime_type("x.jpg") == "image/jpeg"
    assert kinds.mime_type("x.unknown") == "application/octet-stream"


# ---- magic numbers from real files ------------------------------------------------------------------
def test_pdf_image_and_audio_sniffed_from_bytes() -> None:
    pdf = pf.text_pdf([["A page of text."]])
    assert kinds.sniff_pdf(pdf) == "pdf" and kinds.content_kind(pdf) == "pdf"
    for fmt, name in (("PNG", "PNG"), ("JPEG", "JPEG"), ("GIF", "GIF"), ("WEBP", "WEBP"), ("BMP", "BMP"),
                      ("TIFF", "TIFF")):
        data = _image(fmt)
        assert kinds.sniff_image(data[: kinds.HEAD_BYTES]) == name
        assert kinds.content_kind(data[: kinds.HEAD_BYTES]) == "image"
    wav = WAV.read_bytes()
    assert kinds.sniff_audio(wav) == "wav" and kinds.content_kind(wav[: kinds.HEAD_BYTES]) == "audio"
    assert kinds.sniff_audio(_tone("flac", "flac")) == "flac"
    assert kinds.sniff_audio(_tone("mp3", "libmp3lame")) == "mp3/aac"
    assert kinds.sniff_audio(_tone("ipod", "aac")) == "mp4"
    assert kinds.content_kind(b"") == "empty"
    assert kinds.content_kind(SALES_CSV.read_bytes()) == "unknown"


def test_text_is_never_mistaken_for_media() -> None:
    # A CSV whose header starts with "BM" is no bitmap; UTF-16 text (BOM FF FE) is no MP3 frame.
    assert kinds.sniff_image(b"BMI,age,height\n23.1,40,180\n") is None
    utf16 = codecs.BOM_UTF16_LE + "name,amount\nA,1\nB,2\n".encode("utf-16-le")
    assert kinds.sniff_audio(utf16) is None and kinds.content_kind(utf16) == "unknown"
    assert kinds.looks_like_text(SALES_CSV.read_bytes()) and not kinds.looks_like_text(WAV.read_bytes())


def test_file_kind_of_every_attachment_kind(tmp_path: Path) -> None:
    workbook = tmp_path / "book"  # no extension: the bytes decide
    wb = Workbook()
    wb.active.append(["region", "amount"])
    wb.active.append(["north", 3])
    wb.save(workbook)
    files = {
        "report.dat": (pf.text_pdf([["Hello."]]), "pdf"),
        "chart.bin": (_image("PNG"), "image"),
        "clip.bin": (WAV.read_bytes(), "audio"),
        "sales.bin": (SALES_CSV.read_bytes(), "table"),
        "prose.csv": (b"Meeting notes\nWe talked about the budget.\n", "unknown"),
        "empty.pdf": (b"", "empty"),
    }
    for name, (data, expected) in files.items():
        assert kinds.file_kind(_write(tmp_path, name, data)) == expected, name
    assert kinds.file_kind(workbook) == "table"


def test_document_kind_falls_back_to_the_name(tmp_path: Path) -> None:
    text = b"plain text, not a recording\n"
    assert kinds.document_kind(_write(tmp_path, "fake.wav", text)) == "audio"  # the audio reader explains
    assert kinds.document_kind(_write(tmp_path, "fake.png", text)) == "image"
    assert kinds.document_kind(_write(tmp_path, "fake.pdf", text)) == "pdf"  # the PDF reader explains
    assert kinds.document_kind(_write(tmp_path, "data.csv", text)) == "unknown"
    assert kinds.document_kind(_write(tmp_path, "photo.pdf", _image("JPEG"))) == "pdf"
    assert kinds.document_kind(_write(tmp_path, "scan.dat", pf.text_pdf([["x"]]))) == "pdf"


def test_stored_suffix_follows_the_content(tmp_path: Path) -> None:
    assert kinds.stored_suffix("image", _write(tmp_path, "a.png", _image("JPEG"))) == ".jpg"
    assert kinds.stored_suffix("audio", _write(tmp_path, "b.mp3", WAV.read_bytes())) == ".wav"
    assert kinds.stored_suffix("audio", _write(tmp_path, "c", _tone("ipod", "aac"))) == ".m4a"
    assert kinds.stored_suffix("pdf", _write(tmp_path, "d", pf.text_pdf([["x"]]))) == ".pdf"


# ---- table files ------------------------------------------------------------------------------------
def test_table_formats_sniffed_from_bytes(tmp_path: Path) -> None:
    con = duckdb.connect()
    parquet = tmp_path / "p.bin"
    con.execute(f"COPY (SELECT 1 AS n) TO '{parquet}' (FORMAT parquet)")
    db = tmp_path / "d.bin"
    duckdb.connect(str(db)).close()
    jsonl = _write(tmp_path, "j.bin", (json.dumps({"a": 1}) + "\n" + json.dumps({"a": 2}) + "\n").encode())
    assert kinds.sniff_table(parquet).kind == "parquet" and kinds.table_kind(parquet) == "parquet"
    assert kinds.sniff_table(db).kind == "duckdb"
    assert kinds.sniff_table(jsonl).kind == "json"
    assert kinds.sniff_table(SALES_CSV) == kinds.Sniffed("csv", "utf-8", ",")
    assert kinds.sniff_table(CP1252_CSV).encoding.startswith("cp125")  # a Windows code page, not UTF-8
    utf16 = _write(tmp_path, "u.csv", codecs.BOM_UTF16_LE + "name;amount\nA;1\nB;2\n".encode("utf-16-le"))
    assert kinds.table_kind(utf16) == "csv" and kinds.sniff_table(utf16).encoding == "utf-16"


def test_non_tables_are_refused_with_a_reason(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inside.txt", "hello")
    with pytest.raises(BadInputError, match="zip archive"):
        kinds.sniff_table(archive, "upload.zip")
    with pytest.raises(BadInputError, match=r"old binary Excel \(.xls\)"):
        kinds.sniff_table(_write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64))
    with pytest.raises(BadInputError, match="empty"):
        kinds.sniff_table(_write(tmp_path, "nothing.csv", b""))
    assert kinds.table_kind(_write(tmp_path, "r.pdf", pf.text_pdf([["x"]]))) is None
    assert kinds.table_kind(_write(tmp_path, "i.csv", _image("PNG"))) is None
    assert kinds.table_kind(WAV) is None
