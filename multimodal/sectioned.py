"""What reading a document as sections gives: its sections, the tables found in it, attachments (e-mail).

Shared by the Word, PowerPoint, HTML, text and e-mail readers, so the library treats them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multimodal.chunking import HEADING_SEPARATOR, Section

MAX_TABLES_PER_DOCUMENT = 200  # a report with more tables than this is bounded: the rest stay text only
MAX_TABLE_ROWS = 5_000  # a table in a document is a figure, not a data set
MAX_SECTIONS = 20_000  # a 100 MB log split in 200-line sections stays bounded
MAX_TEXT_BYTES = 50 * 1024 * 1024  # text files beyond this are read up to it, with a warning


@dataclass(frozen=True)
class RawTable:
    """A table as found in a document: its cells as text, and where it is."""

    location: int  # page, slide or section number (the section's "page")
    index: int  # 1-based, in document order
    rows: list[list[str]]
    where: str = "page"  # "page" | "slide" | "section"
    bbox: tuple[float, float, float, float] | None = None  # PDFs: x0, top, x1, bottom in points
    problem: str = ""  # why it cannot be loaded cleanly ("" when it can): merged cells, too few rows, ...


@dataclass
class SectionedDocument:
    """A document read as sections, with its title, tables, attachments and what was worked around."""

    kind: str  # "docx" | "pptx" | "html" | "text" | "email"
    sections: list[Section]
    title: str = ""
    author: str = ""
    tables: list[RawTable] = field(default_factory=list)
    attachments: list[tuple[str, bytes]] = field(default_factory=list)  # e-mail: (file name, bytes)
    warnings: list[str] = field(default_factory=list)
    method: str = "text"  # how the page texts were obtained, as stored with each page


def table_as_text(rows: list[list[str]]) -> str:
    """A table's rows as text lines ('a | b | c'), so it stays searchable as text whatever becomes of it."""
    return "\n".join(" | ".join(cell for cell in row) for row in rows if any(cell.strip() for cell in row))


def cap_tables(doc: SectionedDocument, name: str) -> None:
    """Keep at most MAX_TABLES_PER_DOCUMENT tables, saying so when there were more."""
    if len(doc.tables) > MAX_TABLES_PER_DOCUMENT:
        extra = len(doc.tables) - MAX_TABLES_PER_DOCUMENT
        doc.tables = doc.tables[:MAX_TABLES_PER_DOCUMENT]
        doc.warnings.append(f"{name} has {extra} more tables than the {MAX_TABLES_PER_DOCUMENT} loaded as data; "
                            "they are searchable as text.")


class SectionBuilder:
    """Collects paragraphs under a heading path into numbered sections (Word, HTML, Markdown share it)."""

    def __init__(self, unit: str = "section") -> None:
        self.unit = unit
        self.sections: list[Section] = []
        self.tables: list[RawTable] = []
        self._path: list[tuple[int, str]] = []  # (level, text) of the open headings
        self._paragraphs: list[str] = []
        self._first_line = 1

    @property
    def number(self) -> int:
        """The number the section being collected will have."""
        return len(self.sections) + 1

    def heading(self, level: int, text: str, line: int = 1) -> None:
        """A heading closes the section before it and opens a new one under the right parent."""
        self.flush()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        if text.strip():
            self._path.append((level, " ".join(text.split())))
        self._first_line = line

    def paragraph(self, text: str, line: int | None = None) -> None:
        """One paragraph (or, for text files, one line) of the current section."""
        if not self._paragraphs and line is not None:
            self._first_line = line
        self._paragraphs.append(text)

    def table(self, rows: list[list[str]], problem: str = "", where: str = "section") -> None:
        """A table: kept as data (with the section's number) and as text lines of the section."""
        self.tables.append(RawTable(self.number, len(self.tables) + 1, rows, where, None, problem))
        text = table_as_text(rows)
        if text:
            self.paragraph(text)

    def flush(self) -> None:
        """Close the section being collected (nothing happens when it holds no text)."""
        joiner = "\n" if self.unit == "lines" else "\n\n"
        text = joiner.join(self._paragraphs).strip("\n")
        if text.strip():
            heading = HEADING_SEPARATOR.join(t for _, t in self._path)
            self.sections.append(Section(self.number, text, heading, self.unit, self._first_line))
        self._paragraphs = []
