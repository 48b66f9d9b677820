"""Plain data exchanged by the ingestion service: progress events and per-file results."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multimodal.kinds import kind_by_name
from storage.documents import DocumentRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestProgress:
    """One progress event: per file ('start'/'done'), per page ('page'), per transcribed window ('transcribe')."""

    path: str
    stage: str  # "start" | "transcribe" | "page" | "done"
    page: int = 0
    pages: int = 0
    file_index: int = 1
    file_count: int = 1
    seconds: float = 0.0  # stage "transcribe": seconds of the recording transcribed so far
    total_seconds: float | None = None  # ... out of this many (None when the container does not say)


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one file; `to_dict()` is the CLI's JSON shape (plus extra counts)."""

    path: str
    id: str
    kind: str
    status: str  # "indexed" | "skipped" | "error" ("cancelled" only in the ingest record of a file stopped half-way)
    error: str = ""
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    fallback_pages: int = 0
    ocr_pages: int = 0
    ocr_skipped_pages: int = 0
    empty_pages: int = 0
    suspicious_chunks: int = 0
    error_type: str = ""
    needs_password: bool = False
    warnings: tuple[str, ...] = ()  # what was worked around while reading it (e.g. a damaged PDF read with repairs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def emitter(progress: ProgressCallback | None, path: str, index: int, count: int) -> Callable[..., None]:
    """A function emit(stage, page, pages, seconds=, total_seconds=) that forwards IngestProgress events."""

    def emit(stage: str, page: int = 0, pages: int = 0, seconds: float = 0.0,
             total_seconds: float | None = None) -> None:
        if progress is not None:
            progress(IngestProgress(path, stage, page, pages, index, count, seconds, total_seconds))

    return emit


def result_for(path: Path, doc: DocumentRecord, status: str, started: float) -> IngestResult:
    """The IngestResult of a registry row."""
    return IngestResult(
        str(path), doc.id, doc.kind, status, "", doc.pages, doc.chunks, round(time.monotonic() - started, 3),
        doc.fallback_pages, doc.ocr_pages, doc.ocr_skipped_pages, doc.empty_pages, doc.suspicious_chunks,
    )


def failed_result(path: str | Path, exc: Exception, doc_id: str = "", kind: str = "") -> IngestResult:
    """The result of a file whose ingestion failed in a way nobody planned for: that file fails, the others go on.

    The fault is reported, not hidden: the message names the file and the exception (its traceback is logged at
    debug level), and the status is 'error', so `ingest` exits 1."""
    log.debug("ingesting %s failed", path, exc_info=exc)
    name = Path(path).name
    message = (f"{name} could not be added ({type(exc).__name__}: {exc}). — This is a fault in the app or one of "
               "its libraries, not necessarily in the file: try again, and report it with the file if it repeats.")
    return IngestResult(str(path), doc_id, kind or kind_by_name(name), "error", message, error_type=type(exc).__name__)
