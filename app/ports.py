"""Ports: one Protocol per kind of backend, and the plain data they exchange."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ToolRequest:
    """A tool call as the model wrote it; `error` says why it cannot run as written (kept, never raised)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class ChatMessage:
    """One message sent to a chat model; images are raw encoded bytes (PNG/JPEG).

    In a tool conversation an assistant message carries the calls it asked for (`tool_calls`) and each
    result comes back as a "tool" message naming its tool (`tool_name`); every adapter renders these in
    its own backend's format.
    """

    role: str  # "system" | "user" | "assistant" | "tool"
    content: str
    images: tuple[bytes, ...] = ()
    tool_calls: tuple[ToolRequest, ...] = ()
    tool_name: str = ""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters for one answer."""

    temperature: float = 0.2
    top_p: float = 0.9
    max_tokens: int = 1024
    seed: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What a model is and what it can do, declared by its adapter."""

    backend: str  # "ollama" | "embedded": a label for people and records, never a switch for callers
    name: str
    supports_images: bool = False
    supports_tools: bool = False  # implements `call_tools`
    # Trusted to pick its own tools when the tool mode is "auto". The small embedded models are not:
    # the assistant benchmark measured the rule-based router as more accurate and faster for them.
    plans_tools: bool = False
    remote: bool = False  # runs on another machine: prompts leave this one (the PII policy masks them)
    context_window: int = 4096
    # Typical prompt-reading speed, where the adapter knows it (packaged models); 0 when it depends on the
    # machine serving the model. Used to warn before a long wait until measured speeds exist.
    prompt_tokens_per_s: float = 0.0
    digest: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short human label, e.g. 'qwen2.5-coder-1.5b (embedded)'."""
        return f"{self.name} ({self.backend})"


@dataclass(frozen=True)
class Usage:
    """Token counts reported by the backend for one answer."""

    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str = ""


@dataclass(frozen=True)
class Chunk:
    """A piece of a streamed answer; the last chunk carries `usage`."""

    text: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class ToolReply:
    """One round of tool calling: the model's text and the calls it asked for (none: it is done)."""

    content: str
    calls: tuple[ToolRequest, ...] = ()
    usage: Usage = field(default_factory=Usage)


@runtime_checkable
class ChatModel(Protocol):
    """A chat model that streams answers and, where `info.supports_tools`, calls tools."""

    @property
    def info(self) -> ModelInfo:
        """Name, backend and capabilities of this model."""
        ...

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> Iterator[Chunk]:
        """Stream the answer; closing the iterator cancels generation."""
        ...

    def call_tools(
        self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]], params: GenerationParams
    ) -> ToolReply:
        """One non-streamed round offering `tools` (JSON function specs); raises CapabilityError when unsupported."""
        ...


class RecordStore(Protocol):
    """Append-only store of request records (the basis of the audit trail)."""

    def append(self, kind: str, body: dict[str, Any]) -> str:
        """Append a record and return its id."""
        ...

    def query(self, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """Newest-first records matching simple equality filters."""
        ...
