"""What a report holds, gathered from a conversation and the request records of its answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.errors import BadInputError
from multimodal.places import place_in_document
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore

MAX_ANSWERS = 200  # a very long conversation is cut here (the report says so): a report stays a readable size
MAX_TABLE_ROWS = 50  # rows of one result table shown in a report
MAX_CHARS = 20_000  # characters of one question or answer shown


@dataclass
class Citation:
    """A passage an answer cites: where it comes from and the quoted text."""

    n: str
    source: str
    where: str
    quote: str


@dataclass
class ResultTable:
    """An SQL result an answer cites: the query and the rows kept with the answer."""

    label: str
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    note: str = ""


@dataclass
class Entry:
    """One question and its answer, with everything that backs the answer."""

    question: str
    answer: str
    status: str = "ok"
    model: str = ""
    model_digest: str = ""
    citations: list[Citation] = field(default_factory=list)
    tables: list[ResultTable] = field(default_factory=list)
    chart: dict[str, Any] | None = None  # a Vega-Lite spec stored with the answer, if any
    record_id: str = ""
    notes: list[str] = field(default_factory=list)
    number: int = 0  # the answer's place in the conversation (a report of ticked answers keeps it)


@dataclass
class Report:
    """A conversation made ready to render."""

    conversation_id: str
    title: str
    author: str
    created_at: str
    exported_at: str
    entries: list[Entry] = field(default_factory=list)
    documents: dict[str, str] = field(default_factory=dict)  # name -> sha256
    notes: list[str] = field(default_factory=list)

    def record_ids(self) -> list[str]:
        """The request records the answers came from, in order."""
        return [e.record_id for e in self.entries if e.record_id]

    def numbered(self) -> list[tuple[int, Entry]]:
        """Each entry with its answer number in the conversation."""
        return [(e.number or n, e) for n, e in enumerate(self.entries, 1)]


def answer_list(conversations: ConversationStore, conversation_id: str) -> list[tuple[int, str]]:
    """The conversation's answers as (number, the question it answers), numbered from 1 in order."""
    listed: list[tuple[int, str]] = []
    question = ""
    for message in conversations.messages(conversation_id):
        if message.role == "user":
            question = message.content
        else:
            listed.append((len(listed) + 1, " ".join(question.split())))
    return listed


def check_answers(conversation_id: str, total: int, picked: Sequence[int] | None) -> list[int] | None:
    """The ticked answer numbers, sorted and unique (None: all), or BadInputError naming the numbers that exist."""
    if picked is None:
        return None
    wanted = sorted(set(picked))
    missing = [n for n in wanted if not 1 <= n <= total]
    hint = f"List them with `python -m app report {conversation_id} --list`."
    if not wanted:
        raise BadInputError("No answer was chosen for the report.", f"Pick at least one of 1-{total}. {hint}")
    if missing:
        exists = f"answers 1-{total}" if total > 1 else ("answer 1" if total else "no answers yet")
        raise BadInputError(f"Conversation {conversation_id} has {exists}; there is no answer "
                            f"{', '.join(map(str, missing))}.", hint)
    return wanted


