"""Table files -> what DuckDB needs to load them: kind sniffed from bytes, encoding, clean names.

Nothing here touches the database; storage/tables.py does the loading. Everything streams:
files are read in fixed-size blocks so a 2 GB CSV never sits in memory.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.errors import BadInputError

Progress = Callable[[float, str], None]
BLOCK = 1 << 20
SNIFF_BYTES = 64 * 1024

# DuckDB's reserved words (duckdb_keywords() category 'reserved'); a table or column named like one
# would force every generated query to quote it, which small models forget.
RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    default deferrable desc describe distinct do else end except false fetch for foreign from grant group having
    in initially intersect into lateral leading limit not null offset on only or order pivot pivot_longer
    pivot_wider placing primary qualify references returning select show summarize symmetric table then to
    trailing true union unique unpivot using variadic when where window with""".split()
)
NA_STRINGS = ("", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "None", "#N/A", "-")


@dataclass(frozen=True)
class Sniffed:
    """What a file is, decided from its first bytes."""

    kind: str  # "csv" | "excel" | "parquet" | "json" | "duckdb"
    encoding: str = "utf-8"
    delimiter: str | None = None


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    size = max(path.stat().st_size, 1)
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(BLOCK * 8):
            digest.update(block)
            done += len(block)
            if progress:
                progress(min(done / size, 1.0) * 0.1, "checksum")
    return digest.hexdigest()


def sniff(path: Path, name: str | None = None) -> Sniffed:
    """Decide the table kind from the file's bytes, not its extension; messages call the file `name`.

    `name` is the user's file name when `path` is a temporary copy (an upload)."""
    name = name or path.name
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise BadInputError(f"{name} is empty.", "Choose a file that contains a table.")
    if head.startswith(b"PAR1"):
        return Sniffed("parquet")
    if len(head) >= 12 and head[8:12] == b"DUCK":
        return Sniffed("duckdb")
    if head.startswith(b"PK\x03\x04"):
        if _is_xlsx(path):
            return Sniffed("excel")
        raise BadInputError(f"{name} is a zip archive, not a table.", "Unzip it and load the files inside.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise BadInputError(f"{name} is an old binary Excel (.xls) file.", "Save it as .xlsx or CSV first.")
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff").lstrip()
    if "\x00" in text:
        raise BadInputError(f"{name} is not a text table or a known table format.",
                            "Supported: CSV/TSV, Excel .xlsx, Parquet, JSON, DuckDB.")
    if text[:1] in "[{" and _looks_like_json(text):
        return Sniffed("json", encoding)
    return Sniffed("csv", encoding, _sniff_delimiter(text))


NON_TABLE_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"ID3", b"fLaC", b"OggS", b"II*\x00",
                   b"MM\x00*", b"\x1aE\xdf\xa3")


def table_kind(path: Path) -> str | None:
    """The table kind of a file for the generic ingest command, or None when it is not a table."""
    with Path(path).open("rb") as fh:
        head = fh.read(16)
    if not head or head.startswith(NON_TABLE_MAGIC) or head[4:8] == b"ftyp":
        return None
    try:
        found = sniff(Path(path))
    except BadInputError:
        return None
    # Prose is text too: call it a table only when a delimiter was found.
    return found.kind if found.kind != "csv" or found.delimiter else None


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "xl/workbook.xml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def _looks_like_json(text: str) -> bool:
    # A CSV never starts with '{' or '['; but '[' could be a bracketed header, so look for a key.
    return text[0] == "{" or bool(re.match(r"\[\s*(\{|\[|\"|-?\d|true|false|null|\])", text))


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


