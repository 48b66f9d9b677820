"""Word (.docx/.docm) and PowerPoint (.pptx/.pptm) files read as sections: headings, paragraphs, lists,
slides, speaker notes and tables.

Macro-enabled files are read like the others: only their XML text is parsed, the macro project is never
loaded, let alone run. Encrypted (password-protected) and old binary files are OLE containers, not zips:
they are refused with a message saying what to do.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.errors import BadInputError
from multimodal.chunking import Section
from multimodal.kinds import OLE_MAGIC, office_kind
from multimodal.sectioned import MAX_TABLE_ROWS, RawTable, SectionBuilder, SectionedDocument, cap_tables, table_as_text

MAX_UNZIPPED_BYTES = 512 * 1024 * 1024  # a zip bomb dressed as a .docx is refused before it is inflated
_ENCRYPTED_MARK = "EncryptedPackage".encode("utf-16-le")  # the stream an encrypted Office file keeps its zip in
# Macro-enabled main parts, and the content type python-docx/python-pptx expect instead (text is the same).
_MACRO_TYPES = {
    b"application/vnd.ms-word.document.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    b"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}
_LABEL = {"docx": ("a Word document", "word/document.xml", "Word"),
          "pptx": ("a PowerPoint presentation", "ppt/presentation.xml", "PowerPoint")}


class OfficeFileError(BadInputError):
    """A Word or PowerPoint file that cannot be read as given."""


def _checked_zip(path: Path, name: str, kind: str) -> bytes:
    """The file's bytes, once it is known to be a readable Office zip of this kind (clear errors otherwise)."""
    label, main, app = _LABEL[kind]
    data = Path(path).read_bytes()
    if not data:
        raise OfficeFileError(f"{name} is empty (0 bytes).", "Check the file was fully copied or downloaded.")
    if data.startswith(OLE_MAGIC):
        if _ENCRYPTED_MARK in data:
            raise OfficeFileError(f"{name} is password-protected (encrypted), so its text cannot be read.",
                                  f"Open it in {app}, remove the password (File › Info › Protect), save, and add "
                                  "it again.")
        raise OfficeFileError(f"{name} is an old binary {app} file (.doc/.ppt), not {label} in the current format.",
                              f"Open it in {app} and save it as .{kind}, then add it again.")
    found = office_kind(path)
    if found == "zip" and not _opens_as_zip(data):
        raise OfficeFileError(f"{name} is damaged (cut short or corrupted), so it cannot be read as {label}.",
                              f"Copy or download it again, or open it in {app} and save it again.")
    if found != kind:
        what = {"zip": "a zip archive of something else", "xlsx": "an Excel workbook", "docx": "a Word document",
                "pptx": "a PowerPoint presentation"}.get(found or "", "not a zip-based Office file")
        raise OfficeFileError(f"{name} is {what}, not {label} (it has no {main}).",
                              f"Add the file itself; if it is {label}, open it in {app} and save it again.")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if sum(info.file_size for info in zf.infolist()) > MAX_UNZIPPED_BYTES:
            raise OfficeFileError(f"{name} unpacks to more than {MAX_UNZIPPED_BYTES >> 20} MB.",
                                  "Split it into smaller files, or save it without embedded media.")
    return _without_macro_type(data)


def _opens_as_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.testzip() is None
    except (zipfile.BadZipFile, EOFError, OSError):
        return False


def _without_macro_type(data: bytes) -> bytes:
    """The same package, its macro-enabled main part typed as a plain one (the macro project is left unread)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        types = zf.read("[Content_Types].xml")
        if not any(macro in types for macro in _MACRO_TYPES):
            return data
        for macro, plain in _MACRO_TYPES.items():
            types = types.replace(macro, plain)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
            for info in zf.infolist():
                new.writestr(info, types if info.filename == "[Content_Types].xml" else zf.read(info))
    return out.getvalue()


def _opened(kind: str, path: Path, name: str) -> Any:
    data = _checked_zip(path, name, kind)
    try:
        if kind == "docx":
            from docx import Document

            return Document(io.BytesIO(data))
        from pptx import Presentation

        return Presentation(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx/pptx raise many types (KeyError, XMLSyntaxError, ...)
        raise OfficeFileError(f"{name} is damaged and cannot be read ({type(exc).__name__}).",
                              f"Open it in {_LABEL[kind][2]}, save it again, and add the new file.") from exc


# ---- Word --------------------------------------------------------------------------------------------------


def read_docx(path: Path, name: str = "") -> SectionedDocument:
    """A Word document's text as sections under their heading paths, and its tables."""
    name = name or Path(path).name
    document = _opened("docx", path, name)
    from docx.table import Table

    builder = SectionBuilder("section")
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows, merged = _docx_rows(block)
            builder.table(rows, "merged cells" if merged else "")
            continue
        text = block.text.strip()
        level = _heading_level(block)
        if level:
            builder.heading(level, text)
        elif text:
            builder.paragraph(("• " if _is_list_item(block) else "") + text)
    builder.flush()
    props = document.core_properties
    doc = SectionedDocument("docx", builder.sections, props.title or "", props.author or "", builder.tables)
    cap_tables(doc, name)
    return doc


def _heading_level(paragraph: Any) -> int:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style == "Title":
        return 1
    if style.startswith("Heading"):
        digits = style.removeprefix("Heading").strip()
        return int(digits) if digits.isdigit() else 1
    return 0


def _is_list_item(paragraph: Any) -> bool:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    ppr = paragraph._p.pPr  # numbering lives in the paragraph properties when it is not in the style
    return style.startswith("List") or (ppr is not None and ppr.numPr is not None)


def _docx_rows(table: Any) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    merged = False
    for row in table.rows[:MAX_TABLE_ROWS]:
        cells = row.cells
        elements = [cell._tc for cell in cells]
        # python-docx repeats a merged cell for every grid column it spans, and marks vertical merges.
        if len({id(e) for e in elements}) < len(elements) or any(e.vMerge is not None for e in elements):
            merged = True
        rows.append([" ".join(cell.text.split()) for cell in cells])
    return rows, merged


# ---- PowerPoint --------------------------------------------------------------------------------------------


def read_pptx(path: Path, name: str = "") -> SectionedDocument:
    """A deck as one section per slide (title, text, tables, speaker notes); slide numbers are kept."""
    name = name or Path(path).name
    deck = _opened("pptx", path, name)
    sections: list[Section] = []
    tables: list[RawTable] = []
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join((title_shape.text if title_shape is not None else "").split())
        parts: list[str] = []
        for shape in _shapes(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if getattr(shape, "has_table", False):
                rows, merged = _pptx_rows(shape.table)
                tables.append(RawTable(number, len(tables) + 1, rows, "slide", None, "merged cells" if merged else ""))
                parts.append(table_as_text(rows))
            elif getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
                parts.append(shape.text_frame.text.strip())
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                parts.append("Notes: " + notes.text.strip())
        sections.append(Section(number, "\n\n".join(p for p in parts if p), title, "slide"))
    props = deck.core_properties
    doc = SectionedDocument("pptx", sections, props.title or "", props.author or "", tables)
    cap_tables(doc, name)
    return doc


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, group members included, in slide order."""
    for shape in shapes:
        if hasattr(shape, "shapes"):  # a group
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _pptx_rows(table: Any) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    merged = False
    for row in list(table.rows)[:MAX_TABLE_ROWS]:
        cells = list(row.cells)
        merged = merged or any(c.is_merge_origin or c.is_spanned for c in cells)
        rows.append([" ".join(c.text.split()) for c in cells])
    return rows, merged
