"""Audio decoding with PyAV (bundled FFmpeg, no system binary): any supported file -> 16 kHz mono float32.

Decoding is streamed: callers get the audio in blocks or speech-friendly chunks, so a two-hour
recording never sits in memory whole (and never twice).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from app.errors import BadInputError
from multimodal.kinds import SUPPORTED_AUDIO, content_kind, looks_like_text, sniff_audio, sniff_image

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.5  # whisper hallucinates on shorter clips; ask for a real recording instead
VIDEO_CONTAINERS = ("mp4", "webm/mkv", "avi", "ogg")  # sniffed containers that may hold only a picture track
MAX_DECODE_ERRORS = 50  # give up on a file that is mostly damage rather than skip forever
# Peak below about -60 dBFS: nothing audible, so nothing to transcribe.
SILENCE_PEAK = 1e-3

AudioSource = bytes | bytearray | Path | str | BinaryIO
Cancel = Callable[[], bool] | Any  # a callable returning True, or anything with is_set() (threading.Event)


class AudioFormatError(BadInputError):
    """The file is not audio we can decode (text, an image, a video with no sound, unknown)."""


def not_a_recording(head: bytes, name: str) -> AudioFormatError | None:
    """The error for a file whose first bytes show it is no recording (empty, text, an image, a PDF), else None."""
    if not head:
        return AudioFormatError(f"{name} is empty.", f"Upload an audio file ({SUPPORTED_AUDIO}).")
    kind = content_kind(head)
    if kind == "image":
        return AudioFormatError(
            f"{name} is an image ({sniff_image(head)}), not a recording; there is nothing to transcribe.",
            "Read the text in it with OCR (the `ocr` command, or add it to the Documents page), or attach it "
            "to a chat question to ask about what it shows.",
        )
    if kind == "pdf":
        return AudioFormatError(f"{name} is a PDF document, not a recording; there is nothing to transcribe.",
                                "Add it to the Documents page (or `ingest` it) to search and ask about it.")
    if sniff_audio(head) is None and looks_like_text(head):
        return AudioFormatError(f"{name} is a text file, not audio (whatever its name says).",
                                f"Upload a recording in one of: {SUPPORTED_AUDIO}.")
    return None


class AudioTooShortError(BadInputError):
    """The recording is too short to transcribe."""


class NoSpeechError(BadInputError):
    """The recording holds only silence (or nothing whisper recognises as speech)."""


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about the chosen audio stream."""

    container: str
    codec: str
    duration: float | None  # seconds; None when the container does not say (e.g. browser WebM)
    sample_rate: int
    channels: int
    has_video: bool = False


@dataclass(frozen=True)
class AudioChunk:
    """A piece of decoded audio and where it starts in the recording (seconds)."""

    start: float
    samples: np.ndarray

    @property
    def duration(self) -> float:
        """Length of this chunk in seconds."""
        return len(self.samples) / SAMPLE_RATE

    @property
    def is_silent(self) -> bool:
        """True when nothing in the chunk is loud enough to be speech."""
        return self.samples.size == 0 or float(np.max(np.abs(self.samples))) < SILENCE_PEAK


