"""OpenAI-compatible chat model (vLLM, llama.cpp's llama-server, LM Studio, TGI, `model-server`) through the
official `openai` client, with an explicit base URL and timeout; retries with back-off on 429/503."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2  # the HTTP client of openai 3.x (a dependency of openai)
import openai
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from app.errors import AssistantError, CapabilityError, GenerationError, ModelNotFoundError, ModelUnavailableError
from app.llm import qwen_tools
from app.llm.ollama import is_remote_host
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, ToolReply, ToolRequest, Usage

_T = TypeVar("_T")
RETRY_ATTEMPTS = 4  # the first try and three retries, waiting 0.5, 1, 2 s (capped at 8 s) in between


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, openai.RateLimitError | openai.InternalServerError) and getattr(
        exc, "status_code", 0
    ) in (429, 503)


def unreachable_error(base_url: str) -> ModelUnavailableError:
    """The standard message for an OpenAI-compatible server that does not answer."""
    return ModelUnavailableError(
        f"The model server is not reachable at {base_url}.",
        "Start it (e.g. `python -m app model-server`), or check openai_base_url in Settings (it usually ends in /v1).",
    )


def _status_error(exc: openai.APIStatusError, base_url: str, model: str) -> AssistantError:
    """An HTTP error answer of the server, as a message with a hint."""
    code = exc.status_code
    if code == 401 or code == 403:
        return ModelUnavailableError(
            f"The model server at {base_url} refused the API key (HTTP {code}).",
            "Set the right key in ANALYST_OPENAI_API_KEY (or OPENAI_API_KEY) and restart.",
        )
    if code == 404:
        return ModelNotFoundError(
            f"The model server at {base_url} does not serve a model '{model}' (HTTP 404).",
            "Pick one of the server's models in Settings (openai_model), or check the URL ends in /v1.",
        )
    if code == 429:
        return GenerationError(
            f"The model server at {base_url} is rate-limiting requests (HTTP 429), still after "
            f"{RETRY_ATTEMPTS} tries.",
            "Wait a minute and try again, or ask the server's admin for a higher limit.",
        )
    if code == 503:
        return ModelUnavailableError(
            f"The model server at {base_url} is overloaded or still loading (HTTP 503), still after "
            f"{RETRY_ATTEMPTS} tries.",
            "Try again in a minute.",
        )
    return GenerationError(f"The model server answered with an error (HTTP {code}): {_detail(exc)}",
                           "Check the server's log; try again.")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:300]
    return str(exc.message)[:300]


@dataclass(frozen=True)
class OpenAIModelEntry:
    """One model the server lists under /v1/models, with its context window where it says."""

    name: str
    context_window: int = 0
    vision: bool = False


class OpenAIServer:
    """One OpenAI-compatible server: lists its models; owns the client (thread-safe, shared)."""

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 300.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        # Local servers take no key, but the client insists on one: a placeholder that is never a secret.
        self.without_tools: set[str] = set()  # models the server refused tool calling for
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout,
                                     max_retries=0)

    def client(self, timeout: float | None = None) -> openai.OpenAI:
        """The client, with a shorter timeout for probes."""
        return self._client if timeout is None else self._client.with_options(timeout=timeout)

    def call(self, model: str, fn: Callable[[], _T]) -> _T:
        """Run one request with retries on 429/503 and errors translated."""
        with translate_errors(self.base_url, model):
            return retry(
                retry=retry_if_exception(_retryable), stop=stop_after_attempt(RETRY_ATTEMPTS),
                wait=wait_exponential(multiplier=0.5, max=8), reraise=True,
            )(fn)()

    def list_models(self, timeout: float | None = None) -> list[OpenAIModelEntry]:
        """The server's models (/v1/models); raises ModelUnavailableError when unreachable."""
        client = self.client(timeout)
        page = self.call("", lambda: client.models.list())
        return [_entry(model.model_dump()) for model in page.data]


def _entry(data: dict[str, Any]) -> OpenAIModelEntry:
    """vLLM reports `max_model_len`; llama.cpp's server `meta.n_ctx_train` (and `n_ctx` in newer builds)."""
    meta = data.get("meta") or {}
    window = data.get("max_model_len") or data.get("context_length") or meta.get("n_ctx") or meta.get("n_ctx_train")
    modalities = (data.get("architecture") or {}).get("input_modalities") or data.get("input_modalities") or []
    return OpenAIModelEntry(str(data.get("id", "")), int(window) if isinstance(window, int | float) else 0,
                            "image" in modalities or bool(data.get("vision")))


