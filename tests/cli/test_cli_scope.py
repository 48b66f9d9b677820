"""`ask --tables / --docs-only` (the conversation keeps the choice) and an unreadable attachment answered as
such, through `python -m app` in a subprocess with the real embedded model."""

from __future__ import annotations

import json
import random

from storage.conversations import ConversationStore, Scope
from tests.fixtures.paths import FIXTURES

SALES_CSV = FIXTURES / "tables" / "sales.csv"


def test_an_unknown_table_or_document_is_a_user_error_naming_what_exists(cli, tmp_path):
    loaded = cli("tables", "load", str(SALES_CSV))
    assert loaded.returncode == 0, loaded.stderr

    done = cli("ask", "What is the total revenue?", "--tables", "sales,budget")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "No table is called budget" in done.stderr and "Tables: sales" in done.stderr

    done = cli("ask", "What does the handbook say?", "--docs-only", "handbook.pdf")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "handbook.pdf" in done.stderr and "docs list" in done.stderr


def test_a_conversation_keeps_its_tables_and_an_unreadable_file_is_answered_as_such(
        cli, tmp_path, packaged_model_path):
    assert cli("tables", "load", str(SALES_CSV)).returncode == 0
    damaged = tmp_path / "data.csv"
    damaged.write_bytes(random.Random(3).randbytes(4096))

    done = cli("--model", "qwen2.5-coder-0.5b", "ask", "What columns does data.csv have?", "--file", str(damaged),
               "--tables", "sales", "--conversation", "new", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "**data.csv** could not be read" in result["answer"] and result["unreadable"] == ["data.csv"]
    assert [(t["name"], t["ok"]) for t in result["tools"]] == [("read_attachment", False)]
    assert "Revenue" not in result["answer"]  # nothing from the loaded table stands in for it
    store = ConversationStore(cli.data_dir / "chats.sqlite")
    assert store.scope(result["conversation_id"]) == Scope(tables=["sales"])
    assert [m.role for m in store.messages(result["conversation_id"])] == ["user", "assistant"]
