"""Ollama chat model: the user's own Ollama server through the official client."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import ollama

from app.errors import (
    CapabilityError,
    GenerationError,
    ModelNotFoundError,
    ModelUnavailableError,
)
from app.llm import qwen_tools
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, ToolReply, ToolRequest, Usage

SUGGESTED_CHAT_MODEL = "qwen2.5:7b"
SUGGESTED_VISION_MODEL = "gemma3:4b"
_LOCAL_HOSTS = {"localhost", "::1", "0.0.0.0"}


def is_remote_host(host: str) -> bool:
    """True when an Ollama host URL points at another machine (prompts sent there leave this one)."""
    name = (urlparse(host).hostname or "").lower()
    return not (name in _LOCAL_HOSTS or name.startswith("127."))


def unreachable_error(host: str) -> ModelUnavailableError:
    """The standard message for an Ollama server that does not answer."""
    return ModelUnavailableError(
        f"Ollama is not reachable at {host}.",
        "Start it with `ollama serve`, check the host in Settings, or switch to the embedded model.",
    )


@dataclass(frozen=True)
class OllamaModelEntry:
    """A model the user has pulled."""

    name: str
    digest: str
    size: int
    family: str
    parameter_size: str


class OllamaServer:
    """Talks to one Ollama host: lists models, reads capabilities (cached by digest)."""

    def __init__(self, host: str, timeout: float = 300.0) -> None:
        self.host = host
        self.timeout = timeout
        self._client = ollama.Client(host=host, timeout=timeout)
        self._show_cache: dict[tuple[str, str], ModelInfo] = {}
        self._lock = threading.Lock()

    def client(self) -> ollama.Client:
        """The underlying client (for streaming)."""
        return self._client

    def list_models(self, timeout: float | None = None) -> list[OllamaModelEntry]:
        """Models pulled on the server; raises ModelUnavailableError when unreachable."""
        client = self._client if timeout is None else ollama.Client(host=self.host, timeout=timeout)
        try:
            listed = client.list()
        except (ConnectionError, httpx.HTTPError) as exc:
            raise unreachable_error(self.host) from exc
        except ollama.ResponseError as exc:
            raise ModelUnavailableError(f"Ollama at {self.host} answered with an error: {exc.error}") from exc
        entries = []
        for model in listed.models:
            details = model.details
            entries.append(
                OllamaModelEntry(
                    name=model.model or "",
                    digest=model.digest or "",
                    size=int(model.size or 0),
                    family=(details.family if details else "") or "",
                    parameter_size=(details.parameter_size if details else "") or "",
                )
            )
        return entries

    def model_info(self, name: str, digest: str = "", timeout: float | None = None) -> ModelInfo:
        """Capabilities and context length of `name` from `ollama show` (cached per digest)."""
        with self._lock:
            cached = self._show_cache.get((name, digest))
        if cached is not None and digest:
            return cached
        client = self._client if timeout is None else ollama.Client(host=self.host, timeout=timeout)
        try:
            shown = client.show(name)
        except (ConnectionError, httpx.HTTPError) as exc:
            raise unreachable_error(self.host) from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise model_not_pulled(name) from exc
            raise ModelUnavailableError(f"Ollama could not describe '{name}': {exc.error}") from exc
        capabilities = set(shown.capabilities or [])
        info = ModelInfo(
            backend="ollama",
            name=name,
            supports_images="vision" in capabilities,
            supports_tools="tools" in capabilities,
            plans_tools="tools" in capabilities,  # served models are large enough to pick their own tools
            remote=is_remote_host(self.host),
            context_window=_context_length(shown.modelinfo or {}),
            digest=digest,
            details={
                "capabilities": sorted(capabilities),
                "family": shown.details.family if shown.details else "",
                "parameter_size": shown.details.parameter_size if shown.details else "",
                "chat": "completion" in capabilities or not capabilities,
            },
        )
        with self._lock:
            self._show_cache[(name, digest)] = info
        return info


def model_not_pulled(name: str) -> ModelNotFoundError:
    """The standard message for a model the user has not pulled."""
    return ModelNotFoundError(f"The Ollama model '{name}' is not pulled.", f"Run `ollama pull {name}`.")


def _context_length(model_info: Mapping[str, Any]) -> int:
    for key, value in model_info.items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return 2048  # Ollama's own fallback when a model does not say


class OllamaChatModel:
    """One Ollama model; streams answers and sends images when the model has vision."""

    backend = "ollama"

    def __init__(self, server: OllamaServer, info: ModelInfo, num_ctx: int) -> None:
        self._server = server
        self._info = info
        # Ollama silently truncates prompts at its default num_ctx; always send one,
        # never above what the model was trained for.
        self._num_ctx = max(512, min(num_ctx, info.context_window))
        self._info = ModelInfo(**{**info.__dict__, "context_window": self._num_ctx})

    @property
    def info(self) -> ModelInfo:
        """Name, backend and capabilities (context_window is the num_ctx actually requested)."""
        return self._info

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream an answer from Ollama; errors surface while iterating."""
        if any(m.images for m in messages) and not self._info.supports_images:
            raise CapabilityError(
                f"The model '{self._info.name}' cannot see images.",
                f"Pull a vision model (`ollama pull {SUGGESTED_VISION_MODEL}`) and pick it in Settings.",
            )
        payload = [_to_ollama(m) for m in messages]
        options: dict[str, Any] = {
            "num_ctx": self._num_ctx,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "num_predict": params.max_tokens,
        }
        if params.seed is not None:
            options["seed"] = params.seed
        return self._generate(payload, options)

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One non-streamed round with Ollama's native `tools`; calls a model writes as text are read too."""
        if not self._info.supports_tools:
            raise CapabilityError(
                f"The model '{self._info.name}' cannot call tools.",
                "Pick a model with tool support, or set the tool mode to 'router' in Settings.",
            )
        options: dict[str, Any] = {
            "num_ctx": self._num_ctx, "temperature": params.temperature, "num_predict": params.max_tokens,
        }
        if params.seed is not None:
            options["seed"] = params.seed
        with self._errors():
            response = self._server.client().chat(
                model=self._info.name, messages=[_to_ollama(m) for m in messages], tools=list(tools),
                stream=False, options=options,
            )
        message = response.message
        content = message.content or ""
        calls = [
            qwen_tools.request_from_json({"name": call.function.name, "arguments": dict(call.function.arguments or {})})
            for call in (message.tool_calls or [])
        ] or qwen_tools.parse_calls(content)
        usage = Usage(int(response.prompt_eval_count or 0), int(response.eval_count or 0), response.done_reason or "")
        return ToolReply(content, tuple(calls), usage)

    def _generate(self, payload: list[dict[str, Any]], options: dict[str, Any]) -> Iterator[Chunk]:
        name = self._info.name
        with self._errors():
            response = self._server.client().chat(model=name, messages=payload, stream=True, options=options)
            for part in response:
                text = part.message.content if part.message else ""
                if text:
                    yield Chunk(text=text)
                if part.done:
                    tokens_in = int(part.prompt_eval_count or 0)
                    reason = part.done_reason or "stop"
                    if tokens_in >= self._num_ctx - 1:
                        reason = "context_truncated"  # Ollama cut the prompt to fit num_ctx
                    yield Chunk(usage=Usage(tokens_in, int(part.eval_count or 0), reason))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn the client's exceptions into errors that tell the user what to do."""
        host, name = self._server.host, self._info.name
        try:
            yield
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise model_not_pulled(name) from exc
            raise GenerationError(
                f"Ollama stopped with an error: {exc.error}", "Try again; check the Ollama logs."
            ) from exc
        except ConnectionError as exc:
            raise unreachable_error(host) from exc
        except httpx.TimeoutException as exc:
            raise GenerationError(
                f"Ollama at {host} did not answer within {self._server.timeout:.0f} s.",
                "The model may still be loading; try again or raise the timeout.",
            ) from exc
        except httpx.ConnectError as exc:
            raise unreachable_error(host) from exc
        except httpx.HTTPError as exc:
            raise GenerationError(
                f"The connection to Ollama broke while answering ({type(exc).__name__}).",
                "The partial answer was kept; try again.",
            ) from exc


def _to_ollama(message: ChatMessage) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        data["images"] = [ollama.Image(value=img) for img in message.images]
    if message.tool_calls:
        data["tool_calls"] = [_call_to_ollama(call) for call in message.tool_calls]
    if message.tool_name:
        data["tool_name"] = message.tool_name
    return data


def _call_to_ollama(call: ToolRequest) -> dict[str, Any]:
    return {"function": {"name": call.name, "arguments": call.arguments}}
