"""Which files the document library takes, and the searchable text of images and recordings.

The content decides the kind (a PDF named `.dat` is a PDF); the name only decides which reader
explains what is wrong with content nobody recognises (text renamed `.wav` gets the audio
reader's "this is a text file"). An image becomes one page holding its OCR text, cited as the
image file. A recording becomes one page holding its transcript, one segment per line; its
chunks are runs of whole segments carrying start/end seconds, so citations read `meeting.m4a @ 12:31`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.documents.results import IngestResult, result_for
from app.errors import BadInputError
from multimodal.audio import sniff_audio
from multimodal.chunking import TextChunk, TimedSpan, chunk_page, chunk_segments, join_segments
from multimodal.image import sniff_image
from multimodal.pdf import SNIFF_BYTES, sniff_kind
from storage.documents import INDEXED, PENDING

if TYPE_CHECKING:
    from multimodal.transcribe import WhisperTranscriber

MEDIA_KINDS = ("image", "audio")
INGESTIBLE = ("pdf", *MEDIA_KINDS)
IMAGE_SUFFIXES = frozenset(".png .jpg .jpeg .gif .webp .bmp .tif .tiff .avif .heic .heif".split())
AUDIO_SUFFIXES = frozenset(".wav .mp3 .m4a .aac .ogg .oga .opus .flac .webm .aiff .aif".split())
UPLOAD_TYPES = ["pdf", *sorted(x[1:] for x in IMAGE_SUFFIXES | AUDIO_SUFFIXES)]  # for file uploaders
SUPPORTED = "PDF, images (PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF) and recordings (WAV, MP3, M4A, OGG, FLAC, WebM)"
_AUDIO_EXT = {"wav": ".wav", "mp3/aac": ".mp3", "flac": ".flac", "ogg": ".ogg", "mp4": ".m4a", "webm/mkv": ".webm",
              "aiff": ".aiff"}
_MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".m4a": "audio/mp4",
         ".webm": "audio/webm", ".aiff": "audio/aiff", ".png": "image/png", ".jpg": "image/jpeg",
         ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp", ".tiff": "image/tiff",
         ".avif": "image/avif", ".pdf": "application/pdf"}


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
            from multimodal.transcribe import WhisperTranscriber

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
        return result_for(path, record, INDEXED, started)


HEAD_BYTES = max(SNIFF_BYTES, 64)  # enough of a file's start for every sniffer


def read_head(path: Path) -> bytes:
    """The first bytes of a file (enough for every sniffer)."""
    with Path(path).open("rb") as fh:
        return fh.read(HEAD_BYTES)


def content_kind(head: bytes) -> str:
    """'pdf', 'image', 'audio', 'empty' or 'unknown' from the bytes alone (what folders are filtered by)."""
    if not head:
        return "empty"
    if sniff_kind(head) == "pdf":
        return "pdf"
    if sniff_image(head) not in (None, "PDF"):
        return "image"  # HEIC included: the image reader explains how to convert it
    return "audio" if sniff_audio(head) else "unknown"


def file_kind(path: Path) -> str:
    """The kind a named file is ingested as: its content, or its name when the content is unrecognised."""
    head = read_head(path)
    kind = content_kind(head)
    suffix = Path(path).suffix.lower()
    if kind in ("pdf", "empty"):
        return kind
    if suffix == ".pdf":
        return "pdf"  # named a PDF but is not one: the PDF reader says so
    if kind != "unknown":
        return kind
    return "image" if suffix in IMAGE_SUFFIXES else "audio" if suffix in AUDIO_SUFFIXES else "unknown"


def unsupported(name: str) -> UnsupportedFileError:
    """The error for a file nobody can read."""
    return UnsupportedFileError(f"{name} is not a PDF, an image or a recording (judging by its content).",
                                f"The library takes {SUPPORTED}.")


def stored_suffix(kind: str, path: Path) -> str:
    """The extension of the library's copy, from the content (so the player gets the right type)."""
    head = read_head(path)
    if kind == "image":
        fmt = (sniff_image(head) or "img").lower()
        return {"jpeg": ".jpg"}.get(fmt, f".{fmt}")
    if kind == "audio":
        return _AUDIO_EXT.get(sniff_audio(head) or "", Path(path).suffix.lower() or ".audio")
    return ".pdf"


def media_type(path: Path) -> str:
    """MIME type of a stored copy, for the UI's image and audio widgets."""
    return _MIME.get(Path(path).suffix.lower(), "application/octet-stream")


def image_text(path: Path, name: str) -> MediaText:
    """OCR an image file into one page; NoTextInImageError when it holds no readable text."""
    from multimodal.image import prepare_image

    prepared = prepare_image(Path(path).read_bytes(), name)
    text = prepared.ocr.text.strip() if prepared.ocr else ""
    if not text:
        raise NoTextInImageError(
            f"No text found in {name}; nothing to search.",
            "Images are searchable by the text in them. To ask about what it shows, attach it to a chat question.",
        )
    facts = prepared.facts
    title = f"{facts.format} image, {facts.original_width}×{facts.original_height} px"
    return MediaText("image", text, "ocr", title, chunk_page(text, 1))


def audio_text(path: Path, name: str, transcriber: WhisperTranscriber,
               emit: Callable[..., None] | None = None) -> MediaText:
    """Transcribe a recording into one page of timed segments (progress as 'transcribe' events)."""
    from multimodal.transcribe import format_timestamp

    def progress(done: float, total: float | None) -> None:
        if emit is not None:
            emit("transcribe", seconds=float(done), total_seconds=total)

    transcript = transcriber.transcribe(Path(path), name=name, progress=progress)
    text, spans = join_segments([(s.start, s.end, s.text) for s in transcript.segments])
    language = f", {transcript.language}" if transcript.language else ""
    title = f"Recording, {format_timestamp(transcript.duration)}{language}"
    return MediaText("audio", text, "transcript", title, chunk_segments(text, spans), spans)


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


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
