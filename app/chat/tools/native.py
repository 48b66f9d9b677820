"""Native tool calling: the model itself picks tools, in rounds, until it has what it needs.

Ollama models get the `tools` field of the chat API. The embedded Qwen models get the tool
prompt their chat template uses (`<tools>` signatures in the system message, replies as
`<tool_call>{"name": ..., "arguments": ...}</tool_call>`, results as `<tool_response>`), so
no Jinja template engine is involved. Whatever the model writes is checked: unknown tools,
malformed arguments and repeated calls are reported as failed steps, never executed, and
the number of rounds and calls is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from app.chat.tools.specs import ToolCall, validate
from app.ports import ChatMessage, GenerationParams

MAX_ROUNDS = 3
MAX_CALLS = 6
_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

_TOOL_HINTS = {
    "run_sql": "run_sql for numbers and rows in the user's tables",
    "search_documents": "search_documents for what the user's documents say",
    "describe_image": "describe_image for an attached image",
    "read_transcript": "read_transcript for an attached recording",
}


def planner_instructions(specs: list[dict[str, Any]]) -> str:
    """What the planning step is told, naming only the tools it has."""
    hints = [_TOOL_HINTS[s["function"]["name"]] for s in specs if s["function"]["name"] in _TOOL_HINTS]
    return (
        "You are the planning step of an analyst's assistant. Call the tools that fetch the facts the user's "
        f"question needs: {'; '.join(hints)}. A question may need several tools. Only when no tool can help "
        "(small talk, a writing task) reply with the single word NONE. Do not write the answer."
    )

# Executes one validated call; returns a short text result for the model.
Execute = Callable[[ToolCall], str]


def qwen_tool_system(specs: list[dict[str, Any]]) -> str:
    """Qwen2.5's tool prompt (as its chat template renders it), after the planner's instructions."""
    signatures = "\n".join(json.dumps(spec, ensure_ascii=False) for spec in specs)
    return (
        f"{planner_instructions(specs)}\n\n# Tools\n\n"
        "You may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{signatures}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def parse_qwen_calls(text: str) -> list[ToolCall]:
    """Tool calls in a Qwen-format reply; a block that is not a JSON call becomes a call with an error.

    llama.cpp drops `<tool_call>` tags from the streamed text when they are special tokens, so a reply
    without tags is also read for bare `{"name": ..., "arguments": ...}` objects.
    """
    calls = [call_from_json(match.group(1)) for match in _CALL_BLOCK.finditer(text)]
    return calls or _bare_calls(text)


def _bare_calls(text: str) -> list[ToolCall]:
    decoder = json.JSONDecoder()
    calls, index = [], text.find("{")
    while index != -1:
        try:
            data, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str) and ("arguments" in data or "parameters"
                                                                              in data):
            calls.append(call_from_json(data))
        index = text.find("{", end)
    return calls


def call_from_json(raw: Any) -> ToolCall:
    """A ToolCall from `{"name": ..., "arguments": {...}}` (text or already parsed); errors are kept, not raised."""
    data = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return ToolCall("?", {}, error=f"The tool call is not valid JSON: {raw[:120]!r}.")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return ToolCall("?", {}, error=f"The tool call names no tool: {str(raw)[:120]!r}.")
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models send the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return ToolCall(data["name"], {}, error=f"The arguments of '{data['name']}' are not valid JSON.")
    if not isinstance(arguments, dict):
        return ToolCall(data["name"], {}, error=f"The arguments of '{data['name']}' are not an object.")
    return ToolCall(data["name"], arguments)


def plan_with_qwen(model: Any, question: str, specs: list[dict[str, Any]], execute: Execute,
                   on_call: Callable[[ToolCall], None], context: str = "") -> int:
    """Let an embedded Qwen model call tools in rounds; returns the number of rounds used.
    `context` is the conversation's previous question and query, for follow-ups."""
    messages = [ChatMessage("system", qwen_tool_system(specs)), ChatMessage("user", context + question)]
    params = GenerationParams(temperature=0.0, top_p=1.0, max_tokens=256, seed=0)
    seen: set[str] = set()
    calls_made = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        reply = "".join(chunk.text for chunk in model.stream(messages, params))
        calls = parse_qwen_calls(reply)
        if not calls:
            return round_no
        responses = []
        for call in calls:
            result = _run_checked(call, specs, seen, calls_made, execute, on_call)
            calls_made += 1
            responses.append(f"<tool_response>\n{result}\n</tool_response>")
        messages += [ChatMessage("assistant", reply.strip()), ChatMessage("user", "\n".join(responses))]
        if calls_made >= MAX_CALLS:
            return round_no
    return MAX_ROUNDS


def plan_with_ollama(model: Any, question: str, specs: list[dict[str, Any]], execute: Execute,
                     on_call: Callable[[ToolCall], None], context: str = "") -> int:
    """Let an Ollama model call tools through the chat API's `tools`; returns the number of rounds used."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": planner_instructions(specs)},
        {"role": "user", "content": context + question},
    ]
    params = GenerationParams(temperature=0.0, top_p=1.0, max_tokens=256, seed=0)
    seen: set[str] = set()
    calls_made = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        content, raw_calls, _ = model.call_tools(messages, specs, params)
        calls = [call_from_json(raw) for raw in raw_calls] or parse_qwen_calls(content)
        if not calls:
            return round_no
        messages.append({"role": "assistant", "content": content,
                         "tool_calls": [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]})
        for call in calls:
            result = _run_checked(call, specs, seen, calls_made, execute, on_call)
            calls_made += 1
            messages.append({"role": "tool", "content": result, "tool_name": call.name})
        if calls_made >= MAX_CALLS:
            return round_no
    return MAX_ROUNDS


def _run_checked(call: ToolCall, specs: list[dict[str, Any]], seen: set[str], calls_made: int, execute: Execute,
                 on_call: Callable[[ToolCall], None]) -> str:
    validate(call, specs)
    if not call.error and call.key() in seen:
        call.error = "The same call was already made in this turn; its result is above."
    if not call.error and calls_made >= MAX_CALLS:
        call.error = f"Too many tool calls in one turn (limit {MAX_CALLS})."
    if call.error:
        on_call(call)  # shown as a failed step
        return f"Error: {call.error}"
    seen.add(call.key())
    return execute(call)
