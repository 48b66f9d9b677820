"""A report as PDF (fpdf2, pure Python): the same content as the HTML report, charts as images.

Text is set in DejaVu Sans when the system has it (every script it covers); otherwise in the PDF core font
Helvetica, where characters outside Latin-1 are replaced by "?" and the report says so.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from app.reports.charts import entry_charts
from app.reports.model import Entry, Report, ResultTable

UNICODE_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
                 Path("/usr/local/share/fonts/DejaVuSans.ttf"))
MONO_FONTS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),)
MAX_TABLE_COLUMNS = 8


class _Writer:
    """fpdf2 with the report's fonts and a few helpers; `core` when only the Latin-1 core fonts are available."""

    def __init__(self, title: str, author: str) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.set_title(title)
        self.pdf.set_author(author)
        self.pdf.set_creator("Analyst Assistant")
        regular = next((p for p in UNICODE_FONTS if p.is_file()), None)
        mono = next((p for p in MONO_FONTS if p.is_file()), None)
        self.core = regular is None
        if regular is not None:
            self.pdf.add_font("body", "", str(regular))
            self.pdf.add_font("mono", "", str(mono or regular))
        self.pdf.add_page()

    def text(self, value: str, size: float = 10, mono: bool = False, bold: bool = False) -> None:
        """A paragraph (wrapped; long words are broken)."""
        self._font(size, mono, bold)
        self.pdf.multi_cell(0, size * 0.5, self.clean(value), align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(1)

    def _font(self, size: float, mono: bool = False, bold: bool = False) -> None:
        if self.core:
            self.pdf.set_font("Courier" if mono else "Helvetica", "B" if bold else "", size)
        else:
            self.pdf.set_font("mono" if mono else "body", "", size + (1 if bold else 0))

    def clean(self, value: str) -> str:
        """The text as the font can set it (core fonts: Latin-1 only, others become "?")."""
        value = value.replace("\t", "    ").replace("\r\n", "\n")
        return value.encode("latin-1", "replace").decode("latin-1") if self.core else value

    def table(self, columns: list[str], rows: list[list[Any]]) -> None:
        """A result table (at most MAX_TABLE_COLUMNS columns, small type)."""
        from fpdf.fonts import FontFace

        self._font(7)
        heading = FontFace(emphasis="", fill_color=(243, 245, 248))  # the Unicode font has no bold face here
        with self.pdf.table(width=self.pdf.epw, text_align="LEFT", line_height=3.6, headings_style=heading) as table:
            table.row([self.clean(str(c)) for c in columns[:MAX_TABLE_COLUMNS]])
            for row in rows:
                table.row([self.clean("" if v is None else str(v)) for v in row[:MAX_TABLE_COLUMNS]])
        self.pdf.ln(2)

    def image(self, png: bytes) -> None:
        """A chart, scaled to the page width."""
        self.pdf.image(io.BytesIO(png), w=min(self.pdf.epw, 110))
        self.pdf.ln(2)


def render_pdf(report: Report, chain: dict[str, dict[str, Any]]) -> bytes:
    """The report as PDF bytes (without the manifest; proof.embed_in_pdf attaches it)."""
    writer = _Writer(report.title, report.author)
    writer.text(report.title, 16, bold=True)
    writer.text(f"Author: {report.author} · conversation started {report.created_at} · exported "
                f"{report.exported_at} · conversation {report.conversation_id}", 8)
    if writer.core:
        writer.text("Note: no Unicode font was found on this system; characters outside Latin-1 are shown as '?'.",
                    8)
    for note in report.notes:
        writer.text(note, 9)
    for number, entry in report.numbered():
        _entry(writer, number, entry)
    _appendix(writer, report, chain)
    return bytes(writer.pdf.output())


def _entry(writer: _Writer, number: int, entry: Entry) -> None:
    writer.text(f"{number}. Question", 12, bold=True)
    writer.text(entry.question)
    writer.text("Answer", 11, bold=True)
    writer.text(entry.answer or "(no text)")
    for note in entry.notes:
        writer.text(note, 8)
    if entry.citations:
        writer.text("Sources", 10, bold=True)
        for cite in entry.citations:
            where = f", {cite.where}" if cite.where else ""
            writer.text(f"[{cite.n}] {cite.source}{where}: \u201c{cite.quote}\u201d", 9)
    for table in entry.tables:
        _table(writer, table)
    for title, png, note in entry_charts(entry):
        if png is None:
            writer.text(f"{title}: {note}", 8)
        else:
            writer.text(title, 9)
            writer.image(png)
    if entry.model:
        writer.text(f"Answered by {entry.model}", 8)


def _table(writer: _Writer, table: ResultTable) -> None:
    writer.text(f"SQL result {table.label} ({table.row_count} row(s))", 10, bold=True)
    writer.text(table.sql, 8, mono=True)
    if table.columns:
        writer.table(table.columns, table.rows)
    if len(table.columns) > MAX_TABLE_COLUMNS:
        writer.text(f"First {MAX_TABLE_COLUMNS} of {len(table.columns)} columns shown.", 8)
    if table.note:
        writer.text(table.note, 8)


def _appendix(writer: _Writer, report: Report, chain: dict[str, dict[str, Any]]) -> None:
    writer.pdf.add_page()
    writer.text("Appendix", 14, bold=True)
    writer.text("SQL queries", 11, bold=True)
    queries = [(t.label, t.sql) for e in report.entries for t in e.tables]
    for label, sql in queries:
        writer.text(f"-- {label}\n{sql}", 8, mono=True)
    if not queries:
        writer.text("None.", 9)
    writer.text("Models", 11, bold=True)
    for name, digest in sorted({(e.model, e.model_digest) for e in report.entries if e.model}):
        writer.text(f"{name} - digest {digest or 'not reported'}", 8)
    writer.text("Documents", 11, bold=True)
    for name, sha in sorted(report.documents.items()):
        writer.text(f"{name} - sha256 {sha}", 8)
    if not report.documents:
        writer.text("None cited.", 9)
    writer.text("Request records (check with: python -m app audit verify-report FILE)", 11, bold=True)
    for number, entry in report.numbered():
        row = chain.get(entry.record_id, {})
        writer.text(f"{number}. record {entry.record_id or 'none'} - chain position {row.get('position', '-')} - "
                    f"hash {row.get('hash', '-')}", 7, mono=True)
