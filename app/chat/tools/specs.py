"""The tools a turn can use, what a conversation makes available to them, and their schemas.

Tools: `search_documents` (passages with pages/timestamps), `run_sql` (a data question answered
by checked, read-only SQL over the loaded tables), `describe_image` and `read_transcript`
(attachments of the conversation). The schemas are the JSON-schema "function" format that
Ollama's `tools` and Qwen's ChatML tool prompt both use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEARCH_DOCUMENTS = "search_documents"
RUN_SQL = "run_sql"
DESCRIBE_IMAGE = "describe_image"
READ_TRANSCRIPT = "read_transcript"
TOOL_NAMES = (SEARCH_DOCUMENTS, RUN_SQL, DESCRIBE_IMAGE, READ_TRANSCRIPT)
MAX_SQL_ROWS_SHOWN = 20  # rows of a result the model sees and the citation keeps


@dataclass
class ToolCall:
    """One request to use a tool, from the router or from the model."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # set when the model's call could not be used (malformed, unknown tool)
    reason: str = ""  # why the router picked it

    def key(self) -> str:
        """Identity of the call, to spot a model repeating itself."""
        return self.name + json.dumps(self.arguments, sort_keys=True, default=str)

    def describe(self) -> str:
        """The call's input as shown in the turn's steps."""
        if len(self.arguments) == 1:
            return str(next(iter(self.arguments.values())))
        return json.dumps(self.arguments, ensure_ascii=False, default=str)


@dataclass
class StoredFile:
    """A file attached somewhere in the conversation (kept under <data_dir>/attachments)."""

    name: str
    sha256: str
    path: str
    kind: str  # "pdf" | "table" | "image" | "audio" | "unknown"
    new: bool = False  # attached to this turn's question

    def read(self) -> bytes:
        """The file's bytes."""
        return Path(self.path).read_bytes()


@dataclass
class SqlEvidence:
    """One run_sql result as the answer and the audit see it."""

    label: str  # "S1", "S2", ... (how the answer cites it)
    question: str
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int = 0
    truncated: bool = False
    error: str = ""
    types: list[str] = field(default_factory=list)  # DuckDB's column types: DECIMAL(p,s) keeps its scale on screen
    origin: str = ""  # tables taken from documents: "from q3_report.pdf, page 12" (the answer cites the page too)

    @property
    def result_sha256(self) -> str:
        """Hash of the full result (columns and rows), for the audit trail."""
        payload = json.dumps([self.columns, self.rows], default=str, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def citation(self, n: int) -> dict[str, Any]:
        """How the answer cites this result."""
        source = f"SQL result {self.label}" + (f" {self.origin}" if self.origin else "")
        return {"n": n, "kind": "sql", "label": self.label, "source": source, "origin": self.origin, "sql": self.sql,
                "columns": self.columns, "rows": self.rows[:MAX_SQL_ROWS_SHOWN], "row_count": self.row_count,
                "truncated": self.truncated, "result_sha256": self.result_sha256, "question": self.question,
                "types": self.types}

    def block(self, max_rows: int = MAX_SQL_ROWS_SHOWN) -> str:
        """The result as the model reads it."""
        shown = self.rows[:max_rows]
        lines = [" | ".join(self.columns)] + [" | ".join(_cell(v) for v in row) for row in shown]
        more = f"\n({self.row_count - len(shown)} more row(s) not shown)" if self.row_count > len(shown) else ""
        origin = f" (its table was taken {self.origin})" if self.origin else ""
        return (f"[{self.label}] SQL result{origin} for: {self.question}\nQuery: {' '.join(self.sql.split())}\n"
                f"Rows ({self.row_count}{'+' if self.truncated else ''}):\n" + "\n".join(lines) + more)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "NULL" if value is None else str(value)


@dataclass
class Resources:
    """What the tools can reach in this conversation."""

    documents: bool = False  # the library has searchable documents
    doc_ids: list[str] = field(default_factory=list)  # documents attached to this conversation (search scope)
    tables: list[str] = field(default_factory=list)  # tables the SQL may use (conversation scope or all loaded)
    table_scope: list[str] = field(default_factory=list)  # tables loaded from this conversation's attachments
    files: list[StoredFile] = field(default_factory=list)
    library: list[tuple[str, str]] = field(default_factory=list)  # (id, name) of every indexed document
    all_tables: list[str] = field(default_factory=list)  # every loaded table (to spot a question naming one)

    def images(self) -> list[StoredFile]:
        """Images attached to the conversation."""
        return [f for f in self.files if f.kind == "image"]

    def recordings(self) -> list[StoredFile]:
        """Recordings attached to the conversation."""
        return [f for f in self.files if f.kind == "audio"]

    def file(self, name: str, kind: str) -> StoredFile | None:
        """The latest attachment of this kind with this name (or the only one, when the name does not match)."""
        candidates = [f for f in self.files if f.kind == kind]
        for f in reversed(candidates):
            if f.name == name:
                return f
        lowered = name.strip().lower()
        for f in reversed(candidates):
            if lowered and lowered in f.name.lower():
                return f
        return candidates[-1] if len(candidates) == 1 else None


def tool_specs(resources: Resources) -> list[dict[str, Any]]:
    """Function schemas for the tools that can do something in this conversation."""
    specs = []
    if resources.documents:
        specs.append(_spec(
            SEARCH_DOCUMENTS,
            "Search the user's documents (PDF reports, contracts, manuals; indexed images and recordings) for "
            "passages that explain, define or describe something. Returns numbered passages with file and page.",
            {"query": "What to look for, in a few words."},
        ))
    if resources.tables:
        specs.append(_spec(
            RUN_SQL,
            "Answer a question about the numbers and rows in the user's tables (" + ", ".join(resources.tables[:12])
            + ") with a checked, read-only SQL query. Use for counts, totals, averages, rankings, filters, lists.",
            {"question": "The data question in plain words, including any filters (years, names)."},
        ))
    if images := resources.images():
        specs.append(_spec(
            DESCRIBE_IMAGE,
            "Read an attached image (chart, scan, screenshot): its text and what it shows. Attached: "
            + ", ".join(f.name for f in images[-8:]),
            {"name": "The image's file name."},
        ))
    if recordings := resources.recordings():
        specs.append(_spec(
            READ_TRANSCRIPT,
            "Read the timestamped transcript of an attached recording. Attached: "
            + ", ".join(f.name for f in recordings[-8:]),
            {"name": "The recording's file name."},
        ))
    return specs


def _spec(name: str, description: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {key: {"type": "string", "description": text} for key, text in params.items()},
                "required": list(params),
            },
        },
    }


def validate(call: ToolCall, specs: list[dict[str, Any]]) -> ToolCall:
    """Mark a call the tools cannot run (unknown or unavailable tool, missing or non-text arguments)."""
    if call.error:
        return call
    spec = next((s["function"] for s in specs if s["function"]["name"] == call.name), None)
    if spec is None:
        available = ", ".join(s["function"]["name"] for s in specs) or "none"
        call.error = f"There is no tool called '{call.name}' here (available: {available})."
        return call
    required = spec["parameters"]["required"]
    missing = [key for key in required if not str(call.arguments.get(key) or "").strip()]
    if missing:
        call.error = f"'{call.name}' needs the argument(s) {', '.join(missing)}."
        return call
    call.arguments = {key: str(call.arguments[key]).strip() for key in required}
    return call
