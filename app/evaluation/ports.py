"""What an evaluation run needs from the app, as Protocols: the container hands these in.

Evaluation sits below the chat, so it never imports it: the answering assistant arrives as an
`Answerer` (app.chat.Assistant satisfies it), with the model router and the sets' own library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from app.documents.library import DocumentLibrary
from app.llm.selector import ModelRouter
from app.ports import RecordStore
from app.settings import Settings


class Answerer(Protocol):
    """The chat's answer path: a question in, a turn whose `run()` streams and returns the outcome."""

    def ask(self, question: str, *, model_choice: dict[str, Any] | None = None,
            use_documents: bool | None = None) -> Any:
        """Save the question and return a turn ready to run."""
        ...


class EvaluationServices(Protocol):
    """The services a run uses (app.container.Services provides them)."""

    @property
    def settings(self) -> Settings:
        """The current settings (data dir, generation parameters)."""
        ...

    @property
    def records(self) -> RecordStore:
        """The request records: a finished run is recorded there (turns of answer items record themselves)."""
        ...

    @property
    def router(self) -> ModelRouter:
        """Picks and loads the chat model for a run's model choice."""
        ...

    @property
    def evaluation_library_dir(self) -> Path:
        """Where the sets' documents are indexed, apart from the user's library."""
        ...

    @property
    def evaluation_documents(self) -> DocumentLibrary:
        """The sets' own document library."""
        ...

    @property
    def evaluation_assistant(self) -> Answerer:
        """An assistant answering from the evaluation library only."""
        ...
