"""Load the bundled demo material through the normal ingestion (documents index, DuckDB tables); recorded.

Loading twice changes nothing: the library and the tables skip content they already hold (by sha256).
The recording, the image and the table are loaded on threads of their own while the PDF is indexed: whisper and
OCR run outside the library's lock, so on two cores they overlap the PDF's parsing and embedding instead of
waiting for them. Every progress message is passed on from the calling thread (Streamlit draws only there).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.documents.library import DocumentLibrary
from app.documents.results import IngestProgress
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
# Loaded on the calling thread; the other files meanwhile on threads of their own (OVERLAP False: one after the
# other, as before; kept so bench/demo_load.py can measure both on the same machine).
MAIN_FILE = "R-intro.pdf"
OVERLAP = True
PAGE_STEP = 20  # a progress line every this many pages of the PDF
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
    messages: queue.SimpleQueue[str] = queue.SimpleQueue()
    done: dict[str, DemoFile] = {}
    others = [n for n in (*DOCUMENTS, *TABLES) if n != MAIN_FILE]

    def load_other(name: str) -> None:
        try:
            done[name] = _load_one(name, documents, tables, messages.put)
        except Exception as exc:  # noqa: BLE001 - a fault on this thread must not lose the other files
            done[name] = DemoFile(name, "", "error", getattr(exc, "message", None) or repr(exc))

    # One thread per file: whisper, OCR and DuckDB release the GIL, and each waits for the library's lock
    # only to store its few passages, so none of them queues behind another's model.
    workers = [threading.Thread(target=load_other, args=(name,), name=f"demo-{name}", daemon=True)
               for name in others] if OVERLAP else []
    for worker in workers:
        worker.start()

    def relay(message: str) -> None:  # on the calling thread: its own message, then what the worker said
        _drain(messages, say)
        say(message)

    done[MAIN_FILE] = _load_one(MAIN_FILE, documents, tables, relay)
    for worker in workers:
        while worker.is_alive():
            worker.join(0.2)
            _drain(messages, say)
    for name in others if not OVERLAP else ():
        load_other(name)
        _drain(messages, say)
    _drain(messages, say)
    load = DemoLoad([done[name] for name in (*DOCUMENTS, *TABLES)])
    load.seconds = round(time.monotonic() - started, 2)
    load.record_id = records.append("demo_loaded", {
        "user": user, "status": "error" if load.failed else "ok", "seconds": load.seconds,
        "files": [{"name": f.name, "kind": f.kind, "status": f.status, "detail": f.detail} for f in load.files]})
    return load


def _drain(messages: queue.SimpleQueue[str], say: Progress) -> None:
    while not messages.empty():
        say(messages.get())


def _load_one(name: str, documents: DocumentLibrary, tables: TablesService, say: Progress) -> DemoFile:
    """Index one demo document or load the demo table; a fault becomes that file's error line."""
    started = time.monotonic()
    if name in TABLES:
        say(f"Loading table {name}…")
        file = _load_table(name, tables)
    else:
        say(f"Indexing {name}…")
        result = documents.ingest_file(DATA_DIR / name, progress=_page_progress(name, say))
        detail = result.error or (f"{result.pages} page(s), {result.chunks} chunk(s), {result.seconds} s"
                                  if result.status != "skipped" else "already in the library")
        file = DemoFile(name, result.kind, result.status, detail)
    say(f"{file.status}: {name} ({time.monotonic() - started:.1f} s)")
    return file


def _page_progress(name: str, say: Progress) -> Callable[[IngestProgress], None]:
    def report(event: IngestProgress) -> None:
        if event.stage == "page" and event.pages > PAGE_STEP and event.page % PAGE_STEP == 0:
            say(f"{name}: page {event.page} of {event.pages}")
    return report


def _load_table(name: str, tables: TablesService) -> DemoFile:
    try:
        loaded = tables.load_file(DATA_DIR / name)
    except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the demo; reported, not hidden
        return DemoFile(name, "table", "error", getattr(exc, "message", None) or str(exc))
    status = "skipped" if loaded.already_loaded else "loaded"
    rows = ", ".join(f"{t} ({loaded.rows[t]} rows)" if t in loaded.rows else t for t in loaded.tables)
    return DemoFile(name, "table", status, ("already loaded: " if loaded.already_loaded else "") + f"table {rows}")
