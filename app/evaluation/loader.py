"""Reading an evaluation set: a JSONL file whose lines are document questions or SQL questions.

A line's kind is told by its keys: `gold_sql`/`result_rows` make a SQL item, `pages`/`answer` a
document item. A bad line (not JSON, no question, unknown kind, a database that does not exist)
is reported with its line number and skipped; the rest of the set still runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadInputError
from multimodal.kinds import kind_by_name

DOCQA, SQL = "docqa", "sql"


@dataclass(frozen=True)
class EvalItem:
    """One question of a set, with what it is scored against."""

    id: str
    kind: str  # "docqa" | "sql"
    question: str
    line: int
    answer: str | None = None  # docqa: the reference answer (None: the documents do not answer it)
    pages: tuple[int, ...] = ()  # docqa: gold physical pages, 1-based
    db: Path | None = None  # sql: the .duckdb file, relative paths resolved against the set's folder
    result_rows: tuple[tuple[Any, ...], ...] = ()
    ordered: bool = False
    tie_groups: tuple[int, ...] | None = None
    category: str = ""

    @property
    def gold(self) -> dict[str, Any]:
        """The SQL gold in the shape `scoring.rows_match` reads."""
        return {
            "result_rows": [list(r) for r in self.result_rows],
            "ordered": self.ordered,
            "tie_groups": list(self.tie_groups) if self.tie_groups else None,
        }


@dataclass(frozen=True)
class LineProblem:
    """A line that could not be used, and why."""

    line: int
    message: str


@dataclass
class EvalSet:
    """A loaded set: its items, the lines that were skipped, and the documents its questions are about."""

    path: Path
    name: str
    sha256: str
    items: list[EvalItem] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    documents: list[Path] = field(default_factory=list)

    def kinds(self) -> dict[str, int]:
        """How many items of each kind."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return counts


def load_set(path: Path, docs_dir: Path | None = None) -> EvalSet:
    """Load a JSONL set; documents are the PDFs in `docs_dir` (default: the set's own folder)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(
            f"Cannot read the evaluation set {path}: {exc.strerror or exc}.", "Give the path of a .jsonl file."
        ) from exc
    folder = Path(docs_dir) if docs_dir else path.parent
    if docs_dir and not folder.is_dir():
        raise BadInputError(f"The documents folder {folder} does not exist.", "Pass --docs DIR with the PDFs.")
    result = EvalSet(path, path.stem, hashlib.sha256(data).hexdigest())
    seen: set[str] = set()
    for number, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            item = parse_line(text, number, path.parent)
        except ValueError as exc:
            result.problems.append(LineProblem(number, str(exc)))
            continue
        if item.id in seen:
            result.problems.append(LineProblem(number, f"duplicate id {item.id!r}"))
            continue
        seen.add(item.id)
        result.items.append(item)
    if any(i.kind == DOCQA for i in result.items):
        result.documents = sorted(p for p in folder.glob("*") if kind_by_name(p) == "pdf" and p.is_file())
    return result


def parse_line(text: str, number: int, base: Path) -> EvalItem:
    """One line as an item; ValueError says what is wrong with it."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("no question")
    item_id = str(obj.get("id") or f"line-{number}")
    if "gold_sql" in obj or "result_rows" in obj:
        return _sql_item(obj, item_id, question.strip(), number, base)
    if "pages" in obj or "answer" in obj:
        return _docqa_item(obj, item_id, question.strip(), number)
    raise ValueError("unknown kind: a document question needs 'pages' or 'answer', a SQL one 'result_rows'")


def _docqa_item(obj: dict[str, Any], item_id: str, question: str, number: int) -> EvalItem:
    pages = obj.get("pages") or []
    if not isinstance(pages, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in pages):
        raise ValueError("'pages' must be a list of page numbers")
    answer = obj.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise ValueError("'answer' must be text or null")
    return EvalItem(item_id, DOCQA, question, number, answer=answer, pages=tuple(pages))


def _sql_item(obj: dict[str, Any], item_id: str, question: str, number: int, base: Path) -> EvalItem:
    rows = obj.get("result_rows")
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ValueError("'result_rows' must be a list of rows (lists)")
    if not isinstance(obj.get("db"), str) or not obj["db"]:
        raise ValueError("no 'db': a SQL item names the .duckdb file it is about")
    db = Path(obj["db"]) if Path(obj["db"]).is_absolute() else base / obj["db"]
    if not db.is_file():
        raise ValueError(f"unknown database {obj['db']!r} (no file at {db})")
    groups = obj.get("tie_groups")
    return EvalItem(
        item_id,
        SQL,
        question,
        number,
        db=db,
        result_rows=tuple(tuple(r) for r in rows),
        ordered=bool(obj.get("ordered")),
        tie_groups=tuple(groups) if isinstance(groups, list) else None,
        category=str(obj.get("category") or ""),
    )
