"""Picks the chat backend from settings: an OpenAI-compatible server, Ollama, embedded, or auto; parses model specs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from app.errors import AssistantError, BadInputError, ConfigError, ModelNotFoundError, ModelUnavailableError
from app.llm.embedded import EmbeddedChatModel
from app.llm.gate import GatedChatModel, ModelGate, WaitCallback, shared_gate
from app.llm.model_files import CATALOG, Progress, is_installed
from app.llm.ollama import SUGGESTED_CHAT_MODEL, OllamaChatModel, OllamaModelEntry, OllamaServer
from app.llm.openai_compat import OpenAIChatModel, OpenAIModelEntry, OpenAIServer, build_info
from app.ports import ChatModel
from app.settings import Settings

# How long a probe of the Ollama server is trusted; keeps every rerun from paying a round trip.
_PROBE_TTL_S = 10.0
_PROBE_TIMEOUT_S = 2.0
_OVERRIDABLE = ("backend", "ollama_model", "embedded_model", "openai_model")


@dataclass(frozen=True)
class ModelSpec:
    """A model named by the user: `embedded:KEY`, `ollama:NAME`, `openai:NAME`, or a bare name (parse_model_spec)."""

    backend: Literal["embedded", "ollama", "openai"]
    name: str
    # False for a bare name that is not an embedded key: taken as an Ollama model, used when Ollama answers
    # (the configured backend stays; "auto" still falls back to the embedded model).
    sets_backend: bool = True

    def __str__(self) -> str:
        return f"{self.backend}:{self.name}"

    def overrides(self) -> dict[str, str]:
        """The router overrides that select this model (a bare Ollama name leaves the backend as configured)."""
        if self.backend == "openai":
            return {"backend": "openai", "openai_model": self.name}
        if self.backend == "ollama":
            chosen = {"ollama_model": self.name}
            return {"backend": "ollama", **chosen} if self.sets_backend else chosen
        return {"backend": "embedded", "embedded_model": self.name}


def parse_model_spec(text: str | None) -> ModelSpec | None:
    """The one reading of a model spec: `embedded:KEY`, `ollama:NAME`, `openai:NAME` (a model of the
    OpenAI-compatible server), a bare embedded key, or a bare Ollama model name; None or "" means the model in
    settings. An unknown embedded key is refused."""
    if not text:
        return None
    backend, _, name = text.partition(":")
    if backend == "ollama" and name:
        return ModelSpec("ollama", name)
    if backend == "openai" and name:
        return ModelSpec("openai", name)
    if backend == "embedded":
        if name not in CATALOG:
            raise BadInputError(f"Unknown model {text!r}.",
                                f"Use embedded:KEY ({', '.join(CATALOG)}), ollama:NAME or openai:NAME.")
        return ModelSpec("embedded", name)
    if text in CATALOG:
        return ModelSpec("embedded", text)
    return ModelSpec("ollama", text, sets_backend=False)


@dataclass
class OllamaStatus:
    """What the last probe of the Ollama server (or the OpenAI-compatible server: `host` is its URL) found."""

    host: str
    reachable: bool
    models: list[str] = field(default_factory=list)
    error: str = ""
    hint: str = ""
    checked_at: float = 0.0


@dataclass
class BackendChoice:
    """Which backend and model will answer, and why."""

    backend: str
    model: str
    reason: str


class ModelRouter:
    """Resolves settings into a ChatModel; thread-safe, shared by every browser session."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._ollama = OllamaServer(settings.ollama_host, settings.ollama_timeout)
        self._status: OllamaStatus | None = None
        self._entries: list[OllamaModelEntry] = []
        self._openai = _openai_server(settings)
        self._openai_status: OllamaStatus | None = None
        self._openai_entries: list[OpenAIModelEntry] = []
        # One fair queue per backend in front of the model calls of every session and user of this process.
        self._gates = _gates(settings)

    def update_settings(self, settings: Settings) -> None:
        """Use new settings from now on (the Settings page calls this after saving)."""
        with self._lock:
            old = self._settings
            if (settings.ollama_host, settings.ollama_timeout) != (old.ollama_host, old.ollama_timeout):
                self._ollama = OllamaServer(settings.ollama_host, settings.ollama_timeout)
                self._status = None
            if _openai_key(settings) != _openai_key(old):
                self._openai = _openai_server(settings)
                self._openai_status = None
            self._settings = settings
            self._gates = _gates(settings)

    @property
    def settings(self) -> Settings:
        """Current settings."""
        return self._settings

    def ollama_status(self, refresh: bool = False) -> OllamaStatus:
        """Probe the Ollama server (cached for a few seconds)."""
        with self._lock:
            status, server = self._status, self._ollama
        if (cached := _cached(status, refresh)) is not None:
            return cached
        status, entries = _probe(server.list_models, server.host)
        with self._lock:
            self._status, self._entries = status, entries
        return status

    def openai_status(self, refresh: bool = False) -> OllamaStatus:
        """Probe the OpenAI-compatible server's model list (cached for a few seconds)."""
        with self._lock:
            status, server = self._openai_status, self._openai
        if (cached := _cached(status, refresh)) is not None:
            return cached
        status, entries = _probe(server.list_models, server.base_url)
        with self._lock:
            self._openai_status, self._openai_entries = status, entries
        return status

    def with_overrides(self, overrides: dict | None) -> Settings:
        """Current settings with a per-session model choice applied (backend, ollama_model, embedded_model)."""
        if not overrides:
            return self._settings
        allowed = {k: v for k, v in overrides.items() if k in _OVERRIDABLE}
        return self._settings.model_copy(update=allowed)

    def choose(self, overrides: dict | None = None) -> BackendChoice:
        """Decide backend and model without loading anything."""
        settings = self.with_overrides(overrides)
        if settings.backend == "embedded":
            return BackendChoice("embedded", settings.embedded_model, "Embedded backend selected in Settings.")
        if settings.backend == "openai" or (settings.backend == "auto" and settings.openai_base_url):
            return self._choose_openai(settings)
        status = self.ollama_status()
        if settings.backend == "ollama":
            if not status.reachable:
                return BackendChoice("ollama", settings.ollama_model or "", status.error)
            try:
                return BackendChoice("ollama", self._pick_ollama_model(settings), "Ollama backend selected.")
            except ModelNotFoundError as exc:  # no chat model pulled: report it (status panel, `status`), not raise
                return BackendChoice("ollama", "", exc.one_line())
        if not status.reachable:
            return BackendChoice(
                "embedded", settings.embedded_model, f"Ollama not reachable at {status.host}; using the embedded model."
            )
        try:
            return BackendChoice("ollama", self._pick_ollama_model(settings), f"Ollama is running at {status.host}.")
        except ModelNotFoundError as exc:
            return BackendChoice("embedded", settings.embedded_model, f"{exc.message} Using the embedded model.")

    def _choose_openai(self, settings: Settings) -> BackendChoice:
        if not settings.openai_base_url:
            return BackendChoice("openai", settings.openai_model, "No openai_base_url is set.")
        status = self.openai_status()
        if not status.reachable:
            return BackendChoice("openai", settings.openai_model, status.error)
        model = settings.openai_model or (status.models[0] if status.models else "")
        why = f"OpenAI-compatible server at {status.host}." if model else "The model server lists no model."
        return BackendChoice("openai", model, why)

    def _openai_model(self, settings: Settings, choice: BackendChoice) -> ChatModel:
        if not settings.openai_base_url:
            raise ConfigError("The OpenAI-compatible backend needs a server URL.",
                              "Set openai_base_url (ANALYST_OPENAI_BASE_URL), e.g. http://127.0.0.1:8080/v1.")
        status = self.openai_status()
        if not status.reachable:
            raise ModelUnavailableError(status.error, status.hint)
        if not choice.model:
            raise ModelNotFoundError(f"The model server at {status.host} lists no model.",
                                     "Load a model on the server, or set openai_model.")
        entry = next((e for e in self._openai_entries if e.name == choice.model), None)
        info = build_info(entry, choice.model, settings.openai_base_url,
                          context_window=settings.openai_context_window,
                          supports_images=settings.openai_supports_images,
                          supports_tools=choice.model not in self._openai.without_tools)
        return OpenAIChatModel(self._openai, info)

    def _pick_ollama_model(self, settings: Settings) -> str:
        wanted = settings.ollama_model
        names = [e.name for e in self._entries]
        if wanted:
            # "llama3" and "llama3:latest" are the same model to Ollama.
            if wanted in names or f"{wanted}:latest" in names:
                return wanted
            if settings.backend == "ollama":
                return wanted  # let the request fail with "not pulled", naming the model
            raise ModelNotFoundError(f"The Ollama model '{wanted}' is not pulled.", f"Run `ollama pull {wanted}`.")
        for entry in self._entries:
            try:
                info = self._ollama.model_info(entry.name, entry.digest, timeout=_PROBE_TIMEOUT_S)
            except AssistantError:
                continue
            if info.details.get("chat"):
                return entry.name
        raise ModelNotFoundError(
            "Ollama has no chat model pulled.", f"Run `ollama pull {SUGGESTED_CHAT_MODEL}` (or any chat model)."
        )

    def model_queue(self) -> dict[str, tuple[int, int]]:
        """Per backend: (model calls running, calls waiting for a place) in this process right now."""
        return {backend: gate.load() for backend, gate in self._gates.items()}

    def get_model(self, progress: Progress | None = None, overrides: dict | None = None) -> ChatModel:
        """The ChatModel that answers now, loaded and ready, its calls queued fairly with every other session's
        (`progress` also hears "waiting for the model"); raises AssistantError with a fix."""
        model = self._load_model(progress, overrides)
        return GatedChatModel(model, self._gates[model.info.backend], _waiting(progress), self._settings.user)

    def _load_model(self, progress: Progress | None, overrides: dict | None) -> ChatModel:
        choice = self.choose(overrides)
        settings = self.with_overrides(overrides)
        if choice.backend == "openai":
            return self._openai_model(settings, choice)
        if choice.backend == "ollama":
            if not choice.model:
                status = self.ollama_status()
                if not status.reachable:
                    raise ModelNotFoundError(status.error or "No Ollama model chosen.", status.hint)
                # Raises the "no chat model, run `ollama pull ...`" error (or finds one pulled since).
                choice = BackendChoice("ollama", self._pick_ollama_model(settings), choice.reason)
            entry = next((e for e in self._entries if e.name in (choice.model, f"{choice.model}:latest")), None)
            info = self._ollama.model_info(choice.model, entry.digest if entry else "")
            return OllamaChatModel(self._ollama, info, settings.ollama_num_ctx)
        model = EmbeddedChatModel(  # llama.cpp itself is imported only when the model loads
            choice.model, settings.resolved_models_dir, settings.embedded_threads, settings.embedded_ctx, progress,
            batch_threads=settings.embedded_batch_threads,
        )
        model.load(progress)
        return model



