"""Typed errors that carry a user-facing message and a hint on what to do next.

Adapters translate library exceptions into these; pages and the CLI show `message`
and `hint`. Anything that is not an AssistantError is a bug and is not swallowed.
"""

from __future__ import annotations


class AssistantError(Exception):
    """An error the user can understand and act on."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint as one line (records, step lists, notices, the CLI)."""
        return f"{self.message} {self.hint}".strip()

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(AssistantError):
    """A setting has an invalid value."""


class BadInputError(AssistantError):
    """The user's input (a prompt, a file) cannot be used as given."""


class ModelUnavailableError(AssistantError):
    """The chat model cannot be reached or loaded."""


class ModelNotFoundError(ModelUnavailableError):
    """The named model is not installed (not pulled in Ollama, or not packaged)."""


class ModelFileError(ModelUnavailableError):
    """A packaged model file is missing, incomplete or fails its checksum."""


class InsufficientMemoryError(ModelUnavailableError):
    """There is not enough free memory to load the model."""


class PromptTooLongError(BadInputError):
    """The prompt does not fit in the model's context window."""


class GenerationError(AssistantError):
    """The model failed while producing an answer (for example a broken stream)."""


class CapabilityError(AssistantError):
    """The model cannot do what was asked (for example see an image)."""


class NotFoundError(AssistantError):
    """A conversation, document or record with that id does not exist."""


class GuardrailBlockedError(AssistantError):
    """A guardrail refused the turn (for example a prompt injection in the question, with the 'block' policy)."""


class VectorStoreUnavailableError(AssistantError):
    """The vector store (a Chroma server named by `chroma_url`) cannot be reached."""
