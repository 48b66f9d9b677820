"""Native tool calling: the model itself picks tools, in rounds, until it has what it needs.

One loop over `model.call_tools(...)`: each adapter speaks its own backend's format (Ollama's
`tools` API, the embedded Qwen models' `<tool_call>` text). Whatever the model asks for is
checked here: unknown tools, malformed arguments and repeated calls are reported as failed
steps, never executed, and the number of rounds and calls is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.chat.tools.specs import ToolCall, validate
from app.ports import ChatMessage, ChatModel, GenerationParams, ToolRequest

MAX_ROUNDS = 3
MAX_CALLS = 6

_TOOL_HINTS = {
    "run_sql": "run_sql for numbers and rows in the user's tables",
    "search_documents": "search_documents for what the user's documents say",
    "describe_image": "describe_image for an attached image",
    "read_transcript": "read_transcript for an attached recording",
}

# Executes one validated call; returns a short text result for the model.
Execute = Callable[[ToolCall], str]
# Told about a call that was refused (shown as a failed step).
OnFailed = Callable[[ToolCall], None]


def planner_instructions(specs: list[dict[str, Any]]) -> str:
    """What the planning step is told, naming only the tools it has."""
    hints = [_TOOL_HINTS[s["function"]["name"]] for s in specs if s["function"]["name"] in _TOOL_HINTS]
    return (
        "You are the planning step of an analyst's assistant. Call the tools that fetch the facts the user's "
        f"question needs: {'; '.join(hints)}. A question may need several tools. Only when no tool can help "
        "(small talk, a writing task) reply with the single word NONE. Do not write the answer."
    )


def plan_tools(model: ChatModel, question: str, specs: list[dict[str, Any]], execute: Execute,
               on_call: OnFailed, context: str = "") -> int:
    """Let the model call tools in rounds; returns the number of rounds used.
    `context` is the conversation's previous question and query, for follow-ups."""
    messages = [ChatMessage("system", planner_instructions(specs)), ChatMessage("user", context + question)]
    params = GenerationParams(temperature=0.0, top_p=1.0, max_tokens=256, seed=0)
    seen: set[str] = set()
    calls_made = 0
    for round_no in range(1, MAX_ROUNDS + 1):
        reply = model.call_tools(messages, specs, params)
        if not reply.calls:
            return round_no
        messages.append(ChatMessage("assistant", reply.content, tool_calls=reply.calls))
        for request in reply.calls:
            call = to_tool_call(request)
            result = _run_checked(call, specs, seen, calls_made, execute, on_call)
            calls_made += 1
            messages.append(ChatMessage("tool", result, tool_name=call.name))
        if calls_made >= MAX_CALLS:
            return round_no
    return MAX_ROUNDS


def to_tool_call(request: ToolRequest) -> ToolCall:
    """The model's request as a ToolCall (a malformed one keeps its error and is never run)."""
    return ToolCall(request.name, dict(request.arguments), error=request.error)


def _run_checked(call: ToolCall, specs: list[dict[str, Any]], seen: set[str], calls_made: int, execute: Execute,
                 on_call: OnFailed) -> str:
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
