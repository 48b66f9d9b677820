"""Builders for test media: audio encoded with PyAV, images drawn with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SPEECH_WAV = FIXTURES / "audio" / "ill_disposed.wav"  # "He was not an ill disposed young man" (LibriVox)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def encode_audio(samples: np.ndarray, fmt: str, codec: str, rate: int = 16_000, in_rate: int = 16_000) -> bytes:
    """Encode mono float samples into a container/codec with PyAV (no ffmpeg binary needed)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        step = in_rate * 10  # feed 10 s frames so long inputs do not build one giant frame
        for i in range(0, pcm.shape[1], step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i : i + step]), format="s16", layout="mono")
            frame.sample_rate = in_rate
            for out in resampler.resample(frame):
                for packet in stream.encode(out):
                    container.mux(packet)
        for out in resampler.resample(None):
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def encode_silence_flac(seconds: float, rate: int = 8_000) -> bytes:
    """A long all-silent FLAC (compresses to almost nothing), for duration limits and cancel."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        block = np.zeros((1, rate * 60), dtype=np.int16)
        for _ in range(int(seconds // 60)):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def encode_video(with_audio: bool, seconds: float = 1.0) -> bytes:
    """A tiny MP4 with a video track and optionally a sine-tone audio track."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16_000, layout="mono") if with_audio else None
        for i in range(int(seconds * 10)):
            img = np.full((48, 64, 3), (i * 20) % 255, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio is not None:
            t = np.arange(int(seconds * 16_000)) / 16_000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            frame.sample_rate = 16_000
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=16_000)
            for out in resampler.resample(frame) + resampler.resample(None):
                for packet in audio.encode(out):
                    container.mux(packet)
            for packet in audio.encode(None):
                container.mux(packet)
    return buf.getvalue()


def speech_samples() -> np.ndarray:
    """The fixture's speech as 16 kHz mono float32."""
    import wave

    with wave.open(str(SPEECH_WAV)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def render_text(lines: list[tuple[tuple[int, int], str]], size=(900, 300), font_size: int = 28):
    """An RGB image with text drawn at the given positions (DejaVu if installed, else PIL's default)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), font_size) if FONT.exists() else ImageFont.load_default(size=font_size)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for xy, text in lines:
        draw.text(xy, text, font=font, fill="black")
    return image


_WHISPER_DIR: Path | None = None


def shared_whisper_dir() -> Path:
    """One temporary data dir per test process, so the whisper conversion runs once for all media tests."""
    import atexit
    import shutil
    import tempfile

    global _WHISPER_DIR
    if _WHISPER_DIR is None:
        _WHISPER_DIR = Path(tempfile.mkdtemp(prefix="analyst-whisper-"))
        atexit.register(shutil.rmtree, _WHISPER_DIR, True)
    return _WHISPER_DIR
