"""Embedded chat model: llama.cpp in-process through xllamacpp, with a packaged GGUF."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from app.errors import (
    CapabilityError,
    GenerationError,
    InsufficientMemoryError,
    ModelUnavailableError,
    PromptTooLongError,
)
from app.llm import qwen_tools
from app.llm.model_files import Progress, ensure_model_file, get_model
from app.ports import ChatMessage, Chunk, GenerationParams, ModelInfo, ToolReply, Usage

_DONE = object()
# Bytes of KV cache per token of context, generous for the packaged models (Qwen 1.5B: ~28 kB).
_KV_BYTES_PER_TOKEN = 32 * 1024


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None where that file does not exist."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class _LoadedServer:
    """One loaded xllamacpp server; shared while its configuration is unchanged."""

    def __init__(self, path: Path, threads: int, n_ctx: int, batch_threads: int) -> None:
        import xllamacpp  # heavy import kept out of start-up

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = batch_threads
        params.verbosity = -1  # llama.cpp otherwise writes every request to stderr
        params.warmup = False
        self.key = (str(path), threads, n_ctx, batch_threads)
        self.server = xllamacpp.Server(params)


_cache_lock = threading.Lock()
_loaded: _LoadedServer | None = None


def _get_server(path: Path, threads: int, n_ctx: int, ram_gb: float, batch_threads: int) -> _LoadedServer:
    global _loaded
    with _cache_lock:
        key = (str(path), threads, n_ctx, batch_threads)
        if _loaded is not None and _loaded.key == key:
            return _loaded
        # Keep one embedded model in memory at a time: laptops have little RAM to spare.
        _loaded = None
        needed = int(ram_gb * 1e9) + n_ctx * _KV_BYTES_PER_TOKEN
        free = available_memory_bytes()
        if free is not None and free < needed:
            raise InsufficientMemoryError(
                f"Not enough free memory to load this model: it needs about {needed / 1e9:.1f} GB, "
                f"{free / 1e9:.1f} GB is available.",
                "Close other programs, pick a smaller embedded model or a smaller context in Settings.",
            )
        try:
            _loaded = _LoadedServer(path, threads, n_ctx, batch_threads)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelUnavailableError(
                f"The embedded model could not be loaded: {exc}", "Pick another model in Settings or reinstall it."
            ) from exc
        return _loaded


def unload() -> None:
    """Drop the loaded embedded model (tests and settings changes)."""
    global _loaded
    with _cache_lock:
        _loaded = None


class EmbeddedChatModel:
    """A packaged GGUF model answering in-process through llama.cpp."""

    backend = "embedded"

    def __init__(
        self,
        model_key: str,
        models_dir: Path,
        threads: int = 1,
        n_ctx: int = 8192,
        progress: Progress | None = None,
        batch_threads: int | None = None,
    ) -> None:
        self._batch_threads = batch_threads or threads
        self._spec = get_model(model_key)
        self._models_dir = Path(models_dir)
        self._threads = threads
        self._n_ctx = n_ctx
        self._progress = progress
        self._server: _LoadedServer | None = None
        self._info = ModelInfo(
            backend=self.backend,
            name=model_key,
            supports_images=False,  # no vision-language GGUF exists in any registry
            supports_tools=model_key.startswith("qwen"),  # through Qwen's text format (qwen_tools.py)
            plans_tools=False,  # too small to be trusted with the choice in "auto" tool mode
            remote=False,
            context_window=n_ctx,
            prompt_tokens_per_s=self._spec.prompt_tokens_per_s,
            digest=self._spec.sha256,
            details={"file": self._spec.display_name, "threads": threads},
        )

    @property
    def info(self) -> ModelInfo:
        """Name, backend and capabilities."""
        return self._info

    def load(self, progress: Progress | None = None) -> None:
        """Assemble, verify and load the model file (idempotent)."""
        self._loaded(progress)

    def _loaded(self, progress: Progress | None = None) -> _LoadedServer:
        if self._server is not None:
            return self._server
        report = progress or self._progress
        path = ensure_model_file(self._spec.key, self._models_dir, report)
        if report:
            report(1.0, f"Loading {self._spec.display_name} into memory…")
        self._server = _get_server(path, self._threads, self._n_ctx, self._spec.ram_gb, self._batch_threads)
        return self._server

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream an answer; closing the iterator cancels generation in llama.cpp."""
        loaded = self._loaded()
        request: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        return self._run(loaded, request)

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One tool-calling round in Qwen's text format (tools in the prompt, `<tool_call>` replies)."""
        if not self._info.supports_tools:
            raise CapabilityError(
                f"The embedded model '{self._info.name}' cannot call tools.",
                "Pick a Qwen model, or set the tool mode to 'router' in Settings.",
            )
        return qwen_tools.call_tools(self.stream, messages, tools, params)

    def _run(self, loaded: _LoadedServer, request: dict[str, Any]) -> Iterator[Chunk]:
        events: queue.Queue = queue.Queue()
        cancel = threading.Event()
        server = loaded.server

        def on_chunk(chunk: dict) -> bool:
            events.put(chunk)
            return cancel.is_set()  # True tells llama.cpp to stop this request

        def worker() -> None:
            try:
                server.handle_chat_completions(request, on_chunk)
            except Exception as exc:  # noqa: BLE001 - handed to the consumer thread, which raises it
                events.put(exc)
            finally:
                events.put(_DONE)

        # llama.cpp releases the GIL while generating; a worker thread lets the caller
        # consume tokens as they come and cancel by closing the iterator.
        thread = threading.Thread(target=worker, name="embedded-generate", daemon=True)
        thread.start()
        try:
            yield from self._consume(events)
        finally:
            cancel.set()

    def _consume(self, events: queue.Queue) -> Iterator[Chunk]:
        finish = ""
        while True:
            item = events.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise GenerationError(f"The embedded model failed: {item}", "Try again or pick another model.")
            if "error" in item:
                raise _translate_error(item["error"])
            for choice in item.get("choices") or []:
                finish = choice.get("finish_reason") or finish
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield Chunk(text=text)
            if usage := item.get("usage"):
                yield Chunk(
                    usage=Usage(
                        tokens_in=int(usage.get("prompt_tokens", 0)),
                        tokens_out=int(usage.get("completion_tokens", 0)),
                        finish_reason=finish,
                    )
                )


def _translate_error(error: Any) -> Exception:
    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
        return PromptTooLongError(
            f"The conversation is {error.get('n_prompt_tokens', '?')} tokens; this model's context holds "
            f"{error.get('n_ctx', '?')}.",
            "Shorten the message, start a new conversation, or raise the context size in Settings.",
        )
    message = error.get("message") if isinstance(error, dict) else str(error)
    return GenerationError(f"The embedded model reported an error: {message}", "Try again or pick another model.")
