"""What a file is: its kind sniffed from its bytes, and the extensions every uploader accepts.

The one place that decides it. The content decides the kind (a PDF named `.dat` is a PDF); the name
only decides which reader explains content nobody recognises (text renamed `.wav` gets the audio
reader's "this is a text file"). The Documents, Tables and Images & audio pages, the chat, the
document library and the CLI all take their accepted extensions from here, so they agree.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from app.errors import BadInputError

# ---- accepted extensions, per kind -----------------------------------------------------------------
PDF_EXTENSIONS = (".pdf",)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".aac", ".mp4", ".ogg", ".oga", ".opus", ".flac", ".webm", ".aiff",
                    ".aif")
TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".parquet", ".json", ".jsonl", ".ndjson", ".duckdb", ".db")
WORD_EXTENSIONS = (".docx", ".docm")  # .docm: the text is read, its macros never run
SLIDES_EXTENSIONS = (".pptx", ".pptm")
HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
TEXT_EXTENSIONS = (".md", ".markdown", ".txt", ".rst", ".log")
EMAIL_EXTENSIONS = (".eml",)
# Documents read as text sections (headings, paragraphs, slides, lines), cited by section rather than page.
SECTION_EXTENSIONS = WORD_EXTENSIONS + SLIDES_EXTENSIONS + HTML_EXTENSIONS + TEXT_EXTENSIONS + EMAIL_EXTENSIONS
SECTION_KINDS = ("docx", "pptx", "html", "text", "email")
LIBRARY_DOCUMENT_KINDS = ("pdf", *SECTION_KINDS)  # attached to a question, these join the document library
DOCUMENT_EXTENSIONS = PDF_EXTENSIONS + IMAGE_EXTENSIONS + AUDIO_EXTENSIONS + SECTION_EXTENSIONS  # the library's
ATTACHMENT_EXTENSIONS = DOCUMENT_EXTENSIONS + TABLE_EXTENSIONS  # what a chat question can carry


def uploader_types(extensions: tuple[str, ...]) -> list[str]:
    """Extensions as a file uploader wants them: sorted, without the dot."""
    return sorted({ext.lstrip(".") for ext in extensions})


DOCUMENT_TYPES = uploader_types(DOCUMENT_EXTENSIONS)
IMAGE_TYPES = uploader_types(IMAGE_EXTENSIONS)
AUDIO_TYPES = uploader_types(AUDIO_EXTENSIONS)
TABLE_TYPES = uploader_types(TABLE_EXTENSIONS)
ATTACHMENT_TYPES = uploader_types(ATTACHMENT_EXTENSIONS)

# What the readers can decode (for messages; the extensions above also admit files whose reader explains a refusal).
SUPPORTED_IMAGES = "PNG, JPEG, GIF (first frame), WebP, BMP, TIFF, AVIF"
SUPPORTED_AUDIO = "WAV, MP3, M4A/AAC, OGG (Vorbis/Opus), FLAC, WebM"
SUPPORTED_TABLES = "CSV/TSV, Excel .xlsx, Parquet, JSON, DuckDB"
SUPPORTED_DOCUMENTS = ("PDF, Word (.docx), PowerPoint (.pptx), HTML, Markdown and text (.md, .txt, .rst, .log), "
                       "e-mail (.eml), images (PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF) and recordings "
                       "(WAV, MP3, M4A, OGG, FLAC, WebM)")

_MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".m4a": "audio/mp4",
         ".webm": "audio/webm", ".aiff": "audio/aiff", ".png": "image/png", ".jpg": "image/jpeg",
         ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp", ".tiff": "image/tiff",
         ".avif": "image/avif", ".pdf": "application/pdf"}
# The extension a stored copy gets, from the audio container sniffed (so a player gets the right type).
# The stored copy of a document read as sections (never opened by name, so .docm/.pptm keep no macro suffix).
_SECTION_SUFFIX = {"docx": ".docx", "pptx": ".pptx", "html": ".html", "text": ".txt", "email": ".eml"}
_AUDIO_EXT = {"wav": ".wav", "mp3/aac": ".mp3", "flac": ".flac", "ogg": ".ogg", "mp4": ".m4a", "webm/mkv": ".webm",
              "aiff": ".aiff"}
# A .txt is more often prose to read than a table, so by name it counts as text.
_NAME_KIND = {**dict.fromkeys(TABLE_EXTENSIONS, "table"), **dict.fromkeys(TEXT_EXTENSIONS, "text"), ".pdf": "pdf",
              **dict.fromkeys(IMAGE_EXTENSIONS, "image"), **dict.fromkeys(AUDIO_EXTENSIONS, "audio"),
              **dict.fromkeys(WORD_EXTENSIONS, "docx"), **dict.fromkeys(SLIDES_EXTENSIONS, "pptx"),
              **dict.fromkeys(HTML_EXTENSIONS, "html"), **dict.fromkeys(EMAIL_EXTENSIONS, "email")}


def kind_by_name(name: str | Path) -> str:
    """What a file's name says it is: 'pdf', 'text', 'table', 'image', 'audio', 'docx', 'pptx', 'html', 'email'
    or 'unknown'."""
    return _NAME_KIND.get(Path(name).suffix.lower(), "unknown")


def mime_type(name: str | Path) -> str:
    """MIME type of a (stored) file by its extension, for image and audio widgets."""
    return _MIME.get(Path(name).suffix.lower(), "application/octet-stream")


# ---- magic numbers ----------------------------------------------------------------------------------
PDF_MAGIC = b"%PDF-"
PDF_SNIFF_BYTES = 1024  # the spec tolerates junk before the header; readers look this far
HEAD_BYTES = PDF_SNIFF_BYTES  # enough of a file's start for every sniffer but the text-table one
TABLE_SNIFF_BYTES = 64 * 1024  # text tables: enough lines to find the delimiter and the encoding


def read_head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a file (by default enough for every magic-number sniffer)."""
    with Path(path).open("rb") as fh:
        return fh.read(size)