_BACKENDS = ("embedded", "ollama", "openai")
# Without max_parallel_requests: llama.cpp in-process serves one request at a time; servers take a few at once.
_DEFAULT_PARALLEL = {"embedded": 1, "ollama": 4, "openai": 4}


def parallel_limit(settings: Settings, backend: str) -> int:
    """How many calls to `backend` may run at once (max_parallel_requests; 0 = the backend's default)."""
    return settings.max_parallel_requests or _DEFAULT_PARALLEL.get(backend, 1)


def _gates(settings: Settings) -> dict[str, ModelGate]:
    """The process's gate per backend for these settings' servers, shared with every other user's router of the
    same installation (its audit keys folder), with the limit the settings give."""
    servers = {"embedded": "", "ollama": settings.ollama_host, "openai": settings.openai_base_url}
    return {b: shared_gate(b, f"{servers[b]}|{settings.keys_dir}", parallel_limit(settings, b)) for b in _BACKENDS}


def _waiting(progress: Progress | None) -> WaitCallback | None:
    if progress is None:
        return None

    def tell(ahead: int) -> None:
        progress(0.0, f"Waiting for the model: {ahead} question{'s' if ahead != 1 else ''} ahead of yours…")

    return tell


class _NamedEntry(Protocol):
    @property
    def name(self) -> str: ...


