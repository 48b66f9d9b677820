"""Qwen2.5's tool-call format, for models that call tools by writing text.

The embedded Qwen models get the tool prompt their chat template uses (`<tools>` signatures in the
system message, replies as `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, results as
`<tool_response>` blocks in a user message), so no Jinja template engine is involved. Ollama models
that write their calls as text instead of using the API's `tool_calls` are read with the same parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from app.ports import ChatMessage, Chunk, GenerationParams, ToolReply, ToolRequest, Usage

_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)

# A model's `stream` method: what the text-based tool calling runs on.
Stream = Callable[[Sequence[ChatMessage], GenerationParams], Iterator[Chunk]]


def tool_system(instructions: str, specs: Sequence[dict[str, Any]]) -> str:
    """Qwen2.5's tool prompt (as its chat template renders it), after the caller's own instructions."""
    signatures = "\n".join(json.dumps(spec, ensure_ascii=False) for spec in specs)
    head = f"{instructions}\n\n" if instructions else ""
    return (
        f"{head}# Tools\n\n"
        "You may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{signatures}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


def render(messages: Sequence[ChatMessage], specs: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    """A tool conversation as plain Qwen chat messages: tools in the system message, results as
    `<tool_response>` blocks (consecutive results in one user message, as the template does)."""
    rendered: list[ChatMessage] = []
    if not messages or messages[0].role != "system":
        rendered.append(ChatMessage("system", tool_system("", specs)))
    for message in messages:
        if message.role == "system" and not rendered:
            rendered.append(ChatMessage("system", tool_system(message.content, specs)))
        elif message.role == "tool":
            block = f"<tool_response>\n{message.content}\n</tool_response>"
            last = rendered[-1]
            if last.role == "user" and last.content.startswith("<tool_response>"):
                rendered[-1] = ChatMessage("user", f"{last.content}\n{block}")
            else:
                rendered.append(ChatMessage("user", block))
        elif message.role == "assistant":
            rendered.append(ChatMessage("assistant", message.content.strip()))
        else:
            rendered.append(ChatMessage(message.role, message.content, message.images))
    return rendered


def call_tools(
    stream: Stream, messages: Sequence[ChatMessage], specs: Sequence[dict[str, Any]], params: GenerationParams
) -> ToolReply:
    """One tool-calling round through a plain text stream: render, generate, read the calls back."""
    text: list[str] = []
    usage = Usage()
    for chunk in stream(render(messages, specs), params):
        text.append(chunk.text)
        usage = chunk.usage or usage
    reply = "".join(text)
    return ToolReply(reply, tuple(parse_calls(reply)), usage)


def parse_calls(text: str) -> list[ToolRequest]:
    """Tool calls in a Qwen-format reply; a block that is not a JSON call becomes a call with an error.

    llama.cpp drops `<tool_call>` tags from the streamed text when they are special tokens, so a reply
    without tags is also read for bare `{"name": ..., "arguments": ...}` objects.
    """
    calls = [request_from_json(match.group(1)) for match in _CALL_BLOCK.finditer(text)]
    return calls or _bare_calls(text)


def _bare_calls(text: str) -> list[ToolRequest]:
    decoder = json.JSONDecoder()
    calls, index = [], text.find("{")
    while index != -1:
        try:
            data, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if _looks_like_call(data):
            calls.append(request_from_json(data))
        index = text.find("{", end)
    return calls


def _looks_like_call(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("name"), str) and (
        "arguments" in data or "parameters" in data
    )


def request_from_json(raw: Any) -> ToolRequest:
    """A ToolRequest from `{"name": ..., "arguments": {...}}` (text or already parsed); errors are kept, not raised."""
    data = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return ToolRequest("?", {}, error=f"The tool call is not valid JSON: {raw[:120]!r}.")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return ToolRequest("?", {}, error=f"The tool call names no tool: {str(raw)[:120]!r}.")
    name: str = data["name"]
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models send the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return ToolRequest(name, {}, error=f"The arguments of '{name}' are not valid JSON.")
    if not isinstance(arguments, dict):
        return ToolRequest(name, {}, error=f"The arguments of '{name}' are not an object.")
    return ToolRequest(name, arguments)
