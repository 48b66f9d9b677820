"""The Ollama adapter against a local HTTP server speaking Ollama's API (no Ollama can be installed here)."""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from app.errors import CapabilityError, GenerationError, ModelNotFoundError, ModelUnavailableError
from app.llm.ollama import OllamaChatModel, OllamaServer, is_remote_host
from app.ports import ChatMessage, GenerationParams, ToolRequest

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is the capital of France?")]
PARAMS = GenerationParams(temperature=0.1, top_p=0.7, max_tokens=64, seed=3)


def _model(fake_ollama, name: str, num_ctx: int = 8192) -> OllamaChatModel:
    server = OllamaServer(fake_ollama.host, timeout=10)
    return OllamaChatModel(server, server.model_info(name), num_ctx)


def test_list_models(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b").add_model("nomic-embed-text:latest", ("embedding",), family="nomic-bert")
    entries = OllamaServer(fake_ollama.host).list_models()
    assert [e.name for e in entries] == ["qwen2.5:7b", "nomic-embed-text:latest"]
    assert entries[0].family == "qwen2" and entries[0].parameter_size == "7B" and len(entries[0].digest) == 64


def test_show_reports_vision_tools_and_context_length(fake_ollama):
    fake_ollama.add_model("gemma3:4b", ("completion", "vision"), context_length=131072, family="gemma3")
    fake_ollama.add_model("qwen2.5:7b", ("completion", "tools"), context_length=32768)
    server = OllamaServer(fake_ollama.host)

    gemma = server.model_info("gemma3:4b")
    assert (gemma.backend, gemma.name) == ("ollama", "gemma3:4b")
    assert gemma.supports_images and not gemma.supports_tools
    assert gemma.context_window == 131072
    assert gemma.details["chat"] is True and gemma.details["family"] == "gemma3"

    qwen = server.model_info("qwen2.5:7b")
    assert qwen.supports_tools and not qwen.supports_images
    assert qwen.context_window == 32768


def test_show_is_cached_per_digest(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    server = OllamaServer(fake_ollama.host)
    server.model_info("qwen2.5:7b", digest="abc")
    server.model_info("qwen2.5:7b", digest="abc")
    shows = [r for r, _ in fake_ollama.httpserver.log if r.path == "/api/show"]
    assert len(shows) == 1


def test_streamed_chat_text_and_usage(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    fake_ollama.reply("The capital ", "is ", "Paris.", prompt_eval_count=21)
    chunks = list(_model(fake_ollama, "qwen2.5:7b").stream(MESSAGES, PARAMS))

    assert "".join(c.text for c in chunks) == "The capital is Paris."
    usage = chunks[-1].usage
    assert (usage.tokens_in, usage.tokens_out, usage.finish_reason) == (21, 3, "stop")
    (request,) = fake_ollama.chat_requests()
    assert request["model"] == "qwen2.5:7b" and request["stream"] is True
    assert request["messages"] == [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "What is the capital of France?"}]
    assert request["options"]["temperature"] == 0.1
    assert request["options"]["top_p"] == 0.7
    assert request["options"]["num_predict"] == 64
    assert request["options"]["seed"] == 3


def test_num_ctx_is_always_sent(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b", context_length=32768)
    fake_ollama.reply("ok")
    model = _model(fake_ollama, "qwen2.5:7b", num_ctx=8192)
    list(model.stream(MESSAGES, PARAMS))
    assert fake_ollama.chat_requests()[0]["options"]["num_ctx"] == 8192
    assert model.info.context_window == 8192  # what the assistant budgets with


def test_num_ctx_is_capped_at_the_models_context_length(fake_ollama):
    fake_ollama.add_model("small:1b", context_length=4096)
    fake_ollama.reply("ok")
    model = _model(fake_ollama, "small:1b", num_ctx=65536)
    list(model.stream(MESSAGES, PARAMS))
    assert fake_ollama.chat_requests()[0]["options"]["num_ctx"] == 4096
    assert model.info.context_window == 4096


def test_a_full_context_is_reported_as_truncated(fake_ollama):
    fake_ollama.add_model("small:1b", context_length=4096)
    fake_ollama.reply("ok", prompt_eval_count=4096)
    chunks = list(_model(fake_ollama, "small:1b").stream(MESSAGES, PARAMS))
    assert chunks[-1].usage.finish_reason == "context_truncated"


def test_images_are_sent_base64_to_a_vision_model(fake_ollama):
    fake_ollama.add_model("gemma3:4b", ("completion", "vision"))
    fake_ollama.reply("A red square.")
    image = b"\x89PNG\r\n\x1a\n fake png bytes"
    messages = [ChatMessage("user", "What is in this image?", (image,))]
    text = "".join(c.text for c in _model(fake_ollama, "gemma3:4b").stream(messages, PARAMS))

    assert text == "A red square."
    sent = fake_ollama.chat_requests()[0]["messages"][0]
    assert sent["images"] == [base64.b64encode(image).decode()]


def test_an_image_to_a_model_without_vision_is_refused_before_sending(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    messages = [ChatMessage("user", "What is this?", (b"png",))]
    with pytest.raises(CapabilityError) as caught:
        list(_model(fake_ollama, "qwen2.5:7b").stream(messages, PARAMS))
    assert "qwen2.5:7b" in caught.value.message and "cannot see images" in caught.value.message
    assert "ollama pull" in caught.value.hint
    assert fake_ollama.chat_requests() == []


def test_refused_connection_says_start_ollama(closed_port):
    host = f"http://127.0.0.1:{closed_port}"
    server = OllamaServer(host, timeout=5)
    with pytest.raises(ModelUnavailableError) as listing:
        server.list_models()
    assert host in listing.value.message and "ollama serve" in listing.value.hint
    with pytest.raises(ModelUnavailableError, match="not reachable"):
        server.model_info("qwen2.5:7b")


def test_refused_connection_while_chatting(fake_ollama, closed_port):
    fake_ollama.add_model("qwen2.5:7b")
    info = OllamaServer(fake_ollama.host).model_info("qwen2.5:7b")
    # Described while it ran, then the server went away.
    model = OllamaChatModel(OllamaServer(f"http://127.0.0.1:{closed_port}", timeout=5), info, 8192)
    with pytest.raises(ModelUnavailableError) as caught:
        list(model.stream(MESSAGES, PARAMS))
    assert "ollama serve" in caught.value.hint


def test_show_of_a_model_not_pulled_names_the_pull_command(fake_ollama):
    with pytest.raises(ModelNotFoundError) as caught:
        OllamaServer(fake_ollama.host).model_info("llama3:8b")
    assert "llama3:8b" in caught.value.message
    assert "ollama pull llama3:8b" in caught.value.hint


def test_chat_with_a_model_removed_meanwhile_names_the_pull_command(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    model = _model(fake_ollama, "qwen2.5:7b")
    del fake_ollama.models["qwen2.5:7b"]  # `ollama rm` while the app was running
    with pytest.raises(ModelNotFoundError) as caught:
        list(model.stream(MESSAGES, PARAMS))
    assert "ollama pull qwen2.5:7b" in caught.value.hint


def test_an_error_object_mid_stream_is_a_generation_error_after_the_partial_text(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    fake_ollama.reply("The capital ", "is ", error="model runner has unexpectedly stopped")
    received = []
    with pytest.raises(GenerationError) as caught:
        for chunk in _model(fake_ollama, "qwen2.5:7b").stream(MESSAGES, PARAMS):
            received.append(chunk.text)
    assert received == ["The capital ", "is "]
    assert "unexpectedly stopped" in caught.value.message


def test_a_server_error_status_is_a_generation_error(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    fake_ollama.reply(error="out of memory", status=500)
    with pytest.raises(GenerationError, match="out of memory"):
        list(_model(fake_ollama, "qwen2.5:7b").stream(MESSAGES, PARAMS))


class _DroppingServer:
    """A raw socket server that starts a chunked NDJSON answer and drops the connection halfway."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.host = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            while len(body) < length:
                body += conn.recv(65536)
            line = json.dumps({"model": "m", "created_at": "2025-01-01T00:00:00Z",
                               "message": {"role": "assistant", "content": "The capital "}, "done": False}) + "\n"
            chunk = line.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                         + b"40\r\n{\"model\": \"m\", \"mess")  # half a chunk, then the connection drops
        self.sock.close()


def test_a_connection_dropped_mid_stream_is_a_generation_error_after_the_partial_text(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b")
    info = OllamaServer(fake_ollama.host).model_info("qwen2.5:7b")
    dropping = _DroppingServer()
    model = OllamaChatModel(OllamaServer(dropping.host, timeout=10), info, 8192)
    received = []
    with pytest.raises(GenerationError) as caught:
        for chunk in model.stream(MESSAGES, PARAMS):
            received.append(chunk.text)
    dropping.thread.join(timeout=10)
    assert received == ["The capital "]
    assert "broke" in caught.value.message
    assert "partial answer" in caught.value.hint


# Tool calling through the chat API's `tools` ----------------------------------------------------------------

TOOLS = [{"type": "function", "function": {"name": "run_sql", "description": "SQL over the user's tables",
                                           "parameters": {"type": "object", "properties": {}}}}]


def test_a_tool_round_sends_calls_and_results_in_ollamas_format(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b", ("completion", "tools"))
    fake_ollama.reply_tool_calls({"name": "run_sql", "arguments": {"question": "total"}})
    model = _model(fake_ollama, "qwen2.5:7b")
    call = ToolRequest("run_sql", {"question": "earlier"})
    history = [*MESSAGES, ChatMessage("assistant", "", tool_calls=(call,)),
               ChatMessage("tool", "42 rows", tool_name="run_sql")]

    reply = model.call_tools(history, TOOLS, PARAMS)

    assert reply.calls == (ToolRequest("run_sql", {"question": "total"}),)
    assert (reply.usage.tokens_in, reply.usage.tokens_out) == (12, 5)
    (sent,) = fake_ollama.chat_requests()
    assert sent["stream"] is False and sent["tools"] == TOOLS
    earlier = {"function": {"name": "run_sql", "arguments": {"question": "earlier"}}}
    assert sent["messages"][2]["tool_calls"] == [earlier]
    assert (sent["messages"][3]["role"], sent["messages"][3]["tool_name"]) == ("tool", "run_sql")


def test_a_model_without_tool_support_refuses_a_tool_round_before_sending(fake_ollama):
    fake_ollama.add_model("gemma3:4b", ("completion", "vision"))
    with pytest.raises(CapabilityError) as caught:
        _model(fake_ollama, "gemma3:4b").call_tools(MESSAGES, TOOLS, PARAMS)
    assert "cannot call tools" in caught.value.message
    assert fake_ollama.chat_requests() == []


def test_models_declare_whether_they_plan_tools_and_run_on_another_machine(fake_ollama):
    fake_ollama.add_model("qwen2.5:7b", ("completion", "tools")).add_model("gemma3:4b", ("completion", "vision"))
    server = OllamaServer(fake_ollama.host)
    qwen, gemma = server.model_info("qwen2.5:7b"), server.model_info("gemma3:4b")
    assert qwen.supports_tools and qwen.plans_tools and not gemma.plans_tools
    assert not qwen.remote  # the test server listens on 127.0.0.1
    assert is_remote_host("http://10.0.0.5:11434") and is_remote_host("http://gpu-box.example:11434")
    assert not any(is_remote_host(h) for h in ("http://localhost:11434", "http://127.0.0.1:11434", "http://[::1]:11434"))
