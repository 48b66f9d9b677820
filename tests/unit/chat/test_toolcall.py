"""Native tool calling: parsing Qwen's `<tool_call>` replies, validating calls, and the bounded planning rounds."""

from __future__ import annotations

import json

import pytest

from app.chat.tools.native import MAX_CALLS, MAX_ROUNDS, plan_tools, planner_instructions
from app.chat.tools.specs import RUN_SQL, SEARCH_DOCUMENTS, Resources, ToolCall, tool_specs, validate
from app.llm.qwen_tools import parse_calls as parse_qwen_calls
from app.llm.qwen_tools import request_from_json as call_from_json
from app.llm.qwen_tools import tool_system

SPECS = tool_specs(Resources(documents=True, tables=["sales"]))


def qwen_tool_system() -> str:
    """The system message an embedded Qwen planner gets: the planner's instructions, then Qwen's tool prompt."""
    return tool_system(planner_instructions(SPECS), SPECS)


def block(tool: str, **arguments: str) -> str:
    return "<tool_call>\n" + json.dumps({"name": tool, "arguments": arguments}) + "\n</tool_call>"


class Recorder:
    """The planner's callbacks: executed calls and failed ones."""

    def __init__(self) -> None:
        self.executed: list[ToolCall] = []
        self.failed: list[ToolCall] = []

    def execute(self, call: ToolCall) -> str:
        self.executed.append(call)
        return f"result {len(self.executed)} of {call.name}"

    def on_call(self, call: ToolCall) -> None:
        self.failed.append(call)


# parse_qwen_calls -----------------------------------------------------------------------------------------


def test_one_call():
    (call,) = parse_qwen_calls("Let me look.\n" + block(RUN_SQL, question="total revenue"))
    assert (call.name, call.arguments, call.error) == (RUN_SQL, {"question": "total revenue"}, "")


def test_two_calls():
    calls = parse_qwen_calls(block(RUN_SQL, question="total revenue") + "\n" + block(SEARCH_DOCUMENTS, query="refund"))
    assert [(c.name, c.arguments, c.error) for c in calls] == [
        (RUN_SQL, {"question": "total revenue"}, ""),
        (SEARCH_DOCUMENTS, {"query": "refund"}, ""),
    ]


def test_a_missing_closing_tag_still_parses():
    (call,) = parse_qwen_calls('<tool_call>\n{"name": "search_documents", "arguments": {"query": "refund"}}\n')
    assert (call.name, call.arguments, call.error) == (SEARCH_DOCUMENTS, {"query": "refund"}, "")


def test_no_call_in_a_plain_reply():
    assert parse_qwen_calls("DONE") == []
    assert parse_qwen_calls("") == []


def test_a_block_that_is_not_json_is_a_call_with_an_error():
    (call,) = parse_qwen_calls("<tool_call>run_sql(question='total')</tool_call>")
    assert call.name == "?" and call.arguments == {}
    assert "not valid JSON" in call.error


@pytest.mark.parametrize("raw", ['{"arguments": {"query": "x"}}', '{"name": 3, "arguments": {}}', '["run_sql"]'])
def test_a_call_naming_no_tool_is_an_error(raw):
    (call,) = parse_qwen_calls(f"<tool_call>{raw}</tool_call>")
    assert call.name == "?" and "names no tool" in call.error


def test_arguments_given_as_a_json_string_are_decoded():
    raw = json.dumps({"name": RUN_SQL, "arguments": json.dumps({"question": "total revenue"})})
    (call,) = parse_qwen_calls(f"<tool_call>{raw}</tool_call>")
    assert (call.name, call.arguments, call.error) == (RUN_SQL, {"question": "total revenue"}, "")


def test_arguments_as_a_string_that_is_not_json_are_an_error():
    raw = json.dumps({"name": RUN_SQL, "arguments": "total revenue"})
    (call,) = parse_qwen_calls(f"<tool_call>{raw}</tool_call>")
    assert call.name == RUN_SQL and call.arguments == {} and "not valid JSON" in call.error


@pytest.mark.parametrize("arguments", [["total revenue"], 42, "[1, 2]"])
def test_arguments_that_are_not_an_object_are_an_error(arguments):
    (call,) = parse_qwen_calls("<tool_call>" + json.dumps({"name": RUN_SQL, "arguments": arguments}) + "</tool_call>")
    assert call.name == RUN_SQL and call.arguments == {} and "not an object" in call.error


