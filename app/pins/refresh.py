"""Pin an SQL-backed answer, and refresh pins by re-running their saved SQL read-only on today's tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from app.errors import BadInputError
from app.pins.store import MAX_ROWS_KEPT, Pin, PinStore, headline, now
from app.tables.service import TablesService
from storage.conversations import ConversationStore


class Recorder(Protocol):
    """Where pins and refreshes are recorded (the request records)."""

    def append(self, kind: str, body: dict[str, Any]) -> str: ...


@dataclass
class Refreshed:
    """What one refresh found: the pin after it, whether its headline changed, and why it is stale if it is."""

    pin: Pin
    before: str
    changed: bool

    @property
    def summary(self) -> str:
        """One line for people."""
        if self.pin.stale:
            return f"STALE {self.pin.id}: {self.pin.stale} (keeps {self.pin.headline} from {self.pin.computed_at})"
        if not self.changed:
            change = f"unchanged {self.pin.headline}"
        elif self.before == self.pin.headline:
            change = f"values changed ({self.pin.headline})"
        else:
            change = f"changed {self.before} -> {self.pin.headline}"
        return f"{self.pin.id}: {change} ({self.pin.question})"


def pin_latest_answer(store: PinStore, conversations: ConversationStore, records: Recorder, conversation_id: str,
                      user: str) -> Pin:
    """Pin the latest answer of a conversation that cites an SQL result (its first result); recorded."""
    for message in reversed(conversations.messages(conversation_id)):
        meta = message.meta if isinstance(message.meta, dict) else {}
        cites = [c for c in meta.get("citations") or [] if isinstance(c, dict) and c.get("kind") == "sql"]
        if message.role == "assistant" and cites:
            cite = cites[0]
            pin = store.add(str(cite.get("question") or ""), str(cite.get("sql", "")),
                            [str(c) for c in cite.get("columns") or []], list(cite.get("rows") or []),
                            int(cite.get("row_count") or 0), conversation_id, user)
            records.append("pin_added", {"user": user, "status": "ok", "conversation_id": conversation_id,
                                         "pin_id": pin.id, "sql": pin.sql, "headline": pin.headline})
            return pin
    raise BadInputError("No answer in this conversation is backed by an SQL result: there is nothing to pin.",
                        "Ask a question about your tables first; answers with an SQL result can be pinned.")


def refresh_pin(store: PinStore, tables: TablesService, records: Recorder, pin: Pin, user: str) -> Refreshed:
    """Re-run the pin's SQL (checked read-only, row cap and time limit); a failure keeps the old value, stale."""
    before, old_rows = pin.headline, pin.rows
    answer = tables.run_sql(pin.sql, pin.question)
    if answer.error:
        pin.stale = f"{answer.error} {answer.error_hint}".strip()
    else:
        row_count = len(answer.rows)
        new = headline(answer.columns, answer.rows, row_count)
        if new != before:
            pin.previous = before
        pin.columns, pin.rows, pin.row_count = answer.columns, answer.rows[:MAX_ROWS_KEPT], row_count
        pin.headline, pin.computed_at, pin.stale = new, now(), ""
    store.save(pin)
    # A table of several rows keeps its headline (the row count) when values change: compare the rows too.
    changed = not pin.stale and (pin.headline != before or _jsonable(pin.rows) != _jsonable(old_rows))
    result = Refreshed(pin, before, changed)
    records.append("pin_refreshed", {"user": user, "status": "error" if pin.stale else "ok", "pin_id": pin.id,
                                     "sql": pin.sql, "before": before, "after": pin.headline,
                                     "changed": result.changed, "error": pin.stale or None})
    return result


def _jsonable(rows: list[list[Any]]) -> str:
    """Rows as stored (JSON, dates as text), so fresh DuckDB values compare with the stored ones."""
    return json.dumps(rows, default=str)
