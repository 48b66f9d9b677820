"""Whole turns with tools: a scripted model, real DuckDB tables and a real document library on temp dirs."""

from __future__ import annotations

import re

import pytest

from app.ports import ModelInfo
from tests.fixtures import pdf_factory as pf
from tests.fixtures.turns import POLICY_PAGES, SALES_CSV, TOTAL_SQL, assert_complete_steps, sql_reply, steps

TOTAL = 238.42
BOTH_QUESTION = "What is the total revenue, and how does the policy define revenue?"


def test_an_attached_csv_becomes_a_table_and_run_sql_answers_with_an_sql_citation(make_env, fake_model):
    assistant, tables, _ = make_env()
    fake_model.queue(sql_reply(TOTAL_SQL))  # the SQL writer
    fake_model.queue("The total revenue is 238.42 [S1].")  # the answer
    live: list[dict] = []

    turn = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)])
    turn.on_step = lambda step: live.append(dict(step))
    result = turn.run()

    assert result.status == "ok" and result.answer == "The total revenue is 238.42 [S1]."
    assert steps(result) == [("load_table", True), ("run_sql", True)]
    load, run = result.tools
    assert load["input"] == "sales.csv" and load["tables"] == ["sales"] and "6 rows" in load["output"]
    assert run["input"] == "What is the total revenue?" and run["sql"] == TOTAL_SQL
    assert run["rows"] == [[TOTAL]] and run["row_count"] == 1 and run["attempts"] == 1
    assert_complete_steps(result.tools)
    assert [t.name for t in tables.tables()] == ["sales"]
    # Each step is reported live twice: when it starts (running) and when it ends.
    assert [(s["name"], s.get("running", False)) for s in live] == [
        ("load_table", True),
        ("load_table", False),
        ("run_sql", True),
        ("run_sql", False),
    ]

    sql_prompt = fake_model.sent[0]
    assert "sales" in sql_prompt[-1].content and "What is the total revenue?" in sql_prompt[-1].content
    answer_prompt = fake_model.sent[-1][-1].content
    assert "[S1] SQL result for: What is the total revenue?" in answer_prompt
    assert f"Query: {TOTAL_SQL}" in answer_prompt and "238.42" in answer_prompt

    (citation,) = result.citations
    assert citation["kind"] == "sql" and citation["label"] == "S1" and citation["n"] == 1
    assert citation["sql"] == TOTAL_SQL and citation["rows"] == [[TOTAL]] and citation["columns"] == ["total_revenue"]
    assert re.fullmatch(r"[0-9a-f]{64}", citation["result_sha256"])
    assert citation["result_sha256"] == run["result_sha256"]

    record = assistant.records.get(result.record_id)
    assert record["tool_mode"] == "router" and result.tool_mode == "router"
    assert_complete_steps(record["tools"])
    assert [(t["name"], t["input"], t["ok"]) for t in record["tools"]] == [
        ("load_table", "sales.csv", True),
        ("run_sql", "What is the total revenue?", True),
    ]
    assert record["sql"] == [
        {"label": "S1", "sql": TOTAL_SQL, "row_count": 1, "result_sha256": citation["result_sha256"]}
    ]
    assert record["citations"][0]["kind"] == "sql"
    assert assistant.records.verify() == []


def test_sql_failing_every_repair_is_a_failed_step_and_the_turn_still_answers(make_env, fake_model):
    assistant, tables, _ = make_env()
    bad = sql_reply("SELECT turnover FROM sales_2023")
    for _ in range(tables.max_repairs + 1):
        fake_model.queue(bad)
    fake_model.queue("I could not compute the total revenue from your table.")

    result = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)]).run()

    assert result.status == "ok" and result.answer == "I could not compute the total revenue from your table."
    assert steps(result) == [("load_table", True), ("run_sql", False)]
    run = result.tools[1]
    assert run["error"] and run["sql"] == "SELECT turnover FROM sales_2023"
    assert run["output"] == f"no result after {tables.max_repairs + 1} attempt(s)"
    assert len(fake_model.sent) == tables.max_repairs + 2  # every repair was tried, then the answer
    assert "[S1]" not in fake_model.sent[-1][-1].content
    assert result.citations == []
    record = assistant.records.get(result.record_id)
    assert record["sql"] == [] and record["status"] == "ok"
    assert_complete_steps(record["tools"])


