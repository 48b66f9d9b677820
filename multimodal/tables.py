"""Table files -> what DuckDB needs to load them: UTF-8 text, one CSV per Excel sheet, clean names.

The kind, encoding and delimiter are sniffed in multimodal/kinds.py. Nothing here touches the database;
storage/tables.py does the loading. Everything streams:
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

# DuckDB's reserved words (duckdb_keywords() category 'reserved'); a table or column named like one
# would force every generated query to quote it, which small models forget.
RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    default deferrable desc describe distinct do else end except false fetch for foreign from grant group having
    in initially intersect into lateral leading limit not null offset on only or order pivot pivot_longer
    pivot_wider placing primary qualify references returning select show summarize symmetric table then to
    trailing true union unique unpivot using variadic when where window with""".split()
)
EXPANSION_MAX_RATIO = 200  # unpacked / packed size of a workbook; real ones stay well under (text XML ~5-30x)
EXPANSION_MIN_BYTES = 100_000_000  # judged only once the unpacked parts pass 100 MB
EXCEL_MAX_ROWS = 1_048_576  # rows in one sheet, Excel's own limit: a workbook with more is damaged or a bomb
NA_STRINGS = ("", "NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "None", "#N/A", "-")


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
    # Letters and digits of every script stay (a table from "ünï 表格.csv" is ünï_表格); DuckDB reads them unquoted.
    text = re.sub(r"[\W_]+", "_", text).strip("_").lower()
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
                      file_name: str | None = None, max_rows: int = EXCEL_MAX_ROWS) -> Iterator[SheetDump]:
    """Stream every sheet of an .xlsx file into its own UTF-8 CSV, so DuckDB can type and load it.

    Messages call the file `file_name` (the user's file name when `path` is a temporary copy). A sheet with
    more than `max_rows` data rows is refused as soon as reading passes the limit."""
    from openpyxl import load_workbook

    check_expansion(path, file_name or path.name)
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
            rows = _write_sheet(wb[name].iter_rows(values_only=True), out, max_rows)
            if rows > max_rows:
                out.unlink(missing_ok=True)
                beyond = " (more than Excel itself allows: the file is damaged or built to expand)" \
                    if max_rows >= EXCEL_MAX_ROWS else ""
                raise BadInputError(f"Sheet {name!r} of {file_name or path.name} has more than {max_rows:,} rows"
                                    f"{beyond}, the most one table may have.",
                                    "Load a filtered or split file, or raise the max_table_rows setting.")
            yield SheetDump(name, out if rows else None, rows)
    finally:
        wb.close()
        fh.close()


def check_expansion(path: Path, name: str) -> None:
    """Refuse a workbook that unpacks to far more than it weighs (a 'zip bomb'): reading one costs minutes of CPU
    before a single row arrives (openpyxl scans a sheet without a size tag to its end)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # the workbook reader says what is wrong
    packed = max(sum(i.compress_size for i in infos), 1)
    unpacked = sum(i.file_size for i in infos)
    if unpacked > EXPANSION_MIN_BYTES and unpacked / packed > EXPANSION_MAX_RATIO:
        raise BadInputError(f"{name} would expand from {packed / 1e6:.1f} MB to {unpacked / 1e6:,.0f} MB "
                            f"({unpacked / packed:,.0f} times); real workbooks do not, so it is not loaded.",
                            "If it is a real workbook, open it in Excel and save the sheet as CSV, then load that.")


def _write_sheet(rows: Iterator[tuple], out: Path, max_rows: int = EXCEL_MAX_ROWS) -> int:
    """Write a sheet's rows as CSV; the number of data rows (stops one past `max_rows`)."""
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
            if count > max_rows + 1:  # the header and one row too many
                return count - 1
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