_Entry = TypeVar("_Entry", bound=_NamedEntry)


def _cached(status: OllamaStatus | None, refresh: bool) -> OllamaStatus | None:
    """The last probe's status while it is recent enough (and no refresh was asked for)."""
    if status and not refresh and time.monotonic() - status.checked_at < _PROBE_TTL_S:
        return status
    return None


def _probe(list_models: Callable[..., list[_Entry]], host: str) -> tuple[OllamaStatus, list[_Entry]]:
    """Ask a model server for its models: its status and the entries (none when it cannot be reached)."""
    try:
        entries = list_models(timeout=_PROBE_TIMEOUT_S)
    except AssistantError as exc:
        return OllamaStatus(host, False, [], exc.message, exc.hint, time.monotonic()), []
    return OllamaStatus(host, True, [e.name for e in entries], checked_at=time.monotonic()), entries


def embedded_choices(configured: str | None = None) -> dict[str, str]:
    """Embedded model keys a user may pick, with a label saying whether each is installed.

    Test-only models (SmolLM2) are left out unless `configured` (the settings' embedded model) names one."""
    return {
        key: spec.display_name + ("" if is_installed(key) else " — not installed")
        for key, spec in CATALOG.items()
        if spec.user_facing or key == configured
    }


def _openai_key(settings: Settings) -> tuple[str, str, float]:
    return settings.openai_base_url, settings.openai_api_key.get_secret_value(), settings.openai_timeout


def _openai_server(settings: Settings) -> OpenAIServer:
    return OpenAIServer(settings.openai_base_url or "http://127.0.0.1:8080/v1",
                        settings.openai_api_key.get_secret_value(), settings.openai_timeout)
