"""Tables inside documents made into typed data: header row, unique column names, numbers parsed.

A cell such as "€1,234.5", "14.2 %", "(15)" or "1,410.2¹" becomes a number (thousands separators,
currency symbols, percent signs and footnote markers removed; brackets mean negative); the raw text is
kept beside it. A table that cannot be read cleanly (merged cells, no header row, fewer than two rows,
ragged rows) is not made into data: the reason is returned instead, and its text stays searchable.
Tables in text PDFs are found with pdfplumber (ruled tables, and aligned text as a fallback).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from multimodal.sectioned import MAX_TABLE_ROWS, MAX_TABLES_PER_DOCUMENT, RawTable

MAX_TABLE_PAGES = 500  # pages of a PDF searched for tables at most (a 300-page report takes ~1 min)
_EMPTY = {"", "-", "–", "—", "n/a", "na", "n.a.", "..", "…"}
_FOOTNOTE = re.compile(r"(?:\s*(?:[*†‡§¹²³⁴⁵⁶⁷⁸⁹⁰]+|\[\w{1,3}\]|\((?:[a-z]|\d{1,2})\)(?=$)))+$")
_CURRENCY = re.compile(r"^(?:[$€£¥₹₩₽]|usd|eur|gbp|chf|jpy)\s*|\s*(?:[$€£¥₹₩₽]|usd|eur|gbp|chf|jpy)$", re.I)
_THOUSANDS = re.compile(r"^\d{1,3}(?:[,\u202f\u00a0 ]\d{3})+(?:\.\d+)?$")
_EUROPEAN = re.compile(r"^\d{1,3}(?:\.\d{3})+,\d+$|^\d+,\d{1,2}$")
_PLAIN = re.compile(r"^\d+(?:\.\d+)?$|^\.\d+$")


@dataclass(frozen=True)
class TypedTable:
    """A clean table: unique column names (as in the document), DuckDB types, parsed rows, and the raw text."""

    columns: list[str]
    types: list[str]  # "BIGINT" | "DOUBLE" | "VARCHAR"
    rows: list[list[object]]
    raw: list[list[str]]  # header and body as they read in the document


def parse_number(text: str) -> float | None:
    """The number a table cell shows ('€1,234.5' -> 1234.5, '14.2 %' -> 14.2, '(15)' -> -15), else None."""
    value = " ".join(text.split()).replace("−", "-").replace("–", "-")
    value = _FOOTNOTE.sub("", value).strip() or value  # "(15)" alone is a negative number, not a footnote
    negative = value.startswith("(") and value.endswith(")")
    value = value.strip("()").strip()
    if value.endswith("%"):
        value = value[:-1].strip()
    value = _CURRENCY.sub("", value).strip()
    if value and value[0] in "+-":
        negative, value = negative or value[0] == "-", value[1:].strip()
    value = _CURRENCY.sub("", value).strip()  # "-$15" and "$-15" both
    if _THOUSANDS.match(value):
        value = re.sub(r"[,\u202f\u00a0 ]", "", value)
    elif _EUROPEAN.match(value):
        value = value.replace(".", "").replace(",", ".")
    if not _PLAIN.match(value):
        return None
    number = float(value)
    return -number if negative else number


def typed_table(table: RawTable) -> tuple[TypedTable | None, str]:
    """The table as data, or None and why it is not loaded (it stays searchable as text either way)."""
    if table.problem:
        return None, table.problem
    rows = [[" ".join(cell.split()) for cell in row] for row in table.rows]
    rows = [row for row in rows if any(row)]
    if len(rows) < 2:
        return None, "fewer than 2 rows (a header and at least one row of data are needed)"
    width = max(len(row) for row in rows)
    if any(len(row) != width for row in rows):
        return None, "rows of different lengths (merged or split cells)"
    header, body = rows[0], rows[1:]
    if all(parse_number(cell) is not None for cell in header if cell) and any(header):
        return None, "no header row (the first row holds numbers)"
    if 2 * sum(1 for cell in header if cell) < width:
        return None, "the header row is mostly empty (a header split over two rows, or merged cells)"
    columns = _distinct([cell or f"column_{i}" for i, cell in enumerate(header, start=1)])  # cleaned on loading
    types, parsed = [], [list[object]() for _ in body]
    for c in range(width):
        cells = [row[c] for row in body]
        numbers = [None if cell.lower() in _EMPTY else parse_number(cell) for cell in cells]
        numeric = any(n is not None for n in numbers) and all(
            n is not None or cell.lower() in _EMPTY for n, cell in zip(numbers, cells, strict=True))
        if numeric:
            whole = all(n is None or float(n).is_integer() for n in numbers) and not any("." in c for c in cells)
            types.append("BIGINT" if whole else "DOUBLE")
            for out, n in zip(parsed, numbers, strict=True):
                out.append(None if n is None else (int(n) if whole else n))
        else:
            types.append("VARCHAR")
            for out, cell in zip(parsed, cells, strict=True):
                out.append(None if cell.lower() in _EMPTY else cell)  # a dash for "no value" is NULL; raw text kept
    return TypedTable(columns, types, parsed, rows), ""


def _distinct(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        base, n, candidate = name, 2, name
        while candidate.lower() in seen:
            candidate, n = f"{base}_{n}", n + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def pdf_tables(path: Path, password: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list[RawTable], list[str]]:
    """Tables in a text PDF, page by page (bounded by MAX_TABLE_PAGES and MAX_TABLES_PER_DOCUMENT), and notes."""
    import pdfplumber

    found: list[RawTable] = []
    notes: list[str] = []
    with pdfplumber.open(str(path), password=password or "") as pdf:
        total = len(pdf.pages)
        for number, page in enumerate(pdf.pages[:MAX_TABLE_PAGES], start=1):
            for table in page.find_tables():
                if len(found) >= MAX_TABLES_PER_DOCUMENT:
                    notes.append(f"More than {MAX_TABLES_PER_DOCUMENT} tables: the rest stay searchable as text.")
                    return found, notes
                cells = table.extract()[:MAX_TABLE_ROWS]
                merged = any(cell is None for row in cells for cell in row)  # pdfplumber's mark for a spanned cell
                rows = [[(cell or "") for cell in row] for row in cells]
                bbox = tuple(round(float(v), 1) for v in table.bbox)
                found.append(RawTable(number, len(found) + 1, rows, "page", (bbox[0], bbox[1], bbox[2], bbox[3]),
                                      "merged cells" if merged else ""))
            page.flush_cache()  # pdfplumber keeps every parsed object otherwise: memory grows with the pages
            if progress is not None:
                progress(number, min(total, MAX_TABLE_PAGES))
        if total > MAX_TABLE_PAGES:
            notes.append(f"Only the first {MAX_TABLE_PAGES} of {total} pages were searched for tables.")
    return found, notes