@contextmanager
def translate_errors(base_url: str, model: str) -> Iterator[None]:
    """Turn the client's exceptions into errors that tell the user what to do."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise _status_error(exc, base_url, model) from exc
    except openai.APITimeoutError as exc:
        raise GenerationError(f"The model server at {base_url} did not answer in time.",
                              "The model may still be loading; try again or raise openai_timeout.") from exc
    except openai.APIConnectionError as exc:
        if isinstance(exc.__cause__, httpx2.ConnectError):
            raise unreachable_error(base_url) from exc
        raise GenerationError("The connection to the model server broke while answering.",
                              "The partial answer was kept; try again.") from exc
    except (httpx2.HTTPError, openai.APIError) as exc:  # a stream cut mid-answer surfaces here
        raise GenerationError(
            f"The connection to the model server broke while answering ({type(exc).__name__}).",
            "The partial answer was kept; try again.",
        ) from exc


def build_info(entry: OpenAIModelEntry | None, name: str, base_url: str, *, context_window: int,
               supports_images: bool, supports_tools: bool) -> ModelInfo:
    """What the app knows of a served model: the server's figures where it gives them, else the settings'."""
    return ModelInfo(
        backend="openai",
        name=name,
        supports_images=supports_images or bool(entry and entry.vision),
        supports_tools=supports_tools,
        plans_tools=supports_tools,  # served models are large enough to pick their own tools
        remote=is_remote_host(base_url),
        context_window=(entry.context_window if entry and entry.context_window else context_window),
        details={"base_url": base_url, "chat": True},
    )


class OpenAIChatModel:
    """One model on an OpenAI-compatible server; streams with usage and calls tools natively."""

    backend = "openai"

    def __init__(self, server: OpenAIServer, info: ModelInfo) -> None:
        self._server = server
        self._info = info

    @property
    def info(self) -> ModelInfo:
        """Name, backend and capabilities."""
        return self._info

    def _check_images(self, messages: Sequence[ChatMessage]) -> None:
        if any(m.images for m in messages) and not self._info.supports_images:
            raise CapabilityError(
                f"The model '{self._info.name}' cannot see images.",
                "Serve a vision model and pick it, or set openai_supports_images if the server takes images.",
            )

    def _request(self, messages: Sequence[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self._info.name, "messages": to_openai_messages(messages),
            "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        return request

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream the answer; the last chunk carries the usage; errors surface while iterating."""
        self._check_images(messages)
        return self._generate(self._request(messages, params))

    def _generate(self, request: dict[str, Any]) -> Iterator[Chunk]:
        client = self._server.client()
        body = {**request, "stream": True, "stream_options": {"include_usage": True}}
        # The client's own endpoint call with plain JSON both ways (`cast_to=object`): the typed
        # `chat.completions.create` converted the request and built pydantic objects for every streamed token,
        # about twice the CPU (6 ms instead of 3 for a 26-token answer here), taken under the GIL from every other
        # analyst's turn. Errors, retries and the stream are the client's as before.
        response = self._server.call(self._info.name, lambda: client.post(
            "/chat/completions", body=body, cast_to=object, stream=True, stream_cls=openai.Stream[object]))
        usage: dict[str, Any] = {}
        reason = ""
        with translate_errors(self._server.base_url, self._info.name), response:
            for part in response:
                if not isinstance(part, dict):
                    continue
                for choice in (part.get("choices") or [])[:1]:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield Chunk(text=str(text))
                    reason = choice.get("finish_reason") or reason
                usage = part.get("usage") or usage
        if not reason:
            raise GenerationError("The model server ended the answer before it was complete.",
                                  "The partial answer was kept; try again.")
        tokens = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        yield Chunk(usage=Usage(int(tokens[0] or 0), int(tokens[1] or 0), str(reason)))

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One non-streamed round with native `tools`; calls a model writes as text are read too."""
        if not self._info.supports_tools:
            raise CapabilityError(f"The model '{self._info.name}' cannot call tools.",
                                  "Set the tool mode to 'router' in Settings, or serve a model with tool calling.")
        self._check_images(messages)
        request = self._request(messages, params)
        client = self._server.client()
        try:
            response = self._server.call(self._info.name, lambda: client.chat.completions.create(
                **request, tools=[_tool_spec(t) for t in tools]))  # type: ignore[misc]
        except GenerationError as exc:
            if isinstance(exc.__cause__, openai.BadRequestError) and "tool" in str(exc.__cause__).lower():
                self._server.without_tools.add(self._info.name)  # the next model built for it plans by rules
                raise CapabilityError(f"The model server refused tool calling for '{self._info.name}'.",
                                      "Set the tool mode to 'router' in Settings (or start vLLM with "
                                      "--enable-auto-tool-choice).") from exc
            raise
        message = response.choices[0].message if response.choices else None
        content = (message.content if message else "") or ""
        calls = [
            _call_from_openai(call.function.name, call.function.arguments)
            for call in ((message.tool_calls if message else None) or []) if call.type == "function"
        ] or qwen_tools.parse_calls(content)
        used = response.usage
        usage = Usage(int(used.prompt_tokens or 0) if used else 0, int(used.completion_tokens or 0) if used else 0,
                      (response.choices[0].finish_reason if response.choices else "") or "")
        return ToolReply(content, tuple(calls), usage)


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    return tool if tool.get("type") == "function" else {"type": "function", "function": tool}


def _call_from_openai(name: str, arguments: str) -> ToolRequest:
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return ToolRequest(name, {}, f"the arguments are not valid JSON: {arguments[:200]}")
    return qwen_tools.request_from_json({"name": name, "arguments": parsed})


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation in the OpenAI format; each tool call gets its own id, and each tool result names the
    oldest unanswered call of its tool (the API pairs them by id)."""
    pending: dict[str, list[str]] = {}
    converted = []
    for number, message in enumerate(messages):
        data = _to_openai(message)
        for index, call in enumerate(data.get("tool_calls", [])):
            call["id"] = f"call_{number}_{index}"
            pending.setdefault(call["function"]["name"], []).append(call["id"])
        if message.role == "tool":
            waiting = pending.get(message.tool_name) or [f"call_{message.tool_name}"]
            data["tool_call_id"] = waiting.pop(0)
        converted.append(data)
    return converted


def _to_openai(message: ChatMessage) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        data["content"] = [{"type": "text", "text": message.content}] + [
            {"type": "image_url", "image_url": {"url": _data_url(img)}} for img in message.images
        ]
    if message.tool_calls:
        data["tool_calls"] = [
            {"id": "", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        data["name"] = message.tool_name
    return data


def _data_url(image: bytes) -> str:
    kind = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(image).decode('ascii')}"
