"""Shared fixtures: a clean environment, settings on temp dirs, a scripted chat model, the real small model.

Kept generic on purpose: tests in every layer may use these, or only `tmp_path`.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.llm import qwen_tools
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, ToolReply, Usage

# The packaged model the tests run for real: small enough to load in seconds, good enough to know Paris.
TEST_EMBEDDED_MODEL = "qwen2.5-coder-0.5b"
TEST_EMBEDDED_CTX = 2048
TEST_MAX_TOKENS = 32


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's ANALYST_* / OLLAMA_HOST variables never leak into a test."""
    for name in list(os.environ):
        if name.startswith("ANALYST_") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One models folder for the whole session, so a packaged model is assembled at most once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def packaged_model_path(models_dir: Path) -> Path:
    """The real qwen2.5-coder-0.5b GGUF, assembled from its part wheels and verified (once per session)."""
    from app.llm.model_files import ensure_model_file, is_installed

    if not is_installed(TEST_EMBEDDED_MODEL):
        pytest.skip(f"the packaged {TEST_EMBEDDED_MODEL} model is not installed (pip install -r requirements.txt)")
    return ensure_model_file(TEST_EMBEDDED_MODEL, models_dir)


@pytest.fixture()
def settings_factory(tmp_path: Path, models_dir: Path):
    """Build `Settings` on a temp data dir and the session's models dir; keyword arguments override fields."""
    from app.settings import Settings

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "models_dir": models_dir, "user": "tester"}
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture()
def embedded_settings(settings_factory, packaged_model_path: Path):
    """Settings for the real embedded 0.5B model; the same values everywhere keep one loaded copy in memory."""
    return settings_factory(
        backend="embedded",
        embedded_model=TEST_EMBEDDED_MODEL,
        embedded_ctx=TEST_EMBEDDED_CTX,
        max_tokens=TEST_MAX_TOKENS,
        temperature=0.0,
        seed=42,
    )


@dataclass
class ScriptedReply:
    """One scripted answer: its chunks, an optional error raised after `fail_after` chunks, and the usage."""

    chunks: list[str]
    error: BaseException | None = None
    fail_after: int | None = None
    usage: Usage | None = None


@dataclass
class FakeChatModel:
    """A deterministic ChatModel: replays queued replies and records what it was sent."""

    model_info: ModelInfo = field(
        # Can call tools (Qwen's text format, like the embedded adapter) but does not advertise it by default.
        default_factory=lambda: ModelInfo(backend="fake", name="fake-model", supports_tools=False, remote=False,
                                          context_window=8192, digest="f" * 64)
    )
    replies: list[ScriptedReply] = field(default_factory=list)
    sent: list[list[ChatMessage]] = field(default_factory=list)
    params: list[GenerationParams] = field(default_factory=list)
    closed: int = 0  # streams closed before their end (the stop button)

    @property
    def info(self) -> ModelInfo:
        """Name, backend and capabilities."""
        return self.model_info

    def queue(
        self,
        *chunks: str,
        error: BaseException | None = None,
        fail_after: int | None = None,
        usage: Usage | None = None,
    ) -> FakeChatModel:
        """Queue one reply made of `chunks`; with `error`, raise it after `fail_after` chunks (default: all)."""
        self.replies.append(ScriptedReply(list(chunks), error, fail_after, usage))
        return self

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Record the request, then stream the next queued reply."""
        self.sent.append(list(messages))
        self.params.append(params)
        if not self.replies:
            raise AssertionError("FakeChatModel was asked for more replies than were queued")
        return self._play(self.replies.pop(0), messages)

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One tool round in Qwen's text format over the scripted replies (what the embedded adapter does)."""
        return qwen_tools.call_tools(self.stream, messages, tools, params)

    def _play(self, reply: ScriptedReply, messages: Sequence[ChatMessage]) -> Iterator[Chunk]:
        finished = False
        try:
            for index, text in enumerate(reply.chunks):
                if reply.error is not None and reply.fail_after == index:
                    raise reply.error
                yield Chunk(text=text)
            if reply.error is not None:
                raise reply.error
            tokens_in = sum(len(m.content.split()) for m in messages)
            yield Chunk(usage=reply.usage or Usage(tokens_in, len(reply.chunks), "stop"))
            finished = True
        finally:
            if not finished and reply.error is None:
                self.closed += 1


@pytest.fixture()
def fake_model() -> FakeChatModel:
    """A scripted chat model (queue replies with `fake_model.queue("Hel", "lo")`)."""
    return FakeChatModel()


