"""Transcribe recordings with openai-whisper on the packaged weights, in windows, with progress and cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import BadInputError, ConfigError
from multimodal.audio import (
    MIN_SECONDS,
    AudioSource,
    AudioTooShortError,
    Cancel,
    NoSpeechError,
    check_duration,
    is_cancelled,
    open_audio,
)
from multimodal.whisper_model import MODEL_SIZES, load_whisper

# progress(done_seconds, total_seconds or None when the container does not say)
Progress = Callable[[float, float | None], None]
DEFAULT_MAX_SECONDS = 4 * 3600.0
# whisper's decoder installs kv-cache hooks on the (process-wide, shared) model for each call, so
# two concurrent calls on one model would corrupt each other: one transcription per model size.
_MODEL_LOCKS = {size: threading.Lock() for size in MODEL_SIZES}


class AudioTooLongError(BadInputError):
    """The recording is longer than the configured limit."""


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with its start and end in seconds from the beginning of the recording."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """The result of transcribing one recording."""

    text: str
    language: str
    duration: float
    segments: list[Segment]
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    cancelled: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: {"text", "language", "duration", "segments": [{"start", "end", "text"}]}."""
        return {
            "text": self.text,
            "language": self.language,
            "duration": round(self.duration, 3),
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in self.segments],
        }


def format_timestamp(seconds: float) -> str:
    """`12:31` or `1:02:05`, the form citations use."""
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _language_code(language: str | None) -> str | None:
    """'en', 'English' or 'english' -> 'en'; None/'' -> None (detect); anything else is a user error."""
    if not language or not language.strip():
        return None
    from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE

    value = language.strip().lower()
    if value in LANGUAGES:
        return value
    if value in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[value]
    raise BadInputError(
        f"Whisper does not know the language '{language}'.",
        "Use a code such as en, de, fr, es, nl, or leave it empty to detect the language.",
    )


class WhisperTranscriber:
    """Speech to text with openai-whisper; thread-safe, one transcription per model at a time."""

    def __init__(
        self,
        data_dir: Path,
        size: str = "base",
        threads: int = 1,
        window_seconds: float = 30.0,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        if size not in MODEL_SIZES:
            raise ConfigError(f"Unknown whisper model '{size}'.", f"Choose one of: {', '.join(MODEL_SIZES)}.")
        if threads < 1 or window_seconds < 5:
            raise ConfigError("Whisper needs at least 1 thread and windows of at least 5 s.")
        self.data_dir = Path(data_dir)
        self.size = size
        self.threads = threads
        self.window_seconds = window_seconds
        self.max_seconds = max_seconds

    @property
    def sizes(self) -> tuple[str, ...]:
        """Model sizes that can be selected."""
        return MODEL_SIZES

    def load(self, size: str | None = None) -> Any:
        """Load (converting once if needed) the whisper model; useful to warm up."""
        return load_whisper(size or self.size, self.data_dir)

    def transcribe(
        self,
        source: AudioSource,
        *,
        name: str = "",
        language: str | None = None,
        size: str | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Transcript:
        """Transcribe a file (bytes or path); detects the language unless given. Cancel returns a partial transcript."""
        size = size or self.size
        if size not in MODEL_SIZES:
            raise BadInputError(f"Unknown whisper model '{size}'.", f"Choose one of: {', '.join(MODEL_SIZES)}.")
        language = _language_code(language)
        if size.endswith(".en"):
            if language not in (None, "en"):
                raise BadInputError(
                    f"The '{size}' model only understands English.", "Pick the 'base' model for other languages."
                )
            language = "en"
        with open_audio(source, name) as stream:
            total = stream.info.duration
            if total is not None:
                self._check_limits(total, stream.name)
            model = load_whisper(size, self.data_dir)
            if progress:
                progress(0.0, total)
            lock = _MODEL_LOCKS[size]
            while not lock.acquire(timeout=0.25):
                if is_cancelled(cancel):  # cancelled while another transcription held the model
                    return Transcript("", language or "", 0.0, [], f"whisper-{size}", list(stream.warnings), True)
            try:
                return self._run(model, stream, size, language, total, progress, cancel)
            finally:
                lock.release()

    def _check_limits(self, seconds: float, name: str) -> None:
        if seconds > self.max_seconds:
            raise AudioTooLongError(
                f"{name} is {format_timestamp(seconds)} long; the limit is {format_timestamp(self.max_seconds)}.",
                "Split the recording into shorter parts, or raise the limit in Settings.",
            )
        if 0 < seconds < MIN_SECONDS:
            check_duration(seconds, name)

    def _run(self, model: Any, stream: Any, size: str, language: str | None, total: float | None,
             progress: Progress | None, cancel: Cancel | None) -> Transcript:
        import torch
        import whisper

        torch.set_num_threads(self.threads)
        segments: list[Segment] = []
        cancelled = False
        end = 0.0
        for chunk in stream.chunks(self.window_seconds):
            if is_cancelled(cancel):
                cancelled = True
                break
            end = chunk.start + chunk.duration
            if end > self.max_seconds:
                stream.warnings.append(f"Stopped at the {format_timestamp(self.max_seconds)} limit.")
                break
            if chunk.start == 0 and chunk.duration < MIN_SECONDS and total is None:
                check_duration(chunk.duration, stream.name)
            # Silent windows are skipped: whisper invents "Thank you." in silence, and it saves time.
            if not chunk.is_silent and chunk.duration >= 0.1:
                result = whisper.transcribe(
                    model, chunk.samples, language=language, fp16=False, verbose=None,
                    condition_on_previous_text=True,
                )
                language = language or result.get("language") or None
                for seg in result.get("segments", []):
                    text = str(seg["text"]).strip()
                    if not text:
                        continue
                    start = round(chunk.start + float(seg["start"]), 2)
                    stop = round(min(chunk.start + float(seg["end"]), end), 2)
                    segments.append(Segment(start=start, end=max(start, stop), text=text))
                # No text is carried into the next window as a prompt: measured on repeated speech, a
                # prompt that matches the coming audio makes whisper repeat it and skip the window.
            if progress:
                progress(end, max(total, end) if total else None)
        duration = stream.decoded_seconds if not cancelled else end
        if not cancelled and duration < MIN_SECONDS:
            raise AudioTooShortError(
                f"{stream.name} is only {duration:.1f} s long; that is too short to transcribe.",
                f"Record at least {MIN_SECONDS:g} s of speech.",
            )
        if not segments and not cancelled:
            raise NoSpeechError(
                f"No speech found in {stream.name} ({format_timestamp(duration)} of audio).",
                "Check the microphone or the file: it holds silence or sounds that are not speech.",
            )
        return Transcript(
            text=" ".join(s.text for s in segments),
            language=language or "",
            duration=duration,
            segments=segments,
            model=f"whisper-{size}",
            warnings=list(stream.warnings),
            cancelled=cancelled,
        )