def test_parameters_and_missing_arguments_are_accepted():
    assert call_from_json({"name": RUN_SQL, "parameters": {"question": "q"}}).arguments == {"question": "q"}
    assert call_from_json({"name": RUN_SQL}).arguments == {}
    assert call_from_json({"name": RUN_SQL}).error == ""


# validate -----------------------------------------------------------------------------------------------


def test_an_unknown_tool_is_refused_with_the_available_ones():
    call = validate(ToolCall("delete_everything", {"what": "all"}), SPECS)
    assert "no tool called 'delete_everything'" in call.error
    assert "search_documents" in call.error and "run_sql" in call.error


def test_a_tool_not_available_in_this_conversation_is_refused():
    call = validate(ToolCall("describe_image", {"name": "chart.png"}), SPECS)  # no image attached
    assert "no tool called 'describe_image'" in call.error
    assert "none" in validate(ToolCall(RUN_SQL, {"question": "q"}), []).error


@pytest.mark.parametrize("arguments", [{}, {"question": "   "}, {"query": "total"}, {"question": None}])
def test_a_missing_argument_is_refused(arguments):
    call = validate(ToolCall(RUN_SQL, arguments), SPECS)
    assert call.error == "'run_sql' needs the argument(s) question."


def test_a_valid_call_keeps_only_its_arguments_as_trimmed_text():
    call = validate(ToolCall(RUN_SQL, {"question": "  total revenue  ", "limit": 5}), SPECS)
    assert call.error == "" and call.arguments == {"question": "total revenue"}
    assert validate(ToolCall(SEARCH_DOCUMENTS, {"query": 2023}), SPECS).arguments == {"query": "2023"}


def test_a_call_that_already_failed_stays_failed():
    call = validate(ToolCall("?", {}, error="The tool call is not valid JSON."), SPECS)
    assert call.error == "The tool call is not valid JSON."


# plan_tools, Qwen text format -----------------------------------------------------------------------------------------


def test_qwen_tool_prompt_lists_the_specs():
    system = qwen_tool_system()
    assert "<tools>" in system and "</tools>" in system and "<tool_call>" in system
    assert all(json.dumps(spec) in system for spec in SPECS)
    assert "NONE" in system


def test_a_valid_call_is_executed_then_done(fake_model):
    fake_model.queue("I will query the table.\n", block(RUN_SQL, question="total revenue"))
    fake_model.queue("DONE")
    rec = Recorder()

    rounds = plan_tools(fake_model, "What is the total revenue?", SPECS, rec.execute, rec.on_call)

    assert rounds == 2
    assert [(c.name, c.arguments) for c in rec.executed] == [(RUN_SQL, {"question": "total revenue"})]
    assert rec.failed == []
    first, second = fake_model.sent
    assert [m.role for m in first] == ["system", "user"]
    assert first[0].content == qwen_tool_system() and first[1].content == "What is the total revenue?"
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[2].content.endswith("</tool_call>")
    assert second[3].content == "<tool_response>\nresult 1 of run_sql\n</tool_response>"
    assert all(p.temperature == 0.0 and p.max_tokens == 256 for p in fake_model.params)


def test_two_calls_in_one_reply_are_both_executed(fake_model):
    fake_model.queue(block(RUN_SQL, question="total revenue") + block(SEARCH_DOCUMENTS, query="revenue definition"))
    fake_model.queue("DONE")
    rec = Recorder()
    plan_tools(fake_model, "q", SPECS, rec.execute, rec.on_call)
    assert [c.name for c in rec.executed] == [RUN_SQL, SEARCH_DOCUMENTS]
    responses = fake_model.sent[1][-1].content
    assert responses.count("<tool_response>") == 2 and "result 2 of search_documents" in responses


def test_no_call_at_all_ends_after_one_round(fake_model):
    fake_model.queue("DONE")
    rec = Recorder()
    assert plan_tools(fake_model, "Hello", SPECS, rec.execute, rec.on_call) == 1
    assert rec.executed == [] and rec.failed == []


def test_a_malformed_call_is_a_failed_step_and_never_executed(fake_model):
    fake_model.queue('<tool_call>{"name": "run_sql", "arguments": {"question": "total"</tool_call>')
    fake_model.queue("DONE")
    rec = Recorder()

    plan_tools(fake_model, "What is the total?", SPECS, rec.execute, rec.on_call)

    assert rec.executed == []
    (failed,) = rec.failed
    assert "not valid JSON" in failed.error
    assert fake_model.sent[1][-1].content.startswith("<tool_response>\nError: The tool call is not valid JSON")