def build_report(conversations: ConversationStore, records: SqliteRecordStore, conversation_id: str,
                 author: str, answers: Sequence[int] | None = None) -> Report:
    """The report of one conversation, or of the answers ticked (numbers from 1; None: all). NotFoundError for an
    unknown id, BadInputError when nothing was answered or a number names no answer."""
    conv = conversations.get(conversation_id)
    messages = conversations.messages(conversation_id)
    total = sum(1 for m in messages if m.role != "user")
    wanted = check_answers(conversation_id, total, answers) if total else None
    keep = set(wanted) if wanted is not None else None
    by_message = {str(r.get("message_id")): r for r in records.query(limit=10 * MAX_ANSWERS, kind="chat",
                                                                         conversation_id=conversation_id)}
    report = Report(conversation_id, conv.title, author, conv.created_at,
                    datetime.now(UTC).isoformat(timespec="seconds"))
    question = ""
    answered = 0
    for message in messages:
        if message.role == "user":
            question = message.content
            continue
        answered += 1
        if (keep is not None and answered not in keep) or len(report.entries) >= MAX_ANSWERS:
            continue
        entry = _entry(question, message.content, message.status, _meta(message.meta),
                       by_message.get(message.id), message.id, report.documents)
        entry.number = answered
        report.entries.append(entry)
    if not report.entries:
        raise BadInputError(f"Conversation {conversation_id} has no answers yet: there is nothing to report.",
                            "Ask a question in it first, or pick another conversation (`python -m app report --list`).")
    if wanted is not None:
        report.notes.append(f"Answers {', '.join(map(str, wanted))} of {total} in this conversation, chosen by "
                            f"{author}.")
    if wanted is None and total > MAX_ANSWERS:
        report.notes.append(f"This conversation has {total} answers; the report shows the first {MAX_ANSWERS}.")
    elif wanted is not None and len(wanted) > MAX_ANSWERS:
        report.notes.append(f"{len(wanted)} answers were chosen; the report shows the first {MAX_ANSWERS}.")
    return report


def _meta(meta: object) -> dict[str, Any]:
    return meta if isinstance(meta, dict) else {}


def _dicts(items: object) -> list[dict[str, Any]]:
    """Only the well-formed entries of a stored list: one damaged entry must not stop the report."""
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _clip(text: str) -> tuple[str, list[str]]:
    if len(text) <= MAX_CHARS:
        return text, []
    return text[:MAX_CHARS], [f"Text cut at {MAX_CHARS} of {len(text)} characters."]


def _entry(question: str, answer: str, status: str, meta: dict[str, Any], record: dict[str, Any] | None,
           message_id: str, documents: dict[str, str]) -> Entry:
    question, cut_q = _clip(question)
    answer, cut_a = _clip(answer or "")
    entry = Entry(question, answer, status, model=str(meta.get("model") or ""), notes=cut_q + cut_a)
    if status != "ok":
        entry.notes.append(f"Status: {status}" + (f" — {meta['error']}" if meta.get("error") else ""))
    for cite in _dicts(meta.get("citations")):
        if cite.get("kind") == "sql":
            entry.tables.append(_table(cite))
        else:
            entry.citations.append(_citation(cite))
    chart = meta.get("chart")
    entry.chart = chart if isinstance(chart, dict) else None
    if record is None:
        entry.notes.append(f"No request record names this answer (message {message_id}): it cannot be verified.")
        return entry
    entry.record_id = str(record.get("id") or "")
    entry.model = str(record.get("model") or entry.model)
    entry.model_digest = str(record.get("model_digest") or "")
    for item in _dicts(record.get("evidence")):
        if item.get("source") and item.get("document_sha256"):
            documents[str(item["source"])] = str(item["document_sha256"])
    for item in _dicts(record.get("attachments")):
        if item.get("name") and item.get("sha256"):
            documents[str(item["name"])] = str(item["sha256"])
    return entry


def _citation(cite: dict[str, Any]) -> Citation:
    where = place_in_document(cite)
    where = f"at {where[2:]}" if where.startswith("@ ") else where
    return Citation(str(cite.get("n", "")), str(cite.get("source", "")), where, str(cite.get("quote", "")))


def _table(cite: dict[str, Any]) -> ResultTable:
    rows = [list(r) for r in cite.get("rows") or [] if isinstance(r, list | tuple)]
    row_count = int(cite.get("row_count") or len(rows))
    shown = rows[:MAX_TABLE_ROWS]
    note = f"First {len(shown)} of {row_count} row(s)." if row_count > len(shown) else ""
    return ResultTable(str(cite.get("label") or cite.get("n", "")), str(cite.get("sql", "")),
                       [str(c) for c in cite.get("columns") or []], shown, row_count, note)
