"""Runs a turn's tools and keeps what they found: passages, SQL results, images and transcripts.

Every tool run becomes a visible step `{"name", "input", "seconds", "ok", "output", ...}`,
reported live through `on_step` and kept in the turn's record. A failing tool is a failed
step, never a failed turn: the answer is written from whatever the other tools found.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from app.chat import attachments as attach
from app.chat.state import OnStep, Progress, Step, TurnState
from app.chat.tools.focus import Unreadable, intended_kind
from app.chat.tools.specs import (
    DESCRIBE_IMAGE,
    MAX_SQL_ROWS_SHOWN,
    READ_TRANSCRIPT,
    RUN_SQL,
    SEARCH_DOCUMENTS,
    Resources,
    SqlEvidence,
    StoredFile,
    ToolCall,
)
from app.chat.workspace import Workspace
from app.documents.doc_tables import sql_source_line
from app.documents.results import IngestProgress, ProgressCallback
from app.documents.search import Passage
from app.errors import AssistantError
from app.settings import Settings
from multimodal.image import PreparedImage
from multimodal.kinds import file_kind

# Prepared images and transcripts, by (sha256, ocr?): rereading an earlier recording should not
# transcribe it again. Bounded, process-wide (shared by every session).
_PREPARED: OrderedDict[tuple[str, bool], attach.Attachment] = OrderedDict()
_PREPARED_LOCK = threading.Lock()
_PREPARED_MAX = 32


class ToolBox:
    """The tools of one turn, with the evidence they gathered."""

    def __init__(self, turn: TurnState, resources: Resources, workspace: Workspace, settings: Settings,
                 on_step: OnStep | None = None) -> None:
        self.turn = turn
        self.workspace = workspace
        self.settings = settings
        self.resources = resources
        self.on_step = on_step
        self.passages: list[Passage] = []
        self.sql: list[SqlEvidence] = []
        self.steps: list[Step] = []
        self.searched = False  # search_documents ran (even if it found nothing)
        self.unreadable: list[Unreadable] = []  # this message's attachments that could not be read
        self.added_docs: list[str] = []  # document ids of this message's PDFs
        self.added_tables: list[str] = []  # tables loaded from this message's files

    # Steps ----------------------------------------------------------------------------------------
    def _start(self, name: str, tool_input: str) -> Step:
        step: Step = {"name": name, "input": tool_input, "ok": True, "running": True}
        if self.on_step:
            self.on_step(step)
        step["_t0"] = time.monotonic()
        return step

    def _end(self, step: Step, ok: bool = True, output: str = "", error: str = "", **extra: Any) -> Step:
        step["seconds"] = round(time.monotonic() - step.pop("_t0"), 4)
        step.update(ok=ok, output=output, **extra)
        step.pop("running", None)
        if error:
            step["error"] = error
        self.steps.append(step)
        if self.on_step:
            self.on_step(step)
        return step

    def unreadable_file(self, stored: StoredFile, reason: str) -> None:
        """An attachment that could not be read: a notice, and (for this message's files) kept so the answer can
        say so instead of being written from other sources."""
        if stored.new:
            self.unreadable.append(Unreadable(stored.name, stored.sha256, intended_kind(stored.name, stored.kind),
                                              reason))
        self.turn.result.notices.append(f"{stored.name} could not be used: {reason}")

    def failed_call(self, call: ToolCall) -> None:
        """A call the model made that could not run (unknown tool, bad arguments, a repeat)."""
        step = self._start(call.name, call.describe())
        self._end(step, ok=False, output="not run", error=call.error)

    # Tools ----------------------------------------------------------------------------------------
    def run(self, call: ToolCall) -> str:
        """Run one validated call; returns a short text result (what a tool-calling model reads)."""
        handler = {SEARCH_DOCUMENTS: self._search, RUN_SQL: self._run_sql, DESCRIBE_IMAGE: self._image,
                   READ_TRANSCRIPT: self._transcript}[call.name]
        return handler(call)

    def _search(self, call: ToolCall) -> str:
        query = call.arguments["query"]
        step = self._start(SEARCH_DOCUMENTS, query)
        self.searched = True
        try:
            library, only = self.workspace.library, self.resources.doc_ids
            found = list(library.search(query, only=only) if only else library.search(query))
        except AssistantError as exc:
            self._end(step, ok=False, output="search failed", error=exc.message)
            return f"Error: {exc.message}"
        known = {p.chunk_id for p in self.passages}
        new = [p for p in found if p.chunk_id not in known]
        self.passages.extend(new)
        places = ", ".join(f"{p.source} p.{p.page}" for p in found[:5])
        self._end(step, output=f"{len(found)} passage(s)" + (f": {places}" if places else ""),
                  passages=[{"source": p.source, "page": p.page, "chunk_id": p.chunk_id,
                             "score": round(p.score, 4)} for p in found])
        if not found:
            return "No passage matched."
        return "\n".join(f"- {p.source}, page {p.page}: {' '.join(p.text.split())[:300]}" for p in found[:5])

    def _run_sql(self, call: ToolCall) -> str:
        question = call.arguments["question"]
        step = self._start(RUN_SQL, question)
        try:
            answer = self.workspace.tables.ask(question, only=self.resources.table_scope, model=self.turn.model)
        except AssistantError as exc:
            self._end(step, ok=False, output="could not run", error=exc.message)
            return f"Error: {exc.message}"
        if answer.error:
            self._end(step, ok=False, output=f"no result after {answer.attempts} attempt(s)", error=answer.error,
                      sql=answer.sql)
            return f"Error: {answer.error}"
        evidence = SqlEvidence(f"S{len(self.sql) + 1}", question, answer.sql, answer.columns, answer.rows,
                               len(answer.rows), answer.truncated, types=list(answer.types))
        evidence.origin = sql_source_line(self.settings.data_dir, answer.sql)  # a table from a document: its page
        self.sql.append(evidence)
        self._end(step, output=f"{evidence.row_count} row(s)" + (f": {answer.answer}" if answer.answer else ""),
                  sql=answer.sql, columns=answer.columns, rows=answer.rows[:MAX_SQL_ROWS_SHOWN],
                  row_count=evidence.row_count, result_sha256=evidence.result_sha256, attempts=answer.attempts)
        return evidence.block(10)

    def _image(self, call: ToolCall) -> str:
        return self._media(call, "image", DESCRIBE_IMAGE)

    def _transcript(self, call: ToolCall) -> str:
        return self._media(call, "audio", READ_TRANSCRIPT)

    def _media(self, call: ToolCall, kind: str, tool: str) -> str:
        name = call.arguments["name"]
        step = self._start(tool, name)
        stored = self.resources.file(name, kind)
        if stored is None:
            what = "image" if kind == "image" else "recording"
            self._end(step, ok=False, output="not found", error=f"No attached {what} is called {name}.")
            return f"Error: no attached {what} is called {name}."
        existing = next((a for a in self.turn.attachments if a.sha256 == stored.sha256), None)
        try:
            item = existing or self._prepare(stored)
        except AssistantError as exc:
            self._end(step, ok=False, output="could not be read", error=exc.one_line())
            self.unreadable_file(stored, exc.one_line())
            return f"Error: {exc.message}"
        if existing is None:
            self.turn.attachments.append(item)
        if item.image is not None:
            return self._image_read(step, item.image)
        transcript = item.transcript
        assert transcript is not None, "a prepared attachment is an image or a transcribed recording"
        self._end(step, output=f"{transcript.duration:.0f} s of audio, {len(transcript.segments)} segment(s), "
                               f"language {transcript.language}", text=transcript.text[:2000])
        return attach.transcript_block(item)[:3000]

    def _image_read(self, step: Step, image: PreparedImage) -> str:
        ocr = image.ocr
        text = " ".join(line.text for line in ocr.lines) if ocr else ""
        output = f"{image.width}x{image.height} image" + (
            f", {len(ocr.lines)} line(s) of text" if ocr else ", sent to the vision model")
        ok = not (ocr is not None and not ocr.lines)
        self._end(step, ok=ok, output=output, error="" if ok else "No text was found in the image.",
                  text=text[:2000])
        return text[:1500] or output

    def _prepare(self, stored: StoredFile) -> attach.Attachment:
        info = self.turn.model_info
        run_ocr = not (info and info.supports_images)
        key = (stored.sha256, run_ocr)
        with _PREPARED_LOCK:
            cached = _PREPARED.get(key)
        if cached is not None:
            return cached
        item = attach.prepare(stored.name, stored.read(), transcriber=lambda: self.workspace.transcriber,
                              run_ocr=run_ocr, max_side=self.settings.image_max_side, progress=self.turn.progress)
        with _PREPARED_LOCK:
            _PREPARED[key] = item
            while len(_PREPARED) > _PREPARED_MAX:
                _PREPARED.popitem(last=False)
        return item

    # Attachments: PDFs join the documents, tables join DuckDB -------------------------------------
    def add_document(self, stored: StoredFile) -> None:
        """Index an attached PDF (skipped when the same bytes are already indexed) and scope search to it."""
        step = self._start("index_document", stored.name)
        try:
            result = self.workspace.library.ingest_bytes(stored.read(), stored.name,
                                                           progress=_ingest_progress(self.turn.progress))
        except AssistantError as exc:
            self._end(step, ok=False, output="could not be indexed", error=exc.one_line())
            self.unreadable_file(stored, exc.one_line())
            return
        if result.status == "error":
            self._end(step, ok=False, output="could not be indexed", error=result.error)
            self.unreadable_file(stored, result.error)
            return
        if not result.chunks:
            # A blank PDF (or a scan OCR read nothing from) indexes "successfully" with no passage: nothing in it
            # can be searched or cited, so for the question it is as unreadable as a damaged file.
            reason = (f"no text could be read from its {result.pages} page(s): it is blank, or a scan too faint "
                      "or small for OCR. Attach a PDF with selectable text, or a clearer scan.")
            self._end(step, ok=False, output="no text", error=reason, doc_id=result.id)
            self.unreadable_file(stored, reason)
            return
        self.resources.doc_ids.append(result.id)
        self.added_docs.append(result.id)
        self.resources.documents = True
        already = result.status == "skipped"
        self._end(step, output=("already indexed" if already else f"{result.pages} page(s), {result.chunks} "
                                f"passage(s)"), doc_id=result.id)

    def add_table(self, stored: StoredFile) -> None:
        """Load an attached table file into DuckDB and scope SQL to its tables."""
        step = self._start("load_table", stored.name)
        try:
            loaded = self.workspace.tables.load_file(Path(stored.path), _table_progress(self.turn.progress),
                                                     file_name=stored.name)
        except AssistantError as exc:
            self._end(step, ok=False, output="could not be loaded", error=exc.one_line())
            self.unreadable_file(stored, exc.one_line())
            return
        if not loaded.tables:
            reason = "no table was found in it. Check that it holds a table with a header row, and attach it again."
            self._end(step, ok=False, output="no table", error=reason)
            self.unreadable_file(stored, reason)
            return
        for table in loaded.tables:
            self.added_tables.append(table)
            if table not in self.resources.all_tables:
                self.resources.all_tables.append(table)
            if table not in self.resources.table_scope:
                self.resources.table_scope.append(table)
            if table not in self.resources.tables:
                self.resources.tables.append(table)
        rows = ", ".join(f"{t} ({loaded.rows.get(t, '?')} rows)" for t in loaded.tables)
        self._end(step, output=("already loaded: " if loaded.already_loaded else "") + rows,
                  tables=list(loaded.tables))


def classify(path: Path, name: str = "") -> str:
    """'pdf', 'image', 'audio', 'table', a section kind ('docx', 'text', ...), 'empty' or 'unknown' from a stored
    attachment's bytes (its original `name` tells Markdown or text notes from other text)."""
    return file_kind(path, name)


def _ingest_progress(progress: Progress | None) -> ProgressCallback | None:
    if progress is None:
        return None

    def report(event: IngestProgress) -> None:
        if event.stage == "page" and event.pages:
            progress(event.page / event.pages, f"Indexing {Path(event.path).name}: page {event.page} of {event.pages}")
        elif event.stage == "start":
            progress(0.0, f"Indexing {Path(event.path).name}…")

    return report


def _table_progress(progress: Progress | None) -> Progress | None:
    return progress  # same (fraction, message) shape
