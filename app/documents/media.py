"""The searchable text of images and recordings in the document library.

Which files the library takes, and as what kind, is decided in multimodal/kinds.py. An image
becomes one page holding its OCR text, cited as the image file. A recording becomes one page
holding its transcript, one segment per line; its chunks are runs of whole segments carrying
start/end seconds, so citations read `meeting.m4a @ 12:31`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.documents.results import IngestResult, result_for
from app.errors import BadInputError
from multimodal.chunking import TextChunk, TimedSpan, chunk_page, chunk_segments, join_segments
from multimodal.image import prepare_image
from multimodal.kinds import SECTION_KINDS, SUPPORTED_DOCUMENTS, content_kind, kind_by_name, read_head, table_kind
from multimodal.transcribe import WhisperTranscriber, format_timestamp
from storage.documents import INDEXED, PENDING

MEDIA_KINDS = ("image", "audio")
INGESTIBLE = ("pdf", *MEDIA_KINDS, *SECTION_KINDS)


class UnsupportedFileError(BadInputError):
    """The file is neither a PDF, an image nor a recording."""


class NoTextInImageError(BadInputError):
    """OCR found no text in an image, so as a document it would hold nothing to search."""


@dataclass(frozen=True)
class MediaText:
    """What an image or a recording contributes to the library: one page of text and its chunks."""

    kind: str  # "image" | "audio"
    text: str
    method: str  # how the page text was obtained: "ocr" | "transcript"
    title: str
    chunks: list[TextChunk]
    spans: list[TimedSpan] = field(default_factory=list)  # recordings: each segment's times and chars
    warnings: list[str] = field(default_factory=list)  # what was worked around while reading it, one line each


class MediaIngestion:
    """The DocumentLibrary's part for images and recordings (mixed into it; uses its registry and indexes)."""

    registry: Any
    vectors: Any
    data_dir: Path
    batch_chunks: int
    _transcriber_provider: Callable[[], WhisperTranscriber] | None
    _default_transcriber: WhisperTranscriber | None
    _drop_chunks: Callable[[str], None]
    _flush: Callable[..., None]

    def transcriber(self) -> WhisperTranscriber:
        """The speech-to-text for recordings: the provider's, or a default one on this data dir."""
        if self._transcriber_provider is not None:
            return self._transcriber_provider()
        if self._default_transcriber is None:
            self._default_transcriber = WhisperTranscriber(self.data_dir)
        return self._default_transcriber

    def _extract(self, kind: str, path: Path, name: str, emit: Callable[..., None]) -> MediaText:
        if kind == "image":
            return image_text(path, name)
        return audio_text(path, name, self.transcriber(), emit)

    def _index_media(self, path: Path, stored: Path, doc_id: str, sha: str, media: MediaText,
                     emit: Callable[..., None], started: float) -> IngestResult:
        """Store the page (and segment times), then the chunks in batches; searchable only at the end."""
        self._drop_chunks(doc_id)
        self.registry.start(doc_id, sha, path.name, media.kind, str(stored), stored.stat().st_size)
        counts = dict(chunks=0, suspicious_chunks=0)
        try:
            self.registry.add_pages(doc_id, [(1, media.text, media.method, "")])
            self.registry.add_segments(doc_id, [(s.start_s, s.end_s, s.char_start, s.char_end) for s in media.spans])
            for s in range(0, len(media.chunks), self.batch_chunks):
                self._flush(doc_id, path.name, media.chunks[s : s + self.batch_chunks], [], counts, media.kind)
        except BaseException as exc:
            self._drop_chunks(doc_id)
            self.registry.set_status(doc_id, PENDING, f"interrupted: {type(exc).__name__}")
            raise
        self.registry.finish(doc_id, title=media.title, pages=1, ocr_pages=int(media.kind == "image"),
                             embedding_model=self.vectors.embedder.model_id, **counts)
        emit("page", 1, 1)
        emit("done", 1, 1)
        record = self.registry.get(doc_id)
        assert record is not None
        return replace(result_for(path, record, INDEXED, started), warnings=tuple(media.warnings))


def unsupported(name: str) -> UnsupportedFileError:
    """The error for a file nobody can read."""
    return UnsupportedFileError(f"{name} is not a PDF, an image or a recording, nor a Word, PowerPoint, HTML, text "
                                "or e-mail file (judging by its content).",
                                f"The library takes {SUPPORTED_DOCUMENTS}.")


def image_text(path: Path, name: str) -> MediaText:
    """OCR an image file into one page; NoTextInImageError when it holds no readable text."""
    prepared = prepare_image(Path(path).read_bytes(), name)
    text = prepared.ocr.text.strip() if prepared.ocr else ""
    if not text:
        raise NoTextInImageError(
            f"No text found in {name}; nothing to search.",
            "Images are searchable by the text in them. To ask about what it shows, attach it to a chat question.",
        )
    facts = prepared.facts
    title = f"{facts.format} image, {facts.original_width}×{facts.original_height} px"
    return MediaText("image", text, "ocr", title, chunk_page(text, 1), warnings=list(prepared.warnings))


def audio_text(path: Path, name: str, transcriber: WhisperTranscriber,
               emit: Callable[..., None] | None = None) -> MediaText:
    """Transcribe a recording into one page of timed segments (progress as 'transcribe' events)."""
    def progress(done: float, total: float | None) -> None:
        if emit is not None:
            emit("transcribe", seconds=float(done), total_seconds=total)

    transcript = transcriber.transcribe(Path(path), name=name, progress=progress)
    text, spans = join_segments([(s.start, s.end, s.text) for s in transcript.segments])
    language = f", {transcript.language}" if transcript.language else ""
    title = f"Recording, {format_timestamp(transcript.duration)}{language}"
    return MediaText("audio", text, "transcript", title, chunk_segments(text, spans), spans, list(transcript.warnings))


def rechunk(kind: str, text: str, page: int, segments: Sequence[tuple[float, float, int, int]]) -> list[TextChunk]:
    """Chunks of a stored page again (re-embedding): timed for recordings, by sentence otherwise."""
    if kind == "audio":
        return chunk_segments(text, [TimedSpan(*s) for s in segments], page)
    return chunk_page(text, page)


def expand(paths: Sequence[Path]) -> Iterator[tuple[Path, bool]]:
    """Files to ingest, each with whether it was named explicitly (folders: recursive, no hidden files)."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    yield f, False
        else:
            yield p, True


def skip_reason(path: Path) -> tuple[str, str] | None:
    """Why a file found in a folder is passed over, as (its kind, the reason); None to ingest it.

    A file is ingested when its content is a PDF, an image or a recording, or when its name says it is one:
    then that kind's reader explains what is wrong with it (an empty `.pdf`, random bytes named `.png`)."""
    try:
        kind = content_kind(read_head(path))
    except OSError:
        return None  # gone or unreadable: ingesting it reports that, as this file's error
    named = kind_by_name(path)
    if named == "text" and path.suffix.lower() == ".txt" and _is_table(path):
        return "table", "a table (delimited text)"
    if kind in INGESTIBLE or named in INGESTIBLE:
        return None
    return kind, "an empty file" if kind == "empty" else "not a PDF, image or recording"


def _is_table(path: Path) -> bool:
    try:
        return table_kind(path) is not None
    except OSError:
        return False


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
