"""The document library: ingest PDFs, Office/HTML/text/e-mail, images and recordings into Chroma + FTS5.

Ingestion is honest: a document's chunks become searchable only when its registry row flips
to `indexed` in one transaction at the end. A crash leaves an `indexing` row whose partial
chunks are hidden from search and are removed the next time any process takes the ingest
lock, after which `resume()` indexes the document again from the copy kept in the data dir.
One instance is meant to be shared by all threads (Streamlit sessions): writes take a lock.
Images (OCR text) and recordings (whisper transcript, chunks with start/end seconds) are one
page each; see app/documents/media.py. Word, PowerPoint, HTML, text and e-mail files are read as
sections; see app/documents/sections.py.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.documents.doc_tables import DocumentTableLoader, TableLoading
from app.documents.media import (
    MEDIA_KINDS,
    MediaIngestion,
    expand,
    sha256_file,
    skip_reason,
    unsupported,
)
from app.documents.results import IngestProgress, IngestResult, ProgressCallback, emitter, failed_result, result_for
from app.documents.search import (
    Context,
    Passage,
    SearchConfig,
    build_context,
    hybrid_search,
    join_page_chunks,
)
from app.documents.sections import SectionIngestion, read_sectioned
from app.errors import AssistantError, BadInputError, NotFoundError, VectorStoreUnavailableError
from multimodal.chunking import TextChunk, chunk_page
from multimodal.kinds import SECTION_KINDS, document_kind, stored_suffix
from multimodal.pdf import DEFAULT_OCR_BUDGET, EncryptedPdfError, open_pdf
from storage.chroma_index import ChromaIndex
from storage.documents import DELETING, INDEXED, INDEXING, PENDING, DocumentRecord, DocumentRegistry
from storage.embedder import OnnxMiniLM, shared_embedder
from storage.keyword_index import KeywordIndex

if TYPE_CHECKING:
    from multimodal.transcribe import WhisperTranscriber

__all__ = ["DocumentLibrary", "IngestProgress", "IngestResult", "ProgressCallback"]

log = logging.getLogger(__name__)


class DocumentLibrary(MediaIngestion, SectionIngestion):
    """The documents of one data directory, searchable with citations (file + page, section, slide or time)."""

    def __init__(self, data_dir: Path, embedder: OnnxMiniLM | None = None, config: SearchConfig | None = None,
                 ocr_budget: int = DEFAULT_OCR_BUDGET, batch_chunks: int = 256,
                 transcriber_provider: Callable[[], WhisperTranscriber] | None = None, chroma_url: str = "",
                 tables: Callable[[], TableLoading] | None = None,
                 on_ingested: Callable[[IngestResult], object] | None = None) -> None:
        self.data_dir = Path(data_dir)
        # Told of every file's outcome (indexed, skipped or failed) whichever way it came in: the container writes
        # the audit record here, so the UI, the CLI, jobs, attachments and the demo are all recorded once.
        self.on_ingested = on_ingested
        self.files_dir = self.data_dir / "documents"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.config = config or SearchConfig()
        self.ocr_budget = ocr_budget
        # The embedder sorts each flush by length to pad little; flushes of 256 chunks instead of 64 took
        # ingestion from 1.18x to 0.99x the time of pypdf + embedding alone (bench/ingest.py, 40 pages).
        self.batch_chunks = batch_chunks
        self._transcriber_provider = transcriber_provider
        self._default_transcriber: WhisperTranscriber | None = None
        self.registry = DocumentRegistry(self.data_dir / "documents.sqlite")
        self.keywords = KeywordIndex(self.data_dir / "documents.sqlite")
        self.vectors = ChromaIndex(self.data_dir / "chroma", embedder or shared_embedder(), url=chroma_url)
        # Tables inside documents become DuckDB tables when a table store is given (the app's container does).
        self.doc_tables = DocumentTableLoader(self.data_dir, tables) if tables is not None else None
        self.on_tables = self.doc_tables.load if self.doc_tables is not None else None
        self._lock = threading.RLock()
        self._lock_path = self.data_dir / "documents.lock"
        self._depth = 0  # re-entry depth of the ingest lock (only touched while holding self._lock)
        if self.vectors.model_changed:
            for doc in self.registry.list(INDEXED):
                self.registry.set_status(doc.id, PENDING, "embedding model changed; waiting to be re-embedded")
        self._recover(blocking=False)

    # ---- locking and recovery -------------------------------------------------------------

    @contextmanager
    def _exclusive(self, blocking: bool = True) -> Iterator[bool]:
        # Thread lock for this process, file lock against other processes (CLI next to the UI).
        if not self._lock.acquire(blocking=blocking):
            yield False
            return
        if self._depth:  # re-entered by this thread: the file lock is already held
            self._depth += 1
            try:
                yield True
            finally:
                self._depth -= 1
                self._lock.release()
            return
        try:
            with self._lock_path.open("a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                self._depth = 1
                try:
                    self._clean_stale()
                    yield True
                finally:
                    self._depth = 0
                    fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def _recover(self, blocking: bool) -> None:
        with self._exclusive(blocking=blocking):
            pass  # _clean_stale ran inside the lock, if it could be taken

    def _clean_stale(self) -> None:
        # Holding the lock, no ingestion can be live: any indexing/deleting row is a leftover.
        for doc in self.registry.list():
            if doc.status == INDEXING:
                self._drop_chunks(doc.id)
                self.registry.set_status(doc.id, PENDING, "interrupted; will be indexed again")
            elif doc.status == DELETING:
                self._drop_chunks(doc.id)
                self.registry.remove(doc.id)
                _unlink(Path(doc.stored_path))

    def _abandon(self, doc_id: str, exc: BaseException) -> None:
        self.keywords.delete_document(doc_id)
        with suppress(VectorStoreUnavailableError):
            self.vectors.delete_document(doc_id)
        why = exc.message if isinstance(exc, AssistantError) else type(exc).__name__
        self.registry.set_status(doc_id, PENDING, f"interrupted: {why}; `docs resume` finishes it")

    def _drop_chunks(self, doc_id: str) -> None:
        self.vectors.delete_document(doc_id)
        self.keywords.delete_document(doc_id)

    # ---- ingestion --------------------------------------------------------------------------

    def ingest_paths(self, paths: Sequence[Path], password: str | None = None,
                     progress: ProgressCallback | None = None) -> list[IngestResult]:
        """Ingest files and folders (a folder ingests the PDFs, images and recordings in it, recursively)."""
        files = list(expand(paths))
        results = []
        for n, (path, explicit) in enumerate(files, start=1):
            skip = None if explicit else skip_reason(path)
            if skip is not None:
                results.append(IngestResult(str(path), "", skip[0], "skipped", skip[1]))
                continue
            results.append(self.ingest_file(path, password, progress, file_index=n, file_count=len(files)))
        return results

    def ingest_file(self, path: Path, password: str | None = None, progress: ProgressCallback | None = None,
                    file_index: int = 1, file_count: int = 1) -> IngestResult:
        """Index one PDF, image or recording; the same content twice is indexed once. Bad input, and any fault
        while reading this one file: status 'error' with the reason, so the other files of a batch go on."""
        try:
            result = self._ingest_file(Path(path), password, progress, file_index, file_count)
        except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the others; reported, not hidden
            result = failed_result(path, exc)
        except BaseException:  # stopped from outside (a cancelled job, Ctrl+C): recorded as such, then passed on
            if self.on_ingested is not None:
                self.on_ingested(IngestResult(str(path), "", "", "cancelled", "stopped before it finished"))
            raise
        if self.on_ingested is not None:
            self.on_ingested(result)
        return result

    def _ingest_file(self, path: Path, password: str | None, progress: ProgressCallback | None,
                     file_index: int, file_count: int) -> IngestResult:
        started = time.monotonic()
        emit = emitter(progress, str(path), file_index, file_count)
        emit("start")
        try:
            kind = document_kind(path)
            sha = sha256_file(path)
        except OSError as exc:
            return IngestResult(str(path), "", "unknown", "error", f"Cannot read {path}: {exc.strerror or exc}",
                                error_type="BadInputError")
        doc_id = sha[:16]
        existing = self.registry.by_sha(sha)
        if existing and existing.queryable:
            emit("done", existing.pages, existing.pages)
            return result_for(path, existing, "skipped", started)
        try:
            if kind == "unknown":
                raise unsupported(path.name)
            # OCR, whisper and document parsing run outside the lock: a long file must not block other ingestion.
            media = self._extract(kind, path, path.name, emit) if kind in MEDIA_KINDS else None
            sectioned = read_sectioned(kind, path, path.name) if kind in SECTION_KINDS else None
            with self._exclusive():
                existing = self.registry.by_sha(sha)  # again: another thread may have just finished it
                if existing and existing.queryable:
                    emit("done", existing.pages, existing.pages)
                    return result_for(path, existing, "skipped", started)
                if media is not None:
                    stored = self._store_copy(path, sha, stored_suffix(kind, path))
                    return self._index_media(path, stored, doc_id, sha, media, emit, started)
                if sectioned is not None:
                    stored = self._store_copy(path, sha, stored_suffix(kind, path))
                    result = self._index_sections(path, stored, doc_id, sha, sectioned, emit, started)
                    notes = self._ingest_attachments(path.name, sectioned)
                    return replace(result, warnings=result.warnings + tuple(notes))
                stored = self._store_copy(path, sha) if kind == "pdf" else path
                return self._index(path, stored, doc_id, sha, kind, password, emit, started)
        except AssistantError as exc:  # bad input, or e.g. missing whisper weights: one file fails
            return IngestResult(str(path), doc_id if kind == "pdf" else "", kind, "error", str(exc),
                                seconds=round(time.monotonic() - started, 3), error_type=type(exc).__name__,
                                needs_password=isinstance(exc, EncryptedPdfError))

    def ingest_bytes(self, data: bytes, name: str, password: str | None = None,
                     progress: ProgressCallback | None = None, file_index: int = 1,
                     file_count: int = 1) -> IngestResult:
        """Index uploaded bytes under their original file name (for the UI's uploader)."""
        safe = Path(name).name or "upload.pdf"
        with tempfile.TemporaryDirectory(dir=self.data_dir) as tmp:
            path = Path(tmp) / safe
            path.write_bytes(data)
            result = self.ingest_file(path, password, progress, file_index, file_count)
        return replace(result, path=safe)

    def _store_copy(self, path: Path, sha: str, suffix: str = ".pdf") -> Path:
        target = self.files_dir / f"{sha}{suffix}"
        if not target.exists():
            tmp = target.with_suffix(".part")
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)  # atomic: never a half-copied file under the final name
        return target

    def _index(self, path: Path, stored: Path, doc_id: str, sha: str, kind: str, password: str | None,
               emit: Callable[..., None], started: float) -> IngestResult:
        # Open first: bad input must not leave a row behind ("nothing else disturbed").
        try:
            pdf = open_pdf(stored, password=password, ocr_budget=self.ocr_budget, name=path.name)
        except BadInputError:
            if stored != path and not self.registry.by_sha(sha):
                _unlink(stored)
            raise
        with pdf:
            self._drop_chunks(doc_id)
            self.registry.start(doc_id, sha, path.name, kind, str(stored), stored.stat().st_size)
            info = pdf.info
            self.registry.update_meta(doc_id, title=info.title, author=info.author, pages=info.page_count)
            try:
                counts = self._index_pages(doc_id, path.name, pdf.pages(), info.page_count, emit)
            except BaseException as exc:
                self._abandon(doc_id, exc)
                raise
        self.registry.finish(doc_id, title=info.title, author=info.author, pages=info.page_count,
                             embedding_model=self.vectors.embedder.model_id, **counts)
        tables = self._pdf_tables(stored, password, doc_id, sha, path.name, emit)
        emit("done", info.page_count, info.page_count)
        record = self.registry.get(doc_id)
        assert record is not None
        return replace(result_for(path, record, INDEXED, started), warnings=tuple(pdf.warnings) + tuple(tables))

    def _index_pages(self, doc_id: str, source: str, pages: Iterator[Any], total: int,
                     emit: Callable[..., None]) -> dict[str, int]:
        counts = dict(chunks=0, fallback_pages=0, ocr_pages=0, ocr_skipped_pages=0, empty_pages=0,
                      suspicious_chunks=0)
        chunk_buf: list[TextChunk] = []
        page_buf: list[tuple[int, str, str, str]] = []
        for page in pages:
            counts["fallback_pages"] += page.fallback
            counts["ocr_pages"] += page.method == "ocr"
            counts["ocr_skipped_pages"] += page.ocr_skipped
            counts["empty_pages"] += not page.text.strip()
            page_buf.append((page.number, page.text, page.method, page.problem))
            chunk_buf.extend(chunk_page(page.text, page.number))
            # Flush by chunk count and by page count, so memory stays bounded either way.
            if len(chunk_buf) >= self.batch_chunks or len(page_buf) >= 200:
                self._flush(doc_id, source, chunk_buf, page_buf, counts)
            emit("page", page.number, total)
        self._flush(doc_id, source, chunk_buf, page_buf, counts)
        return counts

    # ---- library management -----------------------------------------------------------------

    def list_documents(self) -> list[DocumentRecord]:
        """Every document with its status, oldest first."""
        return self.registry.list()

    def get(self, doc_id: str) -> DocumentRecord:
        """One document; NotFoundError if the id is unknown."""
        doc = self.registry.get(doc_id)
        if doc is None:
            raise NotFoundError(f"No document with id {doc_id}.", "List documents to see their ids.")
        return doc

    def file_path(self, doc_id: str) -> Path:
        """The library's copy of a document's file (what re-indexing reads and the UI shows or plays)."""
        doc = self.get(doc_id)
        path = Path(doc.stored_path)
        if not path.is_file():
            raise NotFoundError(f"The stored copy of {doc.name} is missing.", "Delete it and add the file again.")
        return path

    def delete(self, doc_id: str) -> None:
        """Remove a document: its vectors, keyword rows, page texts, stored copy and the tables taken from it."""
        doc = self.get(doc_id)
        with self._exclusive():
            self.registry.set_status(doc_id, DELETING)  # hide it first; a crash is finished on restart
            self._drop_chunks(doc_id)
            self.registry.remove(doc_id)
            _unlink(Path(doc.stored_path))
            if self.doc_tables is not None:
                self.doc_tables.forget(doc_id)  # the tables taken from it go with it

    def reindex(self, doc_id: str, password: str | None = None, progress: ProgressCallback | None = None,
                file_index: int = 1, file_count: int = 1) -> IngestResult:
        """Extract, chunk and embed a document again from its stored copy."""
        doc = self.get(doc_id)
        started = time.monotonic()
        emit = emitter(progress, doc.name, file_index, file_count)
        emit("start")
        try:
            with self._exclusive():
                stored = Path(doc.stored_path)
                if doc.kind in MEDIA_KINDS:
                    media = self._extract(doc.kind, stored, doc.name, emit)
                    return self._index_media(Path(doc.name), stored, doc.id, doc.sha256, media, emit, started)
                if doc.kind in SECTION_KINDS:
                    sectioned = read_sectioned(doc.kind, stored, doc.name)
                    return self._index_sections(Path(doc.name), stored, doc.id, doc.sha256, sectioned, emit, started)
                return self._index(Path(doc.name), stored, doc.id, doc.sha256, doc.kind, password, emit, started)
        except AssistantError as exc:
            return IngestResult(doc.name, doc.id, doc.kind, "error", str(exc), error_type=type(exc).__name__,
                                needs_password=isinstance(exc, EncryptedPdfError))
        except Exception as exc:  # noqa: BLE001 - as in ingest_file: `docs resume` goes on with the next one
            return failed_result(doc.name, exc, doc.id, doc.kind)

    def pending(self) -> list[DocumentRecord]:
        """Documents that are not searchable yet and will be finished by `resume()`."""
        return [d for d in self.registry.list() if d.status == PENDING]

    def resume(self, progress: ProgressCallback | None = None) -> list[IngestResult]:
        """Finish every pending document (interrupted ingestion, or a changed embedding model)."""
        self._recover(blocking=True)
        results = []
        todo = self.pending()
        for n, doc in enumerate(todo, start=1):
            started = time.monotonic()
            emit = emitter(progress, doc.name, n, len(todo))
            stored_pages = sum(1 for _ in self.registry.iter_pages(doc.id))
            if doc.embedding_model and doc.pages and stored_pages == doc.pages:
                with self._exclusive():
                    results.append(self._reembed(doc, emit, started))
            else:
                results.append(self.reindex(doc.id, progress=progress, file_index=n, file_count=len(todo)))
        return results

    # ---- retrieval ----------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, only: Sequence[str] = ()) -> list[Passage]:
        """Ranked passages from fully indexed documents (only those with ids in `only`, when given), from the k best
        chunks, close chunks of one page joined into one passage; [] means 'not in your documents'."""
        hidden = self.registry.not_queryable_ids()
        if only:
            hidden = [*hidden, *(d.id for d in self.registry.list() if d.id not in set(only))]
        passages = hybrid_search(query, self.vectors, self.keywords, k=k, exclude_docs=hidden, config=self.config)
        return join_page_chunks(passages, self.registry.page_text) if self.config.join_page_chunks else passages

    @staticmethod
    def build_context(passages: Sequence[Passage], token_budget: int, count_tokens: Callable[[str], int]) -> Context:
        """Numbered passages that fit the token budget (weakest dropped first): (text, kept, dropped)."""
        return build_context(passages, token_budget, count_tokens)

    def page_text(self, doc_id: str, page: int) -> str:
        """The full text of one page, as the char spans of its passages index it."""
        text = self.registry.page_text(doc_id, page)
        if text is None:
            raise NotFoundError(f"Document {doc_id} has no page {page}.")
        return text


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
