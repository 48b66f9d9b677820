"""Load the bundled demo material through the normal ingestion (documents index, DuckDB tables); recorded.

Loading twice changes nothing: the library and the tables skip content they already hold (by sha256).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.documents.library import DocumentLibrary
from app.tables.service import TablesService

DATA_DIR = Path(__file__).resolve().parent / "data"
DOCUMENTS = ("R-intro.pdf", "who_pm25_by_region.png", "sense_and_sensibility.flac")
TABLES = ("who_air_quality.csv",)
SUGGESTED_QUESTIONS = (
    "How does R-intro say to search the help system by keyword?",
    "What is the average PM2.5 concentration for each WHO region?",
    "What does the chart image who_pm25_by_region.png show?",
    "What does the recording say about Mr John Dashwood?",
)
Progress = Callable[[str], None]


class Recorder(Protocol):
    """Where the load is recorded (the request records)."""

    def append(self, kind: str, body: dict[str, Any]) -> str: ...


@dataclass
class DemoFile:
    """What loading one demo file did."""

    name: str
    kind: str
    status: str  # indexed | loaded | skipped | error
    detail: str = ""


@dataclass
class DemoLoad:
    """The whole load: each file, the seconds it took, the record id."""

    files: list[DemoFile] = field(default_factory=list)
    seconds: float = 0.0
    record_id: str = ""

    @property
    def failed(self) -> list[DemoFile]:
        """The files that could not be loaded."""
        return [f for f in self.files if f.status == "error"]


def demo_files() -> list[Path]:
    """The bundled files, documents first."""
    return [DATA_DIR / name for name in (*DOCUMENTS, *TABLES)]


def load_demo(documents: DocumentLibrary, tables: TablesService, records: Recorder, user: str,
              progress: Progress | None = None) -> DemoLoad:
    """Index the demo documents and load the demo table; one failing file does not stop the others."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    load = DemoLoad()
    for name in DOCUMENTS:
        say(f"Indexing {name}…")
        result = documents.ingest_file(DATA_DIR / name)
        detail = result.error or (f"{result.pages} page(s), {result.chunks} chunk(s), {result.seconds} s"
                                  if result.status != "skipped" else "already in the library")
        load.files.append(DemoFile(name, result.kind, result.status, detail))
    for name in TABLES:
        say(f"Loading table {name}…")
        try:
            loaded = tables.load_file(DATA_DIR / name)
        except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the demo; reported, not hidden
            load.files.append(DemoFile(name, "table", "error", getattr(exc, "message", None) or str(exc)))
            continue
        status = "skipped" if loaded.already_loaded else "loaded"
        rows = ", ".join(f"{t} ({loaded.rows[t]} rows)" if t in loaded.rows else t for t in loaded.tables)
        load.files.append(DemoFile(name, "table", status, ("already loaded: " if loaded.already_loaded else "")
                                   + f"table {rows}"))
    load.seconds = round(time.monotonic() - started, 2)
    load.record_id = records.append("demo_loaded", {
        "user": user, "status": "error" if load.failed else "ok", "seconds": load.seconds,
        "files": [{"name": f.name, "kind": f.kind, "status": f.status, "detail": f.detail} for f in load.files]})
    return load
