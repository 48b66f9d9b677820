"""The documents, tables and transcriber a turn can use, each built on first use.

Opening the vector index, DuckDB or whisper costs seconds a plain chat should not pay, so each
service comes from a provider called when a turn first needs it; `present` callbacks say
cheaply whether there may be anything to use at all. The heavy classes are imported for typing
only, for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.errors import AssistantError, BadInputError

if TYPE_CHECKING:
    from app.documents.library import DocumentLibrary
    from app.tables.service import TablesService
    from multimodal.transcribe import WhisperTranscriber
    from storage.documents import DocumentRecord


def _never() -> bool:
    return False


def _maybe() -> bool:
    return True


class Workspace:
    """What a turn can reach besides the model: the document library, the tables and speech-to-text."""

    def __init__(self, documents: Callable[[], DocumentLibrary] | None = None) -> None:
        self._documents: Callable[[], DocumentLibrary] | None = documents
        self._documents_present: Callable[[], bool] = _maybe
        self._tables: Callable[[], TablesService] | None = None
        self._tables_present: Callable[[], bool] = _never
        self._transcriber: Callable[[], WhisperTranscriber] | None = None

    def attach_documents(self, provider: Callable[[], DocumentLibrary], present: Callable[[], bool]) -> None:
        """Use a document library (built lazily by `provider`); `present` cheaply says if any may exist."""
        self._documents, self._documents_present = provider, present

    def attach_tables(self, provider: Callable[[], TablesService], present: Callable[[], bool]) -> None:
        """Use a tables service (built lazily by `provider`); `present` cheaply says if any table may exist."""
        self._tables, self._tables_present = provider, present

    def attach_transcriber(self, provider: Callable[[], WhisperTranscriber]) -> None:
        """Use this speech-to-text service (built lazily) for recordings attached to questions."""
        self._transcriber = provider

    @property
    def has_documents_service(self) -> bool:
        """A document library is configured (it may still be empty)."""
        return self._documents is not None

    def documents_present(self) -> bool:
        """Cheap: documents may exist (without opening the index)."""
        return self._documents_present()

    def tables_present(self) -> bool:
        """Cheap: tables may exist (without opening DuckDB)."""
        return self._tables_present()

    @property
    def documents(self) -> DocumentLibrary | None:
        """The document library, or None when not configured."""
        return self._documents() if self._documents else None

    @property
    def library(self) -> DocumentLibrary:
        """The document library; raises when there is none."""
        if self._documents is None:
            raise BadInputError("Document search is not available.", "Ingest documents first.")
        return self._documents()

    @property
    def tables(self) -> TablesService:
        """The tables service for run_sql."""
        if self._tables is None:
            raise BadInputError("Tables are not available here.", "Load tables on the Tables page.")
        return self._tables()

    @property
    def transcriber(self) -> WhisperTranscriber:
        """The speech-to-text service for attached recordings."""
        if self._transcriber is None:
            raise BadInputError("Transcription is not available here.", "Use the app or the CLI to attach audio.")
        return self._transcriber()

    def indexed_documents(self) -> list[DocumentRecord]:
        """Fully indexed documents of the library ([] when there is none, without opening the index)."""
        if self._documents is None or not self._documents_present():
            return []
        return [doc for doc in self._documents().list_documents() if doc.status == "indexed"]

    def document_sha256(self, doc_id: str) -> str | None:
        """The sha256 of a library document's bytes (None when it is gone or there is no library)."""
        if self._documents is None:
            return None
        try:
            return self._documents().get(doc_id).sha256
        except (AssistantError, AttributeError):
            return None
