"""The OpenAI-compatible adapter: against the real `model-server` (packaged 0.5B) for streaming, usage and a tool
call, and against a local HTTP server speaking the OpenAI API (pytest-httpserver) for every fault."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from app.errors import CapabilityError, ConfigError, GenerationError, ModelNotFoundError, ModelUnavailableError
from app.llm.openai_compat import OpenAIChatModel, OpenAIServer, build_info
from app.llm.selector import ModelRouter, parse_model_spec
from app.ports import ChatMessage, GenerationParams, ToolRequest
from app.settings import EDITABLE_FIELDS, load_settings, save_settings
from tests.fixtures.model_server import running_model_server
from tests.fixtures.models import TEST_EMBEDDED_MODEL

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is the capital of France?")]
PARAMS = GenerationParams(temperature=0.0, top_p=0.9, max_tokens=24, seed=3)
WEATHER_TOOL = {
    "name": "get_weather", "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# --- the real server -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_server(models_dir: Path, packaged_model_path: Path, tmp_path_factory) -> Iterator[str]:
    with running_model_server(models_dir, tmp_path_factory.mktemp("model-server")) as url:
        yield url


def _real_model(url: str) -> OpenAIChatModel:
    server = OpenAIServer(url, timeout=120)
    (entry,) = server.list_models()
    return OpenAIChatModel(server, build_info(entry, entry.name, url, context_window=4096,
                                              supports_images=False, supports_tools=True))


def test_real_server_lists_the_model_with_its_context_window(model_server):
    (entry,) = OpenAIServer(model_server).list_models()
    assert entry.name == TEST_EMBEDDED_MODEL
    assert entry.context_window == 2048  # llama.cpp reports the context it serves (meta.n_ctx), not the 4096 setting
    info = _real_model(model_server).info
    assert (info.backend, info.remote, info.supports_tools, info.context_window) == ("openai", False, True, 2048)


def test_real_server_streams_an_answer_with_usage(model_server):
    chunks = list(_real_model(model_server).stream(MESSAGES, PARAMS))
    text = "".join(c.text for c in chunks)
    assert "Paris" in text
    usage = chunks[-1].usage
    assert usage is not None and usage.tokens_in > 10 and 0 < usage.tokens_out <= PARAMS.max_tokens
    assert usage.finish_reason in ("stop", "length")


def test_real_server_calls_a_tool(model_server):
    messages = [ChatMessage("user", "What is the weather in Paris? Use the get_weather tool.")]
    reply = _real_model(model_server).call_tools(messages, [WEATHER_TOOL], GenerationParams(0.0, 0.9, 64, 3))
    assert [(c.name, c.arguments.get("city"), c.error) for c in reply.calls] == [("get_weather", "Paris", "")]
    assert reply.usage.tokens_in > 0
    # The result goes back as a tool message paired with the call; the server accepts the conversation.
    history = [*messages, ChatMessage("assistant", reply.content, tool_calls=reply.calls),
               ChatMessage("tool", "Sunny, 24 °C", tool_name="get_weather")]
    chunks = list(_real_model(model_server).stream(history, GenerationParams(0.0, 0.9, 32, 3)))
    assert "".join(c.text for c in chunks).strip()  # what the 0.5B writes then varies; the server took the turn
    assert chunks[-1].usage is not None and chunks[-1].usage.tokens_in > 0


# --- a fake OpenAI server for the faults ------------------------------------------------------------------------

class FakeOpenAI:
    """/v1/models and /v1/chat/completions with scripted answers (status, SSE body), oldest first."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.url = httpserver.url_for("/v1").rstrip("/")
        self.replies: list[Response] = []
        self.requests: list[dict[str, Any]] = []
        self.models: list[dict[str, Any]] = [{"id": "big-model", "object": "model", "created": 0, "owned_by": "x",
                                              "max_model_len": 32768}]
        httpserver.expect_request("/v1/models").respond_with_handler(
            lambda _r: Response(json.dumps({"object": "list", "data": self.models}), content_type="application/json"))
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._chat)

    def _chat(self, request: Request) -> Response:
        self.requests.append(json.loads(request.data))
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def error(self, status: int, message: str) -> FakeOpenAI:
        self.replies.append(Response(json.dumps({"error": {"message": message, "code": status}}), status=status,
                                     content_type="application/json"))
        return self

    def stream(self, *texts: str, finish: bool = True) -> FakeOpenAI:
        events = [{"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in texts]
        if finish:
            events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            events.append({"choices": [], "usage": {"prompt_tokens": 17, "completion_tokens": len(texts),
                                                    "total_tokens": 17 + len(texts)}})
        head = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "big-model"}
        body = "".join("data: " + json.dumps({**head, **e}) + "\n\n" for e in events)
        body += "data: [DONE]\n\n" if finish else ""
        self.replies.append(Response(body, content_type="text/event-stream"))
        return self

    def tools_answer(self, name: str, arguments: str) -> FakeOpenAI:
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}
        self.replies.append(Response(json.dumps({
            "id": "c", "object": "chat.completion", "created": 0, "model": "big-model",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}}),
            content_type="application/json"))
        return self