def sniff_pdf(head: bytes) -> str:
    """'pdf', 'empty' or 'unknown' from a file's first bytes."""
    if not head:
        return "empty"
    return "pdf" if PDF_MAGIC in head[:PDF_SNIFF_BYTES] else "unknown"


def sniff_image(head: bytes) -> str | None:
    """Real image format from the first bytes ('PNG', 'JPEG', ..., 'HEIC'), None if unknown."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and head[15:18] == b"\x00\x00\x00":
        return "BMP"  # with the high bytes of the DIB header size (always 0): a CSV headed "BMI,..." is no bitmap
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIC"
    if head[:4] == b"%PDF":
        return "PDF"
    return None


def sniff_audio(head: bytes) -> str | None:
    """Audio container family from magic bytes, or None when unknown."""
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"AVI "):
        return "wav" if head[8:12] == b"WAVE" else "avi"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                              and not head.startswith(codecs.BOM_UTF16_LE)):  # FF FE starts UTF-16 text too
        return "mp3/aac"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm/mkv"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"caff" or head[:6] == b"#!AMR\n":
        return "caf/amr"
    return None


def sniff_table_format(head: bytes) -> str | None:
    """Binary table formats by magic: 'parquet', 'duckdb', 'zip' (maybe a workbook), 'xls'; None otherwise."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if len(head) >= 12 and head[8:12] == b"DUCK":
        return "duckdb"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    return None


