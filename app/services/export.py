"""A conversation as Markdown, with its citations, steps and the models that answered."""

from __future__ import annotations

from storage.conversations import ConversationStore


def conversation_markdown(store: ConversationStore, conversation_id: str) -> str:
    """Markdown of one conversation: questions, answers, citations (file + page or time), tool steps."""
    conv = store.get(conversation_id)
    out = [f"# {conv.title}", "", f"_Exported from Analyst Assistant · started {conv.created_at}_", ""]
    for message in store.messages(conversation_id):
        meta = message.meta
        if message.role == "user":
            out += ["## Question", "", message.content, ""]
            for ref in meta.get("attachments") or []:
                out.append(f"- attached: {ref.get('name', 'file')} (sha256 {ref.get('sha256', '')[:12]}…)")
            continue
        out += ["## Answer", "", message.content or "_(no text)_", ""]
        if message.status != "ok":
            out += [f"_Status: {message.status}" + (f" — {meta['error']}" if meta.get("error") else "") + "_", ""]
        citations = meta.get("citations") or []
        if citations:
            out.append("Sources:")
            for cite in citations:
                where = f"@ {cite['timestamp']}" if cite.get("timestamp") else f"page {cite.get('page')}"
                out.append(f"- [{cite.get('n')}] {cite.get('source')}, {where}: “{cite.get('quote', '')}”")
            out.append("")
        for step in meta.get("tools") or []:
            out.append(f"- step `{step.get('name')}`: {step.get('output', '')} ({step.get('seconds', 0):.2f} s)")
        if meta.get("model"):
            out += [f"_Answered by {meta['model']}_", ""]
    return "\n".join(out).rstrip() + "\n"