class FakeOllama:
    """A local HTTP server speaking enough of Ollama's API: /api/tags, /api/show, /api/chat (NDJSON, or JSON
    tool calls when not streamed)."""

    def __init__(self, httpserver) -> None:
        self.httpserver = httpserver
        self.host = httpserver.url_for("/").rstrip("/")
        self.models: dict[str, dict[str, Any]] = {}
        self._chat_lines: list[dict[str, Any]] = []
        self._chat_status = 200
        self._tool_replies: list[dict[str, Any]] = []  # non-streamed /api/chat answers, oldest first
        httpserver.expect_request("/api/tags", method="GET").respond_with_handler(self._tags)
        httpserver.expect_request("/api/show", method="POST").respond_with_handler(self._show)
        httpserver.expect_request("/api/chat", method="POST").respond_with_handler(self._chat)

    def add_model(
        self, name: str, capabilities: Sequence[str] = ("completion",), context_length: int = 32768,
        family: str = "qwen2",
    ) -> FakeOllama:
        """Pretend `name` is pulled, with these capabilities and context length."""
        self.models[name] = {"capabilities": list(capabilities), "context_length": context_length, "family": family}
        return self

    def reply(self, *texts: str, error: str | None = None, status: int = 200, prompt_eval_count: int = 12) -> None:
        """Script the next /api/chat answers: one NDJSON line per text, then `done` (or an error object)."""
        lines: list[dict[str, Any]] = [
            {"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": t},
             "done": False}
            for t in texts
        ]
        if error is not None:
            lines.append({"error": error})
        else:
            lines.append({"model": "m", "created_at": "2025-01-01T00:00:00Z",
                          "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                          "prompt_eval_count": prompt_eval_count, "eval_count": len(texts)})
        self._chat_lines, self._chat_status = lines, status

    def reply_tool_calls(self, *calls: dict[str, Any], content: str = "", prompt_eval_count: int = 12) -> FakeOllama:
        """Queue one non-streamed /api/chat answer (`"stream": false`, as with `tools`) asking for these calls.

        Each call is `{"name": ..., "arguments": {...}}`; with no calls the answer is just `content` (e.g. "DONE").
        Queued answers are used in order; streamed requests still get the `reply(...)` script.
        """
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = [{"function": {"name": c["name"], "arguments": c.get("arguments", {})}}
                                     for c in calls]
        self._tool_replies.append({"model": "m", "created_at": "2025-01-01T00:00:00Z", "message": message,
                                   "done": True, "done_reason": "stop", "prompt_eval_count": prompt_eval_count,
                                   "eval_count": 5})
        return self

    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of every /api/chat request received."""
        return [req.get_json() for req, _ in self.httpserver.log if req.path == "/api/chat"]

    def _json(self, payload: Any, status: int = 200):
        from werkzeug import Response

        return Response(json.dumps(payload), status=status, content_type="application/json")

    def _tags(self, request):
        models = [
            {"name": name, "model": name, "modified_at": "2025-01-01T00:00:00Z", "size": 1000 + i,
             "digest": hashlib.sha256(name.encode()).hexdigest(),
             "details": {"family": spec["family"], "parameter_size": "7B", "quantization_level": "Q4_K_M"}}
            for i, (name, spec) in enumerate(self.models.items())
        ]
        return self._json({"models": models})

    def _show(self, request):
        name = (request.get_json() or {}).get("model", "")
        spec = self.models.get(name) or self.models.get(name.removesuffix(":latest"))
        if spec is None:
            return self._json({"error": f"model '{name}' not found"}, status=404)
        return self._json({
            "modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
            "details": {"family": spec["family"], "parameter_size": "7B", "quantization_level": "Q4_K_M"},
            "model_info": {"general.architecture": spec["family"],
                           f"{spec['family']}.context_length": spec["context_length"]},
            "capabilities": spec["capabilities"],
        })

    def _chat(self, request):
        from werkzeug import Response

        name = (request.get_json() or {}).get("model", "")
        if name not in self.models and name.removesuffix(":latest") not in self.models:
            return self._json({"error": f"model '{name}' not found"}, status=404)
        if self._chat_status != 200:
            return self._json({"error": self._chat_lines[-1].get("error", "failed")}, status=self._chat_status)
        if (request.get_json() or {}).get("stream") is False and self._tool_replies:
            return self._json(self._tool_replies.pop(0))
        body = "".join(json.dumps(line) + "\n" for line in self._chat_lines)
        return Response(body, content_type="application/x-ndjson")


@pytest.fixture()
def fake_ollama(httpserver) -> FakeOllama:
    """An Ollama look-alike on a local port (pytest-httpserver); add models and script replies."""
    return FakeOllama(httpserver)


@pytest.fixture()
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