@pytest.fixture()
def fake_openai(httpserver: HTTPServer) -> FakeOpenAI:
    return FakeOpenAI(httpserver)


def _model(url: str, *, images: bool = False, tools: bool = True, key: str = "") -> OpenAIChatModel:
    return OpenAIChatModel(OpenAIServer(url, api_key=key, timeout=10),
                           build_info(None, "big-model", url, context_window=8192, supports_images=images,
                                      supports_tools=tools))


def test_stream_sends_usage_request_and_reads_usage(fake_openai):
    fake_openai.stream("The capital ", "is ", "Paris.")
    chunks = list(_model(fake_openai.url).stream(MESSAGES, PARAMS))
    assert "".join(c.text for c in chunks) == "The capital is Paris."
    usage = chunks[-1].usage
    assert (usage.tokens_in, usage.tokens_out, usage.finish_reason) == (17, 3, "stop")
    (request,) = fake_openai.requests
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert (request["model"], request["max_tokens"], request["seed"]) == ("big-model", 24, 3)


def test_refused_connection_says_the_server_is_not_reachable(closed_port):
    with pytest.raises(ModelUnavailableError) as caught:
        list(_model(f"http://127.0.0.1:{closed_port}/v1").stream(MESSAGES, PARAMS))
    assert "not reachable" in caught.value.message and "model-server" in caught.value.hint


def test_wrong_key_401_names_the_key_setting_and_never_the_key(fake_openai):
    fake_openai.error(401, "Incorrect API key provided")
    with pytest.raises(ModelUnavailableError) as caught:
        list(_model(fake_openai.url, key="sk-secret-123").stream(MESSAGES, PARAMS))
    assert "API key" in caught.value.message and "ANALYST_OPENAI_API_KEY" in caught.value.hint
    assert "sk-secret-123" not in str(caught.value)
    assert len(fake_openai.requests) == 1  # not retried


def test_unknown_model_404(fake_openai):
    fake_openai.error(404, "The model `big-model` does not exist.")
    with pytest.raises(ModelNotFoundError) as caught:
        list(_model(fake_openai.url).stream(MESSAGES, PARAMS))
    assert "'big-model'" in caught.value.message and caught.value.hint


def test_rate_limit_429_is_retried_then_answers(fake_openai):
    fake_openai.error(429, "Rate limit reached").stream("Paris.")
    chunks = list(_model(fake_openai.url).stream(MESSAGES, PARAMS))
    assert "".join(c.text for c in chunks) == "Paris."
    assert len(fake_openai.requests) == 2


def test_rate_limit_429_that_lasts_gives_up_with_a_message(fake_openai):
    fake_openai.error(429, "Rate limit reached")
    with pytest.raises(GenerationError) as caught:
        list(_model(fake_openai.url).stream(MESSAGES, PARAMS))
    assert "rate-limiting" in caught.value.message and caught.value.hint
    assert len(fake_openai.requests) == 4


def test_overloaded_503_is_retried_then_reported(fake_openai):
    fake_openai.error(503, "Loading model")
    with pytest.raises(ModelUnavailableError) as caught:
        list(_model(fake_openai.url).stream(MESSAGES, PARAMS))
    assert "503" in caught.value.message and caught.value.hint
    assert len(fake_openai.requests) == 4


def test_stream_ended_before_the_answer_finished_keeps_the_text_and_raises(fake_openai):
    fake_openai.stream("The capital ", "is ", finish=False)
    seen: list[str] = []
    with pytest.raises(GenerationError) as caught:
        for chunk in _model(fake_openai.url).stream(MESSAGES, PARAMS):
            seen.append(chunk.text)
    assert "".join(seen) == "The capital is "
    assert "partial answer was kept" in caught.value.hint


