"""The one path every answer takes: validate, save the question, and hand a Turn to stream.

Later features (documents, tables, tools, guardrails) add evidence to the same Turn and the same
request record instead of opening side paths. The Turn lives in `app.chat.turn`, the documents,
tables and transcriber it may use in `app.chat.workspace`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.chat.attachments import file_ref
from app.chat.prompt import estimate_tokens
from app.chat.reading import reading_estimate
from app.chat.state import InFlight, Progress, TurnResult
from app.chat.tools.specs import StoredFile
from app.chat.tools.toolbox import classify
from app.chat.turn import ModelSource, Turn, TurnServices
from app.chat.workspace import Workspace
from app.errors import BadInputError
from app.ports import RecordStore
from app.settings import Settings
from storage.attachments import AttachmentStore
from storage.conversations import OK, ConversationStore, Scope

if TYPE_CHECKING:
    from app.documents.library import DocumentLibrary
    from app.tables.service import TablesService
    from multimodal.transcribe import WhisperTranscriber
    from storage.documents import DocumentRecord

__all__ = ["Assistant", "Turn", "TurnResult"]


class Assistant:
    """Answers questions; shared by every browser session and the CLI."""

    def __init__(self, router: ModelSource, conversations: ConversationStore, records: RecordStore,
                 documents: Callable[[], DocumentLibrary] | None = None) -> None:
        self.router = router
        self.conversations = conversations
        self.records = records
        self.workspace = Workspace(documents)
        self.in_flight = InFlight()
        self.services = TurnServices(router, conversations, records, self.workspace, self.in_flight)

    @property
    def settings(self) -> Settings:
        """Current settings (the router holds the live copy)."""
        return self.router.settings

    def attach_documents(self, provider: Callable[[], DocumentLibrary], present: Callable[[], bool]) -> None:
        """Use a document library (built lazily by `provider`); `present` cheaply says if any may exist."""
        self.workspace.attach_documents(provider, present)

    def attach_tables(self, provider: Callable[[], TablesService], present: Callable[[], bool]) -> None:
        """Use a tables service (built lazily by `provider`); `present` cheaply says if any table may exist."""
        self.workspace.attach_tables(provider, present)

    def attach_transcriber(self, provider: Callable[[], WhisperTranscriber]) -> None:
        """Use this speech-to-text service (built lazily) for recordings attached to questions."""
        self.workspace.attach_transcriber(provider)

    def tables_present(self) -> bool:
        """Cheap: tables may exist (without opening DuckDB)."""
        return self.workspace.tables_present()

    def indexed_documents(self) -> list[DocumentRecord]:
        """Fully indexed documents of the library ([] when there is none, without opening the index)."""
        return self.workspace.indexed_documents()

    def has_documents(self) -> bool:
        """True when at least one document is fully indexed."""
        return bool(self.indexed_documents())

    def is_in_flight(self, conversation_id: str, question: str, names: Sequence[str] = ()) -> bool:
        """True while the same question (with the same attachments) is being answered in this conversation."""
        return InFlight.key(conversation_id, question, names) in self.in_flight

    def ask(
        self,
        question: str,
        conversation_id: str | None = None,
        images: Sequence[bytes] = (),
        progress: Progress | None = None,
        model_choice: dict[str, Any] | None = None,
        use_documents: bool | None = None,
        files: Sequence[tuple[str, bytes]] = (),
        scope: Scope | None = None,
    ) -> Turn:
        """Validate the question, save it, and return a Turn ready to stream.

        `files` are (name, bytes) attachments (images, recordings); `images` are unnamed images.
        `scope`: the documents and tables this conversation uses (saved with it); None uses the saved one.
        """
        files = [*files, *((f"image-{i + 1}", data) for i, data in enumerate(images))]
        text = self._checked_text(question, bool(files))
        turn = Turn(self.services, text, conversation_id, files, progress, model_choice)
        # None: the router decides from the question; True: always search; False: never.
        turn.use_documents = use_documents
        if turn.use_documents and not self.workspace.has_documents_service:
            raise BadInputError("Document search is not available.", "Ingest documents first.")
        kept = [self._keep_file(name, data) for name, data in files]
        turn.stored = [StoredFile(ref["name"], ref["sha256"], ref["path"], ref["kind"], new=True) for ref in kept]
        turn.scope = scope
        if conversation_id:
            self._save_question(turn, conversation_id, kept)
        return turn

    def _checked_text(self, question: str, has_files: bool) -> str:
        """The question's text, refused when empty or longer than the limit."""
        text = (question or "").strip()
        if not text and not has_files:
            raise BadInputError("The question is empty.", "Type a question first.")
        limit = self.settings.max_prompt_chars
        if len(text) > limit:
            raise BadInputError(
                f"The message is {len(text):,} characters (about {estimate_tokens(text):,} tokens); the limit is "
                f"{limit:,} characters, so it was not sent.",
                "Shorten it to the part you need, or save the text as a PDF document and attach it: its passages are "
                "then searched instead of being read in full. The limit is the max_prompt_chars setting.",
            )
        return text or "Describe the attachment(s)."

    def _save_question(self, turn: Turn, conversation_id: str, kept: list[dict[str, Any]]) -> None:
        """The question joins its conversation (with its attachments and scope) and is marked in flight."""
        conv = self.conversations.get(conversation_id)
        if turn.scope is None:
            turn.scope = self.conversations.scope(conversation_id)
        elif turn.scope != self.conversations.scope(conversation_id):
            self.conversations.set_scope(conversation_id, turn.scope)  # chosen for this conversation: kept
        turn.flight_key = InFlight.key(conversation_id, turn.question, [name for name, _ in turn.files])
        self.in_flight.begin(turn.flight_key)
        meta = {"attachments": kept} if kept else {}
        turn.user_message_id = self.conversations.add_message(conversation_id, "user", turn.question, OK, meta).id
        if conv.title == "New conversation":
            self.conversations.rename(conversation_id, self.conversations.title_from(turn.question))

    def _keep_file(self, name: str, data: bytes) -> dict[str, Any]:
        # Attachments stay with the conversation (content-addressed, so a re-sent file is stored once).
        path = AttachmentStore.in_data_dir(self.settings.data_dir).keep(data).path
        return {**file_ref(name, data), "path": str(path), "kind": classify(path, name)}

    def reading_notice(self, turn: Turn) -> str:
        """Before a long message is read: how long the model will take ('' when it is quick)."""
        info = turn.model_info
        estimate = reading_estimate(turn.question, info, self.records) if info else None
        return estimate.notice(info.label) if estimate and info else ""