def test_the_model_declining_to_write_sql_is_a_failed_step(make_env, fake_model):
    assistant, _, _ = make_env()
    fake_model.queue("CANNOT_ANSWER: the table has no weather data")
    fake_model.queue("Your table has no weather data.")
    result = assistant.ask("How many rainy days were there in 2024?", files=[("sales.csv", SALES_CSV)]).run()
    assert result.status == "ok" and steps(result) == [("load_table", True), ("run_sql", False)]
    assert "no weather data" in result.tools[1]["error"]


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("report.pdf", b"Quarterly report\nRevenue went up this year.\nNothing else to say.\n", "not a PDF, table"),
        ("empty.csv", b"", "empty (0 bytes)"),
    ],
)
def test_an_unusable_attachment_is_a_failed_step_and_a_notice(make_env, fake_model, name, data, why):
    assistant, _, _ = make_env()
    fake_model.queue("Hello! How can I help?")

    result = assistant.ask("Hello there", files=[(name, data)]).run()

    assert result.status == "ok" and result.answer == "Hello! How can I help?"
    (step,) = result.tools
    assert (step["name"], step["input"], step["ok"], step["output"]) == ("read_attachment", name, False, "not run")
    assert why in step["error"] and name in step["error"]
    assert any(name in n and why in n for n in result.notices)
    assert_complete_steps(result.tools)


def test_a_truncated_pdf_is_a_failed_index_step_and_the_table_still_answers(make_env, fake_model):
    assistant, _, library = make_env(documents=True)
    pdf = pf.text_pdf(POLICY_PAGES)
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("The total revenue is 238.42 [S1].")

    result = assistant.ask(
        "What is the total revenue?", files=[("policy.pdf", pdf[: len(pdf) // 2]), ("sales.csv", SALES_CSV)]
    ).run()

    assert result.status == "ok"
    assert steps(result) == [("index_document", False), ("load_table", True), ("run_sql", True)]
    assert result.tools[0]["error"] and any(n.startswith("policy.pdf could not be used") for n in result.notices)
    assert [c["kind"] for c in result.citations] == ["sql"]
    assert [d.status for d in library.list_documents() if d.status == "indexed"] == []


def test_a_pdf_and_a_csv_answer_a_question_needing_both(make_env, fake_model):
    assistant, _, library = make_env(documents=True)
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("Revenue is the amount invoiced, net of refunds and discounts [1]. The total is 238.42 [S1].")

    result = assistant.ask(
        BOTH_QUESTION, files=[("policy.pdf", pf.text_pdf(POLICY_PAGES)), ("sales.csv", SALES_CSV)]
    ).run()

    assert result.status == "ok"
    assert steps(result) == [
        ("index_document", True),
        ("load_table", True),
        ("run_sql", True),
        ("search_documents", True),
    ]
    index, _, run, search = result.tools
    (doc,) = library.list_documents()
    assert index["doc_id"] == doc.id and index["output"].startswith("2 page(s)")
    # Each tool gets its part of the compound question.
    assert run["input"] == "What is the total revenue" and search["input"] == "how does the policy define revenue?"
    assert any(p["page"] == 2 for p in search["passages"])

    prompt = fake_model.sent[-1][-1].content
    assert "[S1] SQL result for:" in prompt and "policy.pdf, page 2" in prompt

    pages = [c for c in result.citations if "page" in c]
    sqls = [c for c in result.citations if c.get("kind") == "sql"]
    assert [(c["source"], c["page"]) for c in pages] == [("policy.pdf", 2)]
    assert "net of refunds" in pages[0]["quote"]
    assert len(sqls) == 1 and sqls[0]["rows"] == [[TOTAL]]
    assert [c["n"] for c in result.citations] == [1, 2]  # numbered in order, the SQL after the passages

    record = assistant.records.get(result.record_id)
    assert [t["name"] for t in record["tools"]] == ["index_document", "load_table", "run_sql", "search_documents"]
    assert record["evidence"] and record["sql"][0]["result_sha256"] == sqls[0]["result_sha256"]
    assert {e["document_sha256"] for e in record["evidence"]} == {doc.sha256}  # evidence names the bytes


def test_the_same_files_attached_again_are_not_loaded_twice(make_env, fake_model):
    assistant, tables, _ = make_env()
    for _ in range(2):
        fake_model.queue(sql_reply(TOTAL_SQL))
        fake_model.queue("238.42 [S1]")
        result = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)]).run()
    assert result.tools[0]["output"].startswith("already loaded")
    assert [t.name for t in tables.tables()] == ["sales"]


def test_a_follow_up_in_a_conversation_reuses_the_earlier_table_and_sql(make_env, fake_model):
    assistant, _, _ = make_env()
    conv = assistant.conversations.create()
    fake_model.queue(
        sql_reply("SELECT region, ROUND(SUM(revenue), 2) AS revenue FROM sales GROUP BY region ORDER BY region")
    )
    fake_model.queue("East leads [S1].")
    first = assistant.ask(
        "What is the revenue per region?", conversation_id=conv.id, files=[("sales.csv", SALES_CSV)]
    ).run()
    assert steps(first) == [("load_table", True), ("run_sql", True)]

    fake_model.queue(
        sql_reply(
            "SELECT region, ROUND(SUM(revenue), 2) AS revenue FROM sales WHERE year(order_date) = 2024 "
            "GROUP BY region ORDER BY region"
        )
    )
    fake_model.queue("Same for 2024 [S1].")
    second = assistant.ask("now only for 2024", conversation_id=conv.id).run()

    assert steps(second) == [("run_sql", True)]  # no new file: the earlier table is reused
    rewritten = second.tools[0]["input"]
    assert rewritten.startswith("Previous question: What is the revenue per region?")
    assert "GROUP BY region" in rewritten and rewritten.endswith("Follow-up: now only for 2024")
    assert rewritten in fake_model.sent[-2][-1].content  # the SQL writer saw the stand-alone question
    assert second.citations[0]["rows"] == [["East", 149.95], ["North", 68.97], ["South", 19.5]]
    meta = assistant.conversations.messages(conv.id)[-1].meta
    assert [t["name"] for t in meta["tools"]] == ["run_sql"]


