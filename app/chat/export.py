"""A conversation as Markdown, with its citations, steps and the models that answered."""

from __future__ import annotations

from multimodal.places import place_in_document
from storage.conversations import ConversationStore


def conversation_markdown(store: ConversationStore, conversation_id: str) -> str:
    """Markdown of one conversation: questions, answers, citations (file + page or time), tool steps."""
    conv = store.get(conversation_id)
    out = [f"# {conv.title}", "", f"_Exported from Analyst Assistant · started {conv.created_at}_", ""]
    for message in store.messages(conversation_id):
        meta = message.meta if isinstance(message.meta, dict) else {}
        if message.role == "user":
            out += ["## Question", "", message.content, ""]
            for ref in _dicts(meta.get("attachments")):
                out.append(f"- attached: {ref.get('name', 'file')} (sha256 {ref.get('sha256', '')[:12]}…)")
            continue
        out += ["## Answer", "", message.content or "_(no text)_", ""]
        if message.status != "ok":
            out += [f"_Status: {message.status}" + (f" — {meta['error']}" if meta.get("error") else "") + "_", ""]
        citations = _dicts(meta.get("citations"))
        if citations:
            out.append("Sources:")
            for cite in citations:
                if cite.get("kind") == "sql":
                    out += _sql_citation(cite)
                    continue
                where = place_in_document(cite)
                out.append(f"- [{cite.get('n')}] {cite.get('source')}, {where}: “{cite.get('quote', '')}”")
            out.append("")
        for step in _dicts(meta.get("tools")):
            state = "" if step.get("ok", True) else f" — failed: {step.get('error', '')}"
            out.append(f"- step `{step.get('name')}` ({step.get('input', '')}): {step.get('output', '')} "
                       f"({_seconds(step)}){state}")
        if meta.get("model"):
            out += [f"_Answered by {meta['model']}_", ""]
    return "\n".join(out).rstrip() + "\n"


def _dicts(items: object) -> list[dict]:
    """Only the well-formed entries of a stored list: one damaged entry must not stop the export."""
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _seconds(step: dict) -> str:
    seconds = step.get("seconds")
    return f"{seconds:.2f} s" if isinstance(seconds, int | float) else "time not recorded"


def _sql_citation(cite: dict) -> list[str]:
    """An SQL result as a fenced query and a Markdown table (first rows)."""
    columns = [str(c) for c in cite.get("columns") or []]
    lines = [f"- [{cite.get('label', cite.get('n'))}] SQL result, {cite.get('row_count', 0)} row(s):", "",
             "```sql", cite.get("sql", ""), "```", ""]
    if columns:
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in cite.get("rows") or []:
            lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
        lines.append("")
    return lines