def _cutting_server() -> tuple[socket.socket, threading.Thread]:
    """A raw HTTP server that starts a chunked SSE answer and then closes the connection mid-body."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            event = "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0,
                                           "model": "big-model", "choices": [{"index": 0, "delta": {
                                               "content": "The capital "}, "finish_reason": None}]}) + "\n\n"
            data = event.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + f"{len(data):x}\r\n".encode() + data + b"\r\n")
            conn.shutdown(socket.SHUT_RDWR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_connection_cut_mid_answer_keeps_the_text_and_raises():
    listener, thread = _cutting_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    seen: list[str] = []
    try:
        with pytest.raises(GenerationError) as caught:
            for chunk in _model(url).stream(MESSAGES, PARAMS):
                seen.append(chunk.text)
    finally:
        thread.join(timeout=10)
        listener.close()
    assert "".join(seen) == "The capital "
    assert "broke while answering" in caught.value.message and "partial answer was kept" in caught.value.hint


def test_native_tool_call_is_read(fake_openai):
    fake_openai.tools_answer("get_weather", '{"city": "Paris"}')
    reply = _model(fake_openai.url).call_tools(MESSAGES, [WEATHER_TOOL], PARAMS)
    assert [(c.name, c.arguments) for c in reply.calls] == [("get_weather", {"city": "Paris"})]
    assert (reply.usage.tokens_in, reply.usage.tokens_out) == (30, 9)
    assert fake_openai.requests[0]["tools"] == [{"type": "function", "function": WEATHER_TOOL}]


def test_server_without_tools_is_a_capability_error(fake_openai):
    fake_openai.error(400, "tools param requires --jinja flag")
    with pytest.raises(CapabilityError) as caught:
        _model(fake_openai.url).call_tools(MESSAGES, [WEATHER_TOOL], PARAMS)
    assert "router" in caught.value.hint


def test_images_to_a_model_without_vision_are_refused_before_sending(fake_openai):
    fake_openai.stream("x")
    with pytest.raises(CapabilityError):
        _model(fake_openai.url).stream([ChatMessage("user", "What is this?", images=(b"\x89PNG....",))], PARAMS)
    assert fake_openai.requests == []


def test_images_go_as_image_url_parts_to_a_vision_model(fake_openai):
    fake_openai.stream("A chart.")
    list(_model(fake_openai.url, images=True).stream([ChatMessage("user", "What?", images=(b"\x89PNG..",))], PARAMS))
    content = fake_openai.requests[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "What?"}
    assert content[1]["type"] == "image_url" and content[1]["image_url"]["url"].startswith("data:image/png;base64,")


# --- settings and the selector ----------------------------------------------------------------------------------

def test_parse_model_spec_reads_openai_names():
    spec = parse_model_spec("openai:meta-llama/Llama-3.1-8B-Instruct")
    assert spec is not None and (spec.backend, spec.name) == ("openai", "meta-llama/Llama-3.1-8B-Instruct")
    assert spec.overrides() == {"backend": "openai", "openai_model": "meta-llama/Llama-3.1-8B-Instruct"}


def test_auto_means_the_openai_server_when_a_url_is_set(fake_openai, settings_factory):
    router = ModelRouter(settings_factory(openai_base_url=fake_openai.url))
    choice = router.choose()
    assert (choice.backend, choice.model) == ("openai", "big-model")
    model = router.get_model()
    assert model.info.context_window == 32768  # vLLM's max_model_len wins over the setting
    assert router.openai_status().models == ["big-model"]
    assert ModelRouter(settings_factory()).choose().backend == "embedded"  # no URL: auto keeps its meaning


def test_context_window_setting_when_the_server_does_not_say(fake_openai, settings_factory):
    fake_openai.models = [{"id": "big-model", "object": "model", "created": 0, "owned_by": "x"}]
    router = ModelRouter(settings_factory(backend="openai", openai_base_url=fake_openai.url,
                                          openai_context_window=16384))
    assert router.get_model().info.context_window == 16384


def test_openai_backend_without_url_is_a_config_error(settings_factory):
    with pytest.raises(ConfigError):
        ModelRouter(settings_factory(backend="openai")).get_model()


def test_api_key_comes_from_the_environment_and_is_never_saved(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    settings = load_settings(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys")
    assert settings.openai_api_key.get_secret_value() == "sk-from-env"
    assert "openai_api_key" not in EDITABLE_FIELDS
    saved = save_settings(settings, {"openai_model": "m"})
    assert saved.openai_api_key.get_secret_value() == "sk-from-env"
    text = (tmp_path / "data" / "settings.json").read_text()
    assert "sk-from-env" not in text and "openai_api_key" not in text
    assert "sk-from-env" not in repr(settings) and "sk-from-env" not in settings.model_dump_json()


def test_two_calls_of_one_tool_get_distinct_ids_that_their_results_name(fake_openai):
    fake_openai.stream("Both are sunny.")
    calls = (ToolRequest("get_weather", {"city": "Paris"}), ToolRequest("get_weather", {"city": "Rome"}))
    history = [ChatMessage("user", "Weather in Paris and Rome?"), ChatMessage("assistant", "", tool_calls=calls),
               ChatMessage("tool", "sunny", tool_name="get_weather"),
               ChatMessage("tool", "sunny too", tool_name="get_weather")]
    list(_model(fake_openai.url).stream(history, PARAMS))
    sent = fake_openai.requests[0]["messages"]
    ids = [call["id"] for call in sent[1]["tool_calls"]]
    assert len(set(ids)) == 2
    assert [sent[2]["tool_call_id"], sent[3]["tool_call_id"]] == ids


def test_a_server_that_refused_tools_is_remembered_so_the_router_picks_tools_next_time(fake_openai, settings_factory):
    fake_openai.error(400, "tools param requires --jinja flag")
    router = ModelRouter(settings_factory(backend="openai", openai_base_url=fake_openai.url))
    model = router.get_model()
    assert model.info.supports_tools
    with pytest.raises(CapabilityError):
        model.call_tools(MESSAGES, [WEATHER_TOOL], PARAMS)
    again = router.get_model().info
    assert not again.supports_tools and not again.plans_tools