def test_native_tool_mode_lets_the_model_call_run_sql(make_env, fake_model):
    fake_model.model_info = ModelInfo(backend="embedded", name="fake-qwen", supports_tools=True, context_window=8192)
    assistant, _, _ = make_env(tool_mode="native")
    fake_model.queue('<tool_call>\n{"name": "run_sql", "arguments": {"question": "total revenue"}}\n</tool_call>')
    fake_model.queue(sql_reply(TOTAL_SQL))  # the SQL writer, inside the tool
    fake_model.queue("DONE")  # the planner's second round
    fake_model.queue("The total revenue is 238.42 [S1].")

    result = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)]).run()

    assert result.status == "ok" and result.tool_mode == "native"
    assert steps(result) == [("load_table", True), ("run_sql", True)]
    assert result.tools[1]["input"] == "total revenue"
    planner = fake_model.sent[0]
    assert "<tools>" in planner[0].content and '"run_sql"' in planner[0].content
    assert "search_documents" not in planner[0].content  # no documents: the tool is not offered
    assert "<tool_response>" in fake_model.sent[2][-1].content and "238.42" in fake_model.sent[2][-1].content
    assert "[S1]" in fake_model.sent[-1][-1].content
    assert [c["kind"] for c in result.citations] == ["sql"]
    record = assistant.records.get(result.record_id)
    assert record["tool_mode"] == "native" and record["sql"][0]["sql"] == TOTAL_SQL
    assert_complete_steps(record["tools"])


def test_native_tool_mode_reports_a_bad_call_and_still_answers(make_env, fake_model):
    fake_model.model_info = ModelInfo(backend="embedded", name="fake-qwen", supports_tools=True, context_window=8192)
    assistant, _, _ = make_env(tool_mode="native")
    fake_model.queue('<tool_call>{"name": "drop_table", "arguments": {"name": "sales"}}</tool_call>')
    fake_model.queue("DONE")
    fake_model.queue("I cannot do that.")

    result = assistant.ask("Delete the sales table", files=[("sales.csv", SALES_CSV)]).run()

    assert result.status == "ok" and result.answer == "I cannot do that."
    assert steps(result) == [("load_table", True), ("drop_table", False)]
    assert "no tool called 'drop_table'" in result.tools[1]["error"]
    assert_complete_steps(result.tools)


def test_native_mode_without_tool_support_falls_back_to_the_router(make_env, fake_model):
    assistant, _, _ = make_env(tool_mode="native")  # the fake model does not advertise tools
    fake_model.queue(sql_reply(TOTAL_SQL))
    fake_model.queue("238.42 [S1]")
    result = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)]).run()
    assert result.tool_mode == "router" and steps(result) == [("load_table", True), ("run_sql", True)]


def test_an_ollama_model_with_tools_plans_natively(make_env, fake_model, fake_ollama):
    from app.llm.ollama import OllamaChatModel, OllamaServer

    fake_ollama.add_model("qwen2.5:7b", ("completion", "tools"))
    server = OllamaServer(fake_ollama.host, timeout=10)
    ollama_model = OllamaChatModel(server, server.model_info("qwen2.5:7b"), 8192)
    assistant, _, _ = make_env()  # tool_mode "auto"
    assistant.router.model = ollama_model
    fake_ollama.reply_tool_calls({"name": "run_sql", "arguments": {"question": "total revenue"}})
    fake_ollama.reply_tool_calls(content="DONE")
    fake_ollama.reply(sql_reply(TOTAL_SQL))  # every streamed request: the SQL writer, then the answer

    result = assistant.ask("What is the total revenue?", files=[("sales.csv", SALES_CSV)]).run()

    assert result.status == "ok" and result.tool_mode == "native"
    assert steps(result) == [("load_table", True), ("run_sql", True)]
    assert result.tools[1]["rows"] == [[TOTAL]]
    requests = fake_ollama.chat_requests()
    assert [r.get("stream") for r in requests] == [False, True, False, True]
    assert requests[2]["messages"][-1]["role"] == "tool" and "238.42" in requests[2]["messages"][-1]["content"]