@dataclass
class DecodedAudio:
    """A whole recording decoded at once (for short clips, tests and benchmarks)."""

    samples: np.ndarray
    info: AudioInfo
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Decoded length in seconds."""
        return len(self.samples) / SAMPLE_RATE


def is_cancelled(cancel: Cancel | None) -> bool:
    """Whether a cancel token (Event-like or callable) asks to stop."""
    if cancel is None:
        return False
    if hasattr(cancel, "is_set"):
        return bool(cancel.is_set())
    return bool(cancel())


def _open_binary(source: AudioSource) -> BinaryIO:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise BadInputError(f"Audio file not found: {path}.", "Check the path and try again.")
        # A file object (not the path) so FFmpeg probes the bytes, not the file name's extension.
        return open(path, "rb")  # noqa: SIM115 - closed by AudioStream.close
    return source


class AudioStream:
    """An opened audio file that yields 16 kHz mono float32 audio as it decodes."""

    def __init__(self, source: AudioSource, name: str = "") -> None:
        import av

        self.name = name or (Path(source).name if isinstance(source, (str, Path)) else "the recording")
        self.warnings: list[str] = []
        self.decoded_samples = 0
        self._fh = _open_binary(source)
        head = self._fh.read(4096)
        self._fh.seek(0)
        kind = sniff_audio(head)
        refusal = not_a_recording(head, self.name)
        if refusal is not None:
            self.close()
            raise refusal
        try:
            self._container = av.open(self._fh, mode="r", metadata_errors="ignore")
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.close()
            if kind is not None:  # the right magic bytes but unreadable: cut off or corrupt
                raise AudioFormatError(
                    f"{self.name} looks like a {kind} file but is damaged or incomplete (was the upload cut off?).",
                    "Export or copy the recording again; M4A files cut short lose the index needed to play them.",
                ) from exc
            raise AudioFormatError(
                f"{self.name} is not an audio file that can be decoded.",
                f"Supported formats: {SUPPORTED_AUDIO}.",
            ) from exc
        audio = list(self._container.streams.audio)
        has_video = bool(self._container.streams.video)
        if not audio:
            self.close()
            if kind not in VIDEO_CONTAINERS:  # FFmpeg guessed a picture or raw stream (e.g. from a .png name)
                raise AudioFormatError(f"{self.name} is not an audio file that can be decoded.",
                                       f"Supported formats: {SUPPORTED_AUDIO}.")
            what = "a video with no sound track" if has_video else "a file with no audio stream"
            raise AudioFormatError(
                f"{self.name} is {what}; there is nothing to transcribe.",
                f"Upload the recording itself ({SUPPORTED_AUDIO}), or a video that has sound.",
            )
        self._stream = audio[0]
        ctx = self._stream.codec_context
        self.info = AudioInfo(
            container=str(self._container.format.name),
            codec=str(ctx.name),
            duration=self._duration(),
            sample_rate=int(ctx.sample_rate or 0),
            channels=int(getattr(ctx.layout, "nb_channels", 0) or getattr(ctx, "channels", 0) or 0),
            has_video=has_video,
        )
        if has_video:
            self.warnings.append(f"{self.name} is a video; only its sound track is used.")

    def _duration(self) -> float | None:
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / 1_000_000  # av.time_base
        return None

    @property
    def decoded_seconds(self) -> float:
        """Seconds of audio decoded so far."""
        return self.decoded_samples / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        """Decode the stream into 16 kHz mono float32 blocks, skipping damaged packets with a warning."""
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        errors = 0
        truncated = False
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError, EOFError):
                truncated = True  # the demuxer hit the end of a cut-off file
                break
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                errors += 1
                if errors > MAX_DECODE_ERRORS:
                    truncated = True
                    break
                continue
            for frame in frames:
                for out in resampler.resample(frame):
                    yield from self._emit(out)
        try:
            for out in resampler.resample(None):
                yield from self._emit(out)
        except (av.FFmpegError, ValueError):
            errors += 1
        self._finish(errors, truncated)

    def _emit(self, frame: Any) -> Iterator[np.ndarray]:
        block = np.ascontiguousarray(frame.to_ndarray().reshape(-1), dtype=np.float32)
        if block.size:
            self.decoded_samples += block.size
            yield block

    def _finish(self, errors: int, truncated: bool) -> None:
        got, expected = self.decoded_seconds, self.info.duration
        if errors:
            self.warnings.append(f"{errors} damaged part(s) of {self.name} could not be decoded and were skipped.")
        short = expected is not None and got + 1.0 < 0.97 * expected
        if truncated or short:
            of = f" of about {expected:.0f} s" if expected else ""
            self.warnings.append(
                f"{self.name} seems truncated or damaged: decoded {got:.1f} s{of}. The transcript covers that part."
            )
        if self.decoded_samples == 0:
            raise AudioFormatError(
                f"No audio could be decoded from {self.name}; the file is damaged or empty.",
                f"Export the recording again ({SUPPORTED_AUDIO}).",
            )

    def chunks(self, seconds: float = 30.0, search_seconds: float = 3.0) -> Iterator[AudioChunk]:
        """Yield chunks of about `seconds`, cut at the quietest moment near the end so words stay whole."""
        target = int(seconds * SAMPLE_RATE)
        search = int(min(search_seconds, seconds / 3) * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        pending_len = 0
        start = 0
        for block in self.blocks():
            pending.append(block)
            pending_len += block.size
            if pending_len < target:
                continue
            # Only ever hold about one chunk plus one block: a long file never sits in memory whole.
            buffer = np.concatenate(pending)
            while buffer.size >= target:
                cut = _quiet_cut(buffer, target, search)
                yield AudioChunk(start=start / SAMPLE_RATE, samples=buffer[:cut].copy())
                start += cut
                buffer = buffer[cut:]
            pending, pending_len = [buffer], buffer.size
        if pending_len:
            yield AudioChunk(start=start / SAMPLE_RATE, samples=np.concatenate(pending))

    def close(self) -> None:
        """Release the container and file handle."""
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
        self._fh.close()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quiet_cut(buffer: np.ndarray, target: int, search: int) -> int:
    """Index in (target - search, target] with the least energy over 20 ms frames."""
    frame = SAMPLE_RATE // 50
    lo = max(frame, target - search)
    window = buffer[lo:target]
    n = window.size // frame
    if n < 2:
        return target
    energy = np.square(window[: n * frame].reshape(n, frame)).mean(axis=1)
    # Latest quietest frame: in flat silence keep chunks full length rather than cutting early.
    return lo + int(n - 1 - np.argmin(energy[::-1])) * frame + frame // 2


def open_audio(source: AudioSource, name: str = "") -> AudioStream:
    """Open an audio (or video-with-sound) file for streamed decoding; raises BadInputError subclasses."""
    return AudioStream(source, name)


def decode_audio(source: AudioSource, name: str = "", max_seconds: float | None = None) -> DecodedAudio:
    """Decode a whole file to 16 kHz mono float32 (use open_audio().chunks() for long recordings)."""
    with open_audio(source, name) as stream:
        blocks: list[np.ndarray] = []
        limit = int(max_seconds * SAMPLE_RATE) if max_seconds else None
        for block in stream.blocks():
            blocks.append(block)
            if limit is not None and stream.decoded_samples >= limit:
                break
        samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        if limit is not None:
            samples = samples[:limit]
        return DecodedAudio(samples=samples, info=stream.info, warnings=list(stream.warnings))


def check_duration(seconds: float, name: str = "the recording") -> None:
    """Refuse clips too short to hold a word."""
    if seconds < MIN_SECONDS:
        raise AudioTooShortError(
            f"{name} is only {seconds:.1f} s long; that is too short to transcribe.",
            f"Record at least {MIN_SECONDS:g} s of speech.",
        )
