"""An SQL result in the chat: the step shows the query on one line, the citation shows rows and chart — once.

The message is built from a real query on real DuckDB, stored in and read back from the real conversation
store (so it is what the chat page reads after a restart), and drawn by the chat's own functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from app.chat.tools.toolbox import SqlEvidence
from app.tables.service import TablesService
from storage.conversations import ConversationStore
from storage.tables import TableStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tables"
SQL = ("SELECT region,\n       round(sum(revenue), 2) AS revenue\nFROM sales\nGROUP BY region\n"
       "ORDER BY revenue ASC")


def _draw_message(conversations: str, conversation_id: str) -> None:
    """The AppTest script: the stored answer's steps and citations, as the chat page draws them."""
    from pathlib import Path

    from app.ui.chat_citations import render_citations
    from app.ui.chat_messages import render_steps
    from storage.conversations import ConversationStore

    message = ConversationStore(Path(conversations)).messages(conversation_id)[-1]
    render_steps(message)
    render_citations(None, message)  # services is only used to record a citation that fails to draw


@pytest.fixture()
def stored_answer(tmp_path: Path) -> tuple[str, str, list[list]]:
    """An assistant message whose run_sql step and [S1] citation hold a real query's result."""
    service = TablesService(TableStore(tmp_path / "tables.duckdb"))
    service.load_file(FIXTURES / "sales.csv")
    answer = service.run_sql(SQL)
    service.close()
    assert answer.error is None
    evidence = SqlEvidence("S1", "Revenue by region, lowest first?", answer.sql, answer.columns, answer.rows,
                           len(answer.rows), answer.truncated, types=answer.types)
    # The step as the tool box records it (query, rows and the sentence describing them).
    step = {"name": "run_sql", "input": evidence.question, "ok": True, "seconds": 0.01,
            "output": f"{evidence.row_count} row(s): {answer.answer}", "sql": answer.sql,
            "columns": answer.columns, "rows": answer.rows, "row_count": evidence.row_count,
            "result_sha256": evidence.result_sha256, "attempts": 1}
    store = ConversationStore(tmp_path / "chats.sqlite")
    conversation = store.create()
    store.add_message(conversation.id, "user", evidence.question)
    store.add_message(conversation.id, "assistant", "South is lowest [S1].",
                      meta={"tools": [step], "citations": [evidence.citation(1)]})
    return str(tmp_path / "chats.sqlite"), conversation.id, answer.rows


def test_rows_and_chart_are_shown_once_in_the_citation(stored_answer) -> None:
    conversations, conversation_id, rows = stored_answer
    at = AppTest.from_function(_draw_message, args=(conversations, conversation_id), default_timeout=30).run()
    assert not at.exception
    assert not any("could not be shown" in c.value for c in at.caption)

    # The rows once (in the citation), not again under the step.
    assert len(at.dataframe) == 1
    citation = next(e for e in at.expander if e.label.replace("\\", "").startswith("[S1] SQL result"))
    assert len(citation.dataframe) == 1
    assert citation.dataframe[0].value.values.tolist() == rows

    # The step: the query on one line, and no row values repeated in words.
    step = next(e for e in at.expander if e.label.startswith("1 step"))
    assert [c.value for c in step.code] == [" ".join(SQL.split())]
    step_text = " ".join(m.value for m in step.markdown)
    assert "**run_sql**" in step_text and f"{len(rows)} row(s)" in step_text
    assert not any(str(row[0]) in step_text for row in rows)

    # The citation: the full query, and a chart in the query's row order.
    assert [c.value for c in citation.code] == [SQL]
    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    data = dataframe_util.convert_arrow_bytes_to_pandas_df(chart.proto.datasets[0].data.data)
    assert spec["encoding"]["x"]["sort"] is None
    assert list(data["region"]) == [row[0] for row in rows]


def test_citation_numbers_keep_their_decimals(stored_answer) -> None:
    conversations, conversation_id, _ = stored_answer
    at = AppTest.from_function(_draw_message, args=(conversations, conversation_id), default_timeout=30).run()
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["revenue"]["type_config"]["format"] == "%.2f"
