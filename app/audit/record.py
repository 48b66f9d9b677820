"""The request record of one chat turn: the typed form of a "chat" body in the record store.

The chat writes it (`app.chat.record`), the audit trail, monitoring and the pages read it back
through `ChatRecord.from_body`. It lives here, below the chat, because the audit wing may not
import the chat. Stored bodies are JSON and may be older than this class: every field has a
default, so a record written before a field existed still reads. Non-chat records (retention,
deleted conversations) read too, with the chat fields empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

Json = dict[str, Any]

# Set by the record store when the record is appended; never part of what the chat writes.
_ENVELOPE = ("id", "ts", "kind")


def _dicts(value: Any) -> list[Json]:
    return [v for v in value or [] if isinstance(v, dict)]


@dataclass
class ChatRecord:
    """One chat turn as recorded: who asked what, which model answered how, with which evidence."""

    user: str = ""
    workspace: str = ""  # the workspace the turn ran in (sign-in on); empty: no sign-in, or an older record
    conversation_id: str | None = None
    message_id: str | None = None
    backend: str | None = None
    model: str | None = None
    model_digest: str | None = None
    vision: bool = False
    params: Json = field(default_factory=dict)  # temperature, top_p, max_tokens, seed, context_window
    question: str = ""
    attachments: list[Json] = field(default_factory=list)  # name, sha256, bytes (and kind)
    prompt: list[Json] = field(default_factory=list)  # role, content, image refs: what the model read
    answer: str = ""
    status: str = ""  # ok | error | stopped | blocked
    error: Json | None = None  # {"message", "hint"}
    load_s: float | None = None
    ttft_s: float | None = None
    total_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_estimated: bool = False
    notices: list[str] = field(default_factory=list)
    citations: list[Json] = field(default_factory=list)
    tools: list[Json] = field(default_factory=list)  # the turn's steps
    evidence: list[Json] = field(default_factory=list)  # retrieved passages (ids, pages, scores, document hash)
    guardrails: list[Json] = field(default_factory=list)
    flagged: bool = False
    # None in records older than the field: readers infer it from the answer (see app.audit.trail).
    not_in_documents: bool | None = None
    unreadable: list[str] = field(default_factory=list)
    tool_mode: str = ""
    sql: list[Json] = field(default_factory=list)  # label, sql, row_count, result_sha256
    # Numbers traced (app.chat.numbers): how many numbers the answer states and how many appear in none of its
    # sources (SQL cells, cited passages). None: not checked (no evidence, the check off, or an older record).
    numbers_total: int | None = None
    numbers_untraced: int | None = None
    # The documents' answerability verdict before answering ({"answerable", "reason", "missing", ...}) and
    # whether a refusal was retried from the best passage.
    answerability: Json | None = None
    retried: bool = False
    # Raw personal data values encrypted under the personal-data key, by token (opt-in; see app.audit.privacy).
    sealed_pii: Json | None = None
    # The envelope, added by the store.
    id: str = ""
    ts: str = ""
    kind: str = "chat"

    def body(self) -> Json:
        """The JSON body the chat appends (the store adds id, ts and kind)."""
        data = asdict(self)
        for key in _ENVELOPE:
            data.pop(key)
        if data["sealed_pii"] is None:
            del data["sealed_pii"]  # written only when values were sealed
        return data

    @classmethod
    def from_body(cls, body: Json) -> ChatRecord:
        """Read a stored body tolerantly: missing fields get their defaults, malformed lists are emptied."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in body.items() if k in known and v is not None}
        for key in ("attachments", "prompt", "citations", "tools", "evidence", "guardrails", "sql"):
            if key in values:
                values[key] = _dicts(values[key])
        for key in ("notices", "unreadable"):
            if key in values:
                values[key] = [str(v) for v in values[key] or []]
        for key in ("params", "error", "sealed_pii", "answerability"):
            if key in values and not isinstance(values[key], dict):
                del values[key]
        return cls(**values)

    def tool_names(self) -> list[str]:
        """Names of the turn's tool steps, in order, without repeats."""
        names: list[str] = []
        for step in self.tools:
            name = step.get("name")
            if name and name not in names:
                names.append(name)
        return names


def as_record(record: ChatRecord | Json) -> ChatRecord:
    """A record as ChatRecord, whether it comes from the store (a dict) or already is one."""
    return record if isinstance(record, ChatRecord) else ChatRecord.from_body(record)
