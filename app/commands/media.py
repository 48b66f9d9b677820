"""CLI: `transcribe FILE` and `ocr IMAGE`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.commands.common import command, emit
from app.errors import BadInputError
from multimodal.image import ocr_image_bytes
from multimodal.transcribe import Transcript, WhisperTranscriber, format_timestamp
from multimodal.whisper_model import MODEL_SIZES


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `transcribe` and `ocr` subcommands."""
    tr = command(
        sub,
        "transcribe",
        help="Transcribe a recording (wav, mp3, m4a, ogg, flac, webm) with whisper.",
        handler=run_transcribe,
        json_help="Print JSON: text, language, duration, segments.",
    )
    tr.add_argument("file", type=Path, help="The audio (or video with sound) file.")
    tr.add_argument("--whisper-model", choices=MODEL_SIZES, help="Whisper model size (default: the configured one).")
    tr.add_argument("--language", help="Language code such as 'en' or 'de'; detected when omitted.")

    ocr = command(
        sub,
        "ocr",
        help="Read the text in an image (PNG, JPEG, GIF, WebP, BMP, TIFF).",
        handler=run_ocr,
        json_help="Print JSON: text and lines with boxes and scores.",
    )
    ocr.add_argument("image", type=Path, help="The image file.")


def _check_file(path: Path, command: str, what: str) -> None:
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; `{command}` takes one {what} file.",
                            f"Name one file in it, or add every {what} in the folder to the library with "
                            f"`ingest {path}`.")
    if not path.is_file():
        raise BadInputError(f"No such {what} file: {path}", "Check the path and try again.")


def _read(path: Path, what: str) -> bytes:
    _check_file(path, "ocr", what)
    return path.read_bytes()


def transcribe_payload(
    transcriber: WhisperTranscriber,
    path: Path,
    *,
    size: str | None = None,
    language: str | None = None,
    progress: Any = None,
) -> Transcript:
    """Transcribe a file on disk; raises BadInputError for a missing file or a folder."""
    _check_file(path, "transcribe", "recording")
    return transcriber.transcribe(path, name=path.name, size=size, language=language, progress=progress)


def run_transcribe(args: argparse.Namespace, services: Any) -> int:
    """Print the transcript (timestamped lines, or JSON with --json)."""
    progress = _stderr_progress if sys.stderr.isatty() else None
    _check_file(args.file, "transcribe", "recording")
    transcript = services.transcribe(args.file, name=args.file.name, origin="cli", size=args.whisper_model,
                                     language=args.language, progress=progress)
    for warning in transcript.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    text = "\n".join(f"[{format_timestamp(s.start)}] {s.text}" for s in transcript.segments)
    emit(args, transcript.to_dict(), text)
    return 0


def ocr_payload(path: Path) -> dict[str, Any]:
    """OCR an image file into {"text", "lines": [{"text", "box", "score"}]} (boxes in original pixels)."""
    return ocr_image_bytes(_read(path, "image"), path.name).to_dict()


def run_ocr(args: argparse.Namespace, services: Any) -> int:
    """Print the text found in an image (or JSON with --json)."""
    payload = ocr_payload(args.image)
    emit(args, payload, payload["text"] or "(no text found)")
    return 0


def _stderr_progress(done: float, total: float | None) -> None:
    of = f" / {format_timestamp(total)}" if total else ""
    sys.stderr.write(f"\rtranscribing {format_timestamp(done)}{of}\x1b[K")
    if total and done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
