"""Qwen's text tool-call format: how a tool conversation is rendered and how one round is read back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from app.llm.qwen_tools import call_tools, render, tool_system
from app.ports import ChatMessage, Chunk, GenerationParams, ToolRequest, Usage

SPECS = [{"type": "function", "function": {"name": "run_sql", "description": "SQL",
                                           "parameters": {"type": "object", "properties": {}}}}]
PARAMS = GenerationParams(temperature=0.0, max_tokens=64, seed=0)


def test_the_tools_join_the_system_message_after_its_instructions():
    (system, user) = render([ChatMessage("system", "Plan."), ChatMessage("user", "q")], SPECS)
    assert system.content == tool_system("Plan.", SPECS) and system.content.startswith("Plan.\n\n# Tools")
    assert '"name": "run_sql"' in system.content and user == ChatMessage("user", "q")


def test_without_a_system_message_one_is_added_for_the_tools():
    rendered = render([ChatMessage("user", "q")], SPECS)
    assert [m.role for m in rendered] == ["system", "user"] and rendered[0].content.startswith("# Tools")


def test_results_of_one_round_are_one_user_message_of_tool_responses():
    calls = (ToolRequest("run_sql", {"question": "a"}), ToolRequest("run_sql", {"question": "b"}))
    rendered = render([
        ChatMessage("system", "Plan."), ChatMessage("user", "q"),
        ChatMessage("assistant", "  <tool_call>...</tool_call>\n", tool_calls=calls),
        ChatMessage("tool", "one", tool_name="run_sql"), ChatMessage("tool", "two", tool_name="run_sql"),
    ], SPECS)
    assert [m.role for m in rendered] == ["system", "user", "assistant", "user"]
    assert rendered[2].content == "<tool_call>...</tool_call>"
    assert rendered[3].content == "<tool_response>\none\n</tool_response>\n<tool_response>\ntwo\n</tool_response>"


def test_one_round_streams_the_rendered_prompt_and_reads_the_calls():
    sent: list[list[ChatMessage]] = []

    def stream(messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        sent.append(list(messages))
        yield Chunk('<tool_call>\n{"name": "run_sql", "arguments": {"question": "total"}}')
        yield Chunk("\n</tool_call>")
        yield Chunk(usage=Usage(40, 12, "stop"))

    reply = call_tools(stream, [ChatMessage("system", "Plan."), ChatMessage("user", "q")], SPECS, PARAMS)

    assert reply.calls == (ToolRequest("run_sql", {"question": "total"}),)
    assert reply.content.endswith("</tool_call>") and reply.usage == Usage(40, 12, "stop")
    assert sent[0][0].content == tool_system("Plan.", SPECS)