def _sniff_delimiter(text: str) -> str | None:
    lines = text.splitlines()[:50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end mid-line
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return None  # DuckDB's own sniffer decides


def transcode_to_utf8(src: Path, dst: Path, encoding: str, progress: Progress | None = None) -> None:
    """Stream a text file from `encoding` into UTF-8 without reading it whole."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    size = max(src.stat().st_size, 1)
    done = 0
    with src.open("rb") as fin, dst.open("w", encoding="utf-8", newline="") as fout:
        while block := fin.read(BLOCK * 4):
            fout.write(decoder.decode(block).lstrip("\ufeff") if done == 0 else decoder.decode(block))
            done += len(block)
            if progress:
                progress(0.1 + 0.3 * done / size, "converting to UTF-8")
        fout.write(decoder.decode(b"", final=True))


def clean_name(raw: object, fallback: str) -> str:
    """A snake_case identifier for a header or file name; reserved SQL words get a trailing '_'."""
    text = str(raw if raw is not None else "").strip()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)  # camelCase -> camel_case
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if not text:
        text = fallback
    if text[0].isdigit():
        text = f"{fallback.rstrip('_0123456789') or 'c'}_{text}"
    if text in RESERVED:
        text += "_"
    return text[:60]


def unique_names(raw: Iterable[object], fallback: str = "column", taken: Iterable[str] = ()) -> list[str]:
    """Clean names made unique: blanks become column_N, duplicates get _2, _3 ..."""
    seen = {t.lower() for t in taken}
    out = []
    for i, value in enumerate(raw, start=1):
        base = clean_name(value, f"{fallback}_{i}")
        name, n = base, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        out.append(name)
    return out


@dataclass(frozen=True)
class SheetDump:
    """One Excel sheet written to a temporary CSV (or skipped when empty)."""

    sheet: str
    csv_path: Path | None
    rows: int


def dump_excel_sheets(path: Path, tmp_dir: Path, progress: Progress | None = None,
                      file_name: str | None = None) -> Iterator[SheetDump]:
    """Stream every sheet of an .xlsx file into its own UTF-8 CSV, so DuckDB can type and load it.

    Messages call the file `file_name` (the user's file name when `path` is a temporary copy)."""
    from openpyxl import load_workbook

    # Opened as a file object: openpyxl refuses a path whose name does not end in .xlsx, and uploads and chat
    # attachments are stored under names without one. The bytes were already sniffed as a workbook.
    fh = path.open("rb")
    try:
        wb = load_workbook(fh, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        fh.close()
        raise BadInputError(f"{file_name or path.name} cannot be read as an Excel workbook ({exc}).",
                            "Open and re-save it in Excel, or export the sheet as CSV.") from exc
    try:
        names = wb.sheetnames
        for index, name in enumerate(names):
            if progress:
                progress(0.1 + 0.5 * index / len(names), f"reading sheet {name}")
            out = tmp_dir / f"sheet_{index}.csv"
            rows = _write_sheet(wb[name].iter_rows(values_only=True), out)
            yield SheetDump(name, out if rows else None, rows)
    finally:
        wb.close()
        fh.close()


def _write_sheet(rows: Iterator[tuple], out: Path) -> int:
    count = 0
    width = 0
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for row in rows:
            values = ["" if v is None else _cell(v) for v in row]
            while values and values[-1] == "":
                values.pop()
            if not values and count == 0:
                continue  # leading blank rows before the header
            width = max(width, len(values))
            writer.writerow(values)
            count += 1
    # The header row decides the width DuckDB expects; pad it so wider data rows are not lost.
    if count and width:
        _pad_header(out, width)
    return max(count - 1, 0) if count else 0


def _pad_header(out: Path, width: int) -> None:
    with out.open("r", encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    if len(header) >= width:
        return
    header += [""] * (width - len(header))
    tmp = out.with_suffix(".tmp")
    with out.open("r", encoding="utf-8", newline="") as fin, tmp.open("w", encoding="utf-8", newline="") as fout:
        fin.readline()
        csv.writer(fout).writerow(header)
        while block := fin.read(BLOCK):
            fout.write(block)
    tmp.replace(out)


def _cell(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
