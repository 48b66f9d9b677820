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
