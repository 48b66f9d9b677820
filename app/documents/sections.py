"""Documents read as sections in the library: Word, PowerPoint, HTML, Markdown/text and e-mail.

Which reader takes a file is decided by its kind (multimodal/kinds.py). Each section is stored as one
"page" (a slide keeps its number) with its heading path, so the citation view can show the passage in
context and a model change re-embeds from stored text. Chunks carry their locator ("3.2 Revenue ¶4",
"slide 7", "Setup (lines 12–30)") and are indexed with the heading path in front. An e-mail's
attachments become documents of their own, named "mail.eml › report.pdf" so they point back at it.
Also here: writing chunk batches to both indexes, and re-embedding stored pages (shared by all kinds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.documents.media import rechunk
from app.documents.results import IngestResult, result_for
from multimodal.chunking import Section, TextChunk, chunk_section
from multimodal.doc_tables import pdf_tables
from multimodal.office_text import read_docx, read_pptx
from multimodal.sectioned import RawTable, SectionedDocument
from multimodal.web_text import read_email, read_html, read_plain
from storage.documents import INDEXED, INDEXING, PENDING, DocumentRecord

ATTACHMENT_SEPARATOR = " › "
_READERS: dict[str, Callable[[Path, str], SectionedDocument]] = {
    "docx": read_docx, "pptx": read_pptx, "html": read_html, "text": read_plain, "email": read_email,
}


def read_sectioned(kind: str, path: Path, name: str) -> SectionedDocument:
    """Read a Word, PowerPoint, HTML, text or e-mail file as sections (BadInputError subclasses on bad files)."""
    return _READERS[kind](Path(path), name)


class SectionIngestion:
    """The DocumentLibrary's part for documents read as sections, and the chunk writing all kinds share."""

    registry: Any
    vectors: Any
    keywords: Any
    batch_chunks: int
    _drop_chunks: Callable[[str], None]
    ingest_bytes: Callable[..., IngestResult]
    on_tables: Callable[[str, str, str, list[RawTable]], list[str]] | None = None  # loads a document's tables

    def _index_sections(self, path: Path, stored: Path, doc_id: str, sha: str, doc: SectionedDocument,
                        emit: Callable[..., None], started: float) -> IngestResult:
        """Store the sections, then their chunks in batches; searchable only when the row flips to indexed."""
        self._drop_chunks(doc_id)
        self.registry.start(doc_id, sha, path.name, doc.kind, str(stored), stored.stat().st_size)
        counts = dict(chunks=0, suspicious_chunks=0, empty_pages=0)
        total = len(doc.sections)
        try:
            buf: list[TextChunk] = []
            for n, section in enumerate(doc.sections, start=1):
                counts["empty_pages"] += not section.text.strip()
                self.registry.add_sections(doc_id, [(section.number, section.text, section.heading, section.unit,
                                                     section.first_line)], doc.method)
                buf.extend(chunk_section(section))
                if len(buf) >= self.batch_chunks:
                    self._flush(doc_id, path.name, buf, [], counts, doc.kind)
                emit("page", n, total)
            self._flush(doc_id, path.name, buf, [], counts, doc.kind)
        except BaseException as exc:
            self._drop_chunks(doc_id)
            self.registry.set_status(doc_id, PENDING, f"interrupted: {type(exc).__name__}")
            raise
        pages = max((s.number for s in doc.sections), default=0)
        self.registry.finish(doc_id, title=doc.title, author=doc.author, pages=pages,
                             embedding_model=self.vectors.embedder.model_id, **counts)
        warnings = list(doc.warnings)
        if self.on_tables is not None and doc.tables:
            warnings.extend(self.on_tables(doc_id, sha, path.name, doc.tables))
        emit("done", total, total)
        record = self.registry.get(doc_id)
        assert record is not None
        return replace(result_for(path, record, INDEXED, started), warnings=tuple(warnings))

    def _pdf_tables(self, stored: Path, password: str | None, doc_id: str, sha: str, name: str,
                    emit: Callable[..., None]) -> list[str]:
        """Load the tables of an indexed PDF (when a table store is wired in); warnings for the result."""
        if self.on_tables is None:
            return []
        try:
            tables, notes = pdf_tables(stored, password, lambda page, pages: emit("tables", page, pages))
        except Exception as exc:  # noqa: BLE001 - the text is indexed already; tables are a bonus, never a failure
            return [f"The tables in {name} could not be read as data ({type(exc).__name__}); its text is searchable."]
        return notes + (self.on_tables(doc_id, sha, name, tables) if tables else [])

    def _ingest_attachments(self, mail: str, doc: SectionedDocument) -> list[str]:
        """Add an e-mail's attachments as documents of their own; one line per attachment that failed."""
        notes = []
        for filename, data in doc.attachments:
            result = self.ingest_bytes(data, f"{mail}{ATTACHMENT_SEPARATOR}{filename}")
            if result.status == "error":
                notes.append(f"Attachment {filename} of {mail} was not added: {result.error}")
        return notes

    def _flush(self, doc_id: str, source: str, chunks: list[TextChunk], pages: list[tuple[int, str, str, str]],
               counts: dict[str, int], kind: str = "pdf") -> None:
        if pages:
            self.registry.add_pages(doc_id, pages)
        if chunks:
            ids = [f"{doc_id}:{c.page}:{c.index}" for c in chunks]
            metas = [{"doc_id": doc_id, "source": source, "page": c.page, "char_start": c.char_start,
                      "char_end": c.char_end, "suspicious": c.suspicious, "kind": kind}
                     | ({"start_s": c.start_s, "end_s": c.end_s or c.start_s} if c.start_s is not None else {})
                     | ({"locator": c.locator} if c.locator else {})
                     for c in chunks]
            texts = [c.indexed_text for c in chunks]
            self.vectors.add(ids, texts, metas)
            self.keywords.add([(i, doc_id, c.page, t) for i, c, t in zip(ids, chunks, texts, strict=True)])
            counts["chunks"] += len(chunks)
            counts["suspicious_chunks"] += sum(c.suspicious for c in chunks)
        chunks.clear()
        pages.clear()

    def _reembed(self, doc: DocumentRecord, emit: Callable[..., None], started: float) -> IngestResult:
        """Rebuild chunks from stored page texts (after an embedding model change)."""
        self._drop_chunks(doc.id)
        self.registry.set_status(doc.id, INDEXING)
        counts = dict(chunks=0, suspicious_chunks=0)
        chunk_buf: list[TextChunk] = []
        segments = self.registry.segments(doc.id) if doc.kind == "audio" else []
        for number, text in self.registry.iter_pages(doc.id):
            heading, unit, first_line = self.registry.section_place(doc.id, number)
            if unit:
                chunk_buf.extend(chunk_section(Section(number, text, heading, unit, first_line)))
            else:
                chunk_buf.extend(rechunk(doc.kind, text, number, segments))
            if len(chunk_buf) >= self.batch_chunks:
                self._flush(doc.id, doc.name, chunk_buf, [], counts, doc.kind)
            emit("page", number, doc.pages)
        self._flush(doc.id, doc.name, chunk_buf, [], counts, doc.kind)
        self.registry.finish(doc.id, embedding_model=self.vectors.embedder.model_id, **counts)
        emit("done", doc.pages, doc.pages)
        record = self.registry.get(doc.id)
        assert record is not None
        return result_for(Path(doc.name), record, INDEXED, started)  # named like reindex's results, not by sha