def test_an_unknown_tool_is_a_failed_step(fake_model):
    fake_model.queue(block("drop_table", name="sales"))
    fake_model.queue("DONE")
    rec = Recorder()

    plan_tools(fake_model, "Delete the sales table", SPECS, rec.execute, rec.on_call)

    assert rec.executed == []
    (failed,) = rec.failed
    assert failed.name == "drop_table" and "no tool called 'drop_table'" in failed.error
    assert "Error: There is no tool called 'drop_table'" in fake_model.sent[1][-1].content


def test_a_call_with_a_missing_argument_is_a_failed_step(fake_model):
    fake_model.queue(block(RUN_SQL, sql="SELECT 1"))
    fake_model.queue("DONE")
    rec = Recorder()
    plan_tools(fake_model, "q", SPECS, rec.execute, rec.on_call)
    assert rec.executed == [] and "needs the argument(s) question" in rec.failed[0].error


def test_the_model_repeating_a_call_is_refused_the_second_time(fake_model):
    fake_model.queue(block(RUN_SQL, question="total revenue"))
    fake_model.queue(block(RUN_SQL, question="total revenue"))
    fake_model.queue("DONE")
    rec = Recorder()

    rounds = plan_tools(fake_model, "What is the total revenue?", SPECS, rec.execute, rec.on_call)

    assert rounds == 3
    assert len(rec.executed) == 1
    (repeat,) = rec.failed
    assert repeat.name == RUN_SQL and "already made" in repeat.error
    assert "Error: The same call was already made" in fake_model.sent[2][-1].content


def test_a_repeat_within_one_reply_is_refused(fake_model):
    fake_model.queue(block(SEARCH_DOCUMENTS, query="refund") + block(SEARCH_DOCUMENTS, query="refund"))
    fake_model.queue("DONE")
    rec = Recorder()
    plan_tools(fake_model, "q", SPECS, rec.execute, rec.on_call)
    assert len(rec.executed) == 1 and len(rec.failed) == 1 and "already made" in rec.failed[0].error


def test_a_model_calling_tools_forever_is_bounded_by_the_rounds(fake_model):
    for n in range(MAX_ROUNDS + 5):
        fake_model.queue(block(RUN_SQL, question=f"question {n}"))
    rec = Recorder()

    rounds = plan_tools(fake_model, "q", SPECS, rec.execute, rec.on_call)

    assert rounds == MAX_ROUNDS
    assert len(fake_model.sent) == MAX_ROUNDS  # never asked again
    assert len(rec.executed) == MAX_ROUNDS and rec.failed == []


def test_a_model_calling_many_tools_at_once_is_bounded_by_the_calls(fake_model):
    fake_model.queue("".join(block(RUN_SQL, question=f"question {n}") for n in range(MAX_CALLS + 3)))
    fake_model.queue("DONE")
    rec = Recorder()

    rounds = plan_tools(fake_model, "q", SPECS, rec.execute, rec.on_call)

    assert rounds == 1 and len(fake_model.sent) == 1  # the limit ends the planning at once
    assert len(rec.executed) == MAX_CALLS
    assert len(rec.failed) == 3 and all("Too many tool calls" in c.error for c in rec.failed)


def test_failed_calls_count_towards_the_limit(fake_model):
    fake_model.queue(block("nope") * MAX_CALLS)
    fake_model.queue(block(RUN_SQL, question="q"))
    rec = Recorder()
    assert plan_tools(fake_model, "q", SPECS, rec.execute, rec.on_call) == 1
    assert rec.executed == [] and len(rec.failed) == MAX_CALLS


# plan_tools, Ollama (through the Ollama adapter and a local fake server) ----------------------------------


@pytest.fixture()
def ollama_model(fake_ollama):
    from app.llm.ollama import OllamaChatModel, OllamaServer

    fake_ollama.add_model("qwen2.5:7b", ("completion", "tools"))
    server = OllamaServer(fake_ollama.host, timeout=10)
    return OllamaChatModel(server, server.model_info("qwen2.5:7b"), 8192)


