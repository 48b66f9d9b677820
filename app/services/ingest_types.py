"""Plain data exchanged by the ingestion service: progress events and per-file results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from storage.documents import DocumentRecord


@dataclass(frozen=True)
class IngestProgress:
    """One progress event: per file (stage 'start'/'done') and per page (stage 'page')."""

    path: str
    stage: str  # "start" | "page" | "done"
    page: int = 0
    pages: int = 0
    file_index: int = 1
    file_count: int = 1


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class IngestResult:
    """What happened to one file; `to_dict()` is the CLI's JSON shape (plus extra counts)."""

    path: str
    id: str
    kind: str
    status: str  # "indexed" | "skipped" | "error"
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def emitter(progress: ProgressCallback | None, path: str, index: int, count: int) -> Callable[..., None]:
    """A function emit(stage, page, pages) that forwards IngestProgress events to progress."""

    def emit(stage: str, page: int = 0, pages: int = 0) -> None:
        if progress is not None:
            progress(IngestProgress(path, stage, page, pages, index, count))

    return emit


def result_for(path: Path, doc: DocumentRecord, status: str, started: float) -> IngestResult:
    """The IngestResult of a registry row."""
    return IngestResult(
        str(path), doc.id, doc.kind, status, "", doc.pages, doc.chunks, round(time.monotonic() - started, 3),
        doc.fallback_pages, doc.ocr_pages, doc.ocr_skipped_pages, doc.empty_pages, doc.suspicious_chunks,
    )
