"""Conversation export to Markdown keeps questions, answers, citations and steps."""

from __future__ import annotations

from app.chat.export import conversation_markdown
from storage.conversations import ConversationStore


def test_markdown_export_has_questions_answers_citations_and_steps(tmp_path):
    store = ConversationStore(tmp_path / "c.sqlite")
    conv = store.create("Travel policy")
    store.add_message(conv.id, "user", "Which train class is reimbursed?")
    store.add_message(conv.id, "assistant", "Second class [1].", meta={
        "model": "qwen2.5-coder-1.5b (embedded)",
        "citations": [{"n": 1, "source": "handbook.pdf", "page": 2, "quote": "second class only"},
                      {"n": 2, "source": "meeting.m4a", "page": None, "timestamp": "12:31", "quote": "agreed"},
                      {"n": 3, "kind": "sql", "label": "S1", "sql": "SELECT SUM(units) AS units FROM sales",
                       "columns": ["units"], "rows": [[42]], "row_count": 1}],
        "tools": [{"name": "search_documents", "input": "train class", "output": "5 passage(s)", "seconds": 0.12,
                   "ok": True},
                  {"name": "run_sql", "input": "units sold", "output": "no result", "seconds": 3.0, "ok": False,
                   "error": "Catalog Error"}],
    })

    text = conversation_markdown(store, conv.id)

    assert text.startswith("# Travel policy")
    assert "## Question\n\nWhich train class is reimbursed?" in text
    assert "- [1] handbook.pdf, page 2: “second class only”" in text
    assert "- [2] meeting.m4a, @ 12:31: “agreed”" in text
    assert "step `search_documents` (train class): 5 passage(s) (0.12 s)" in text
    assert "step `run_sql` (units sold): no result (3.00 s) — failed: Catalog Error" in text
    assert "```sql\nSELECT SUM(units) AS units FROM sales\n```" in text and "| units |" in text and "| 42 |" in text
    assert "_Answered by qwen2.5-coder-1.5b (embedded)_" in text