def looks_like_text(head: bytes) -> bool:
    """True when the bytes decode as UTF-8 and are nearly all printable."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the sniffed block is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(1, len(text))


def content_kind(head: bytes) -> str:
    """'pdf', 'image', 'audio', 'empty' or 'unknown' from the bytes alone (what folders are filtered by)."""
    if not head:
        return "empty"
    if sniff_pdf(head) == "pdf":
        return "pdf"
    if sniff_image(head) not in (None, "PDF"):
        return "image"  # HEIC included: the image reader explains how to convert it
    return "audio" if sniff_audio(head) else "unknown"


def file_kind(path: Path, name: str = "") -> str:
    """'pdf', 'image', 'audio', 'table', a section kind ('docx', 'pptx', 'html', 'text', 'email'), 'empty' or
    'unknown' from a file's bytes (what a chat attachment is); `name` (default: the path's) tells notes from
    other text."""
    kind = content_kind(read_head(path))
    if kind != "unknown":
        return kind
    try:
        office = office_kind(path)
        if office in ("docx", "pptx"):
            return office
        named = kind_by_name(name or path)
        if named == "text" and Path(name or path).suffix.lower() != ".txt":
            return text_document_kind(path, named)  # Markdown with pipes is still prose
        if table_kind(path):
            return "table"
        return text_document_kind(path, named)
    except OSError:
        return "unknown"


def document_kind(path: Path) -> str:
    """The kind the document library ingests a file as: its content, or its name when the content is unrecognised."""
    kind = content_kind(read_head(path))
    if kind in ("pdf", "empty"):
        return kind
    if Path(path).suffix.lower() in PDF_EXTENSIONS:
        return "pdf"  # named a PDF but is not one: the PDF reader says so
    if kind != "unknown":
        return kind
    named = kind_by_name(path)
    if named in ("image", "audio"):
        return named
    office = office_kind(path)
    if office in ("docx", "pptx"):
        return office
    if office in ("zip", "ole"):
        # A zip of something else, or an encrypted/old binary Office file: the named reader says which.
        return named if named in ("docx", "pptx") else "unknown"
    if named == "text" and Path(path).suffix.lower() == ".txt" and table_kind(path):
        return "unknown"  # a delimited .txt is a table: the table loader takes it
    return text_document_kind(path, named)


def stored_suffix(kind: str, path: Path) -> str:
    """The extension of a stored copy, from the content (so a player or viewer gets the right type)."""
    head = read_head(path)
    if kind == "image":
        fmt = (sniff_image(head) or "img").lower()
        return {"jpeg": ".jpg"}.get(fmt, f".{fmt}")
    if kind == "audio":
        return _AUDIO_EXT.get(sniff_audio(head) or "", Path(path).suffix.lower() or ".audio")
    if kind in SECTION_KINDS:
        return _SECTION_SUFFIX[kind]
    return ".pdf"


# ---- documents read as text sections ------------------------------------------------------------------
_EMAIL_HEADERS = re.compile(r"^(from|to|subject|date|received|return-path|message-id|mime-version|delivered-to|"
                            r"cc|reply-to|x-[\w-]+|content-type):", re.IGNORECASE | re.MULTILINE)
_HTML_START = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
                         re.IGNORECASE | re.DOTALL)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files and old .doc/.ppt are OLE containers


def office_kind(path: Path) -> str | None:
    """'docx', 'pptx', 'xlsx', 'zip' (a zip of something else), 'ole' (encrypted or old binary Office) or None."""
    head = read_head(path, 8)
    if head.startswith(OLE_MAGIC):
        return "ole"
    if not head.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return "zip"
    if "[Content_Types].xml" in names:
        for kind, main in (("docx", "word/document.xml"), ("pptx", "ppt/presentation.xml"),
                           ("xlsx", "xl/workbook.xml")):
            if main in names:
                return kind
    return "zip"


def text_document_kind(path: Path, named: str = "") -> str:
    """'email', 'html' or 'text' for a text file the library reads as prose; 'unknown' otherwise."""
    head = read_head(path, TABLE_SNIFF_BYTES)
    if not head or not _decodes_as_text(head):
        return "unknown"
    text = head.decode(detect_encoding(head), errors="replace").lstrip("\ufeff")
    first = text.lstrip().split("\n", 1)[0]
    if re.match(r"[A-Za-z][\w-]*: ", first) and len(set(m.lower() for m in _EMAIL_HEADERS.findall(text[:4000]))) >= 2:
        return "email"
    if _HTML_START.match(text) and named != "text":
        return "html"
    return named if named in ("text", "html", "email") else "unknown"


def _decodes_as_text(head: bytes) -> bool:
    try:
        text = head.decode(detect_encoding(head), errors="strict")
    except (UnicodeDecodeError, LookupError):
        text = head[:-3].decode(detect_encoding(head), errors="replace")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable >= 0.95 * max(1, len(text))


# ---- table files ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sniffed:
    """What a table file is, decided from its first bytes."""

    kind: str  # "csv" | "excel" | "parquet" | "json" | "duckdb"
    encoding: str = "utf-8"
    delimiter: str | None = None


def sniff_table(path: Path, name: str | None = None) -> Sniffed:
    """Decide the table kind from the file's bytes, not its extension; messages call the file `name`.

    `name` is the user's file name when `path` is a temporary copy (an upload)."""
    name = name or path.name
    head = read_head(path, TABLE_SNIFF_BYTES)
    if not head:
        raise BadInputError(f"{name} is empty.", "Choose a file that contains a table.")
    binary = sniff_table_format(head)
    if binary in ("parquet", "duckdb"):
        return Sniffed(binary)
    if binary == "zip":
        if _is_xlsx(path):
            return Sniffed("excel")
        raise BadInputError(f"{name} is a zip archive, not a table.", "Unzip it and load the files inside.")
    if binary == "xls":
        raise BadInputError(f"{name} is an old binary Excel (.xls) file.", "Save it as .xlsx or CSV first.")
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff").lstrip()
    if "\x00" in text:
        raise BadInputError(f"{name} is not a text table or a known table format.", f"Supported: {SUPPORTED_TABLES}.")
    if text[:1] in "[{" and _looks_like_json(text):
        return Sniffed("json", encoding)
    return Sniffed("csv", encoding, _sniff_delimiter(text))


def table_kind(path: Path) -> str | None:
    """The table kind of a file for the generic ingest command, or None when it is not a table."""
    if content_kind(read_head(path)) != "unknown":
        return None  # empty, or a document, an image or a recording
    try:
        found = sniff_table(Path(path))
    except BadInputError:
        return None
    # Prose is text too: call it a table only when a delimiter was found.
    return found.kind if found.kind != "csv" or found.delimiter else None


def detect_encoding(head: bytes) -> str:
    """Guess the text encoding of a file's first bytes (BOM, then UTF-8, then charset detection)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # A multi-byte character may be cut at the end of the sample: decode incrementally.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        return "cp1252"
    name = codecs.lookup(best.encoding).name
    # Latin-1 decodes anything; cp1252 is what spreadsheets on Windows actually write.
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def _looks_like_json(text: str) -> bool:
    # A CSV never starts with '{' or '['; but '[' could be a bracketed header, so look for a key.
    return text[0] == "{" or bool(re.match(r"\[\s*(\{|\[|\"|-?\d|true|false|null|\])", text))


def _sniff_delimiter(text: str) -> str | None:
    lines = text.splitlines()[:50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end mid-line
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return None  # DuckDB's own sniffer decides