def test_ollama_tool_calls_are_executed_then_done(fake_ollama, ollama_model):
    fake_ollama.reply_tool_calls(
        {"name": RUN_SQL, "arguments": {"question": "total revenue"}},
        {"name": SEARCH_DOCUMENTS, "arguments": {"query": "revenue definition"}},
    )
    fake_ollama.reply_tool_calls(content="DONE")
    rec = Recorder()

    rounds = plan_tools(
        ollama_model, "Total revenue, and how is revenue defined?", SPECS, rec.execute, rec.on_call
    )

    assert rounds == 2
    assert [(c.name, c.arguments) for c in rec.executed] == [
        (RUN_SQL, {"question": "total revenue"}),
        (SEARCH_DOCUMENTS, {"query": "revenue definition"}),
    ]
    assert rec.failed == []
    first, second = fake_ollama.chat_requests()
    assert first["stream"] is False
    assert [t["function"]["name"] for t in first["tools"]] == [SEARCH_DOCUMENTS, RUN_SQL]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    assert [c["function"]["name"] for c in second["messages"][2]["tool_calls"]] == [RUN_SQL, SEARCH_DOCUMENTS]
    tool_messages = second["messages"][3:]
    assert [(m["tool_name"], m["content"]) for m in tool_messages] == [
        (RUN_SQL, "result 1 of run_sql"),
        (SEARCH_DOCUMENTS, "result 2 of search_documents"),
    ]


def test_ollama_unknown_and_repeated_calls_are_failed_steps(fake_ollama, ollama_model):
    fake_ollama.reply_tool_calls(
        {"name": RUN_SQL, "arguments": {"question": "total"}}, {"name": "shell", "arguments": {"cmd": "rm -rf /"}}
    )
    fake_ollama.reply_tool_calls({"name": RUN_SQL, "arguments": {"question": "total"}})
    fake_ollama.reply_tool_calls(content="DONE")
    rec = Recorder()

    assert plan_tools(ollama_model, "q", SPECS, rec.execute, rec.on_call) == 3

    assert [c.arguments for c in rec.executed] == [{"question": "total"}]
    assert [c.name for c in rec.failed] == ["shell", RUN_SQL]
    assert "no tool called 'shell'" in rec.failed[0].error and "already made" in rec.failed[1].error
    second = fake_ollama.chat_requests()[1]
    assert second["messages"][-1]["content"].startswith("Error: There is no tool called 'shell'")


def test_ollama_calls_written_as_text_are_parsed(fake_ollama, ollama_model):
    fake_ollama.reply_tool_calls(content=block(SEARCH_DOCUMENTS, query="refund policy"))
    fake_ollama.reply_tool_calls(content="DONE")
    rec = Recorder()
    plan_tools(ollama_model, "q", SPECS, rec.execute, rec.on_call)
    assert [(c.name, c.arguments) for c in rec.executed] == [(SEARCH_DOCUMENTS, {"query": "refund policy"})]


def test_ollama_calling_tools_forever_is_bounded(fake_ollama, ollama_model):
    for n in range(MAX_ROUNDS + 2):
        fake_ollama.reply_tool_calls({"name": RUN_SQL, "arguments": {"question": f"q{n}"}})
    rec = Recorder()
    assert plan_tools(ollama_model, "q", SPECS, rec.execute, rec.on_call) == MAX_ROUNDS
    assert len(fake_ollama.chat_requests()) == MAX_ROUNDS and len(rec.executed) == MAX_ROUNDS


def test_streamed_chat_still_works_next_to_tool_replies(fake_ollama, ollama_model):
    from app.ports import ChatMessage, GenerationParams

    fake_ollama.reply("Par", "is.")
    fake_ollama.reply_tool_calls(content="DONE")
    text = "".join(c.text for c in ollama_model.stream([ChatMessage("user", "Capital?")], GenerationParams()))
    assert text == "Paris."
    rec = Recorder()
    assert plan_tools(ollama_model, "q", SPECS, rec.execute, rec.on_call) == 1


def test_a_call_without_tags_is_read_because_llama_cpp_drops_special_tokens():
    reply = 'I will query the table.\n{"name": "run_sql", "arguments": {"question": "total revenue"}}\n'
    (call,) = parse_qwen_calls(reply)
    assert (call.name, call.arguments, call.error) == ("run_sql", {"question": "total revenue"}, "")
    assert parse_qwen_calls('The answer is {"total": 3}.') == []  # a JSON object that is no call
    assert parse_qwen_calls("NONE") == []
