"""What a file that is not a recording is called when it is given to be transcribed (issue 17, finding 10)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from app.commands.media import transcribe_payload
from multimodal.audio import AudioFormatError, decode_audio
from multimodal.transcribe import WhisperTranscriber
from tests.fixtures import pdf_factory as pf
from tests.fixtures.media import encode_video, render_text, shared_whisper_dir


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    render_text([((20, 40), "Invoice total 420 euros")]).convert("RGB").save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "chart.png"), ("JPEG", "photo.jpg"), ("GIF", "clip.wav"),
                                           ("WEBP", "scan.webp"), ("TIFF", "page.tif")])
def test_an_image_is_called_an_image_not_a_silent_video(fmt: str, name: str) -> None:
    with pytest.raises(AudioFormatError) as err:
        decode_audio(_image(fmt), name)
    message = err.value.one_line()
    assert f"{name} is an image" in message and "not a recording" in message
    assert "video" not in message.split(" — ")[0]
    assert "OCR" in message or "ocr" in message  # says what to do with an image instead


def test_a_pdf_is_called_a_pdf() -> None:
    with pytest.raises(AudioFormatError, match=r"report\.pdf is a PDF document, not a recording"):
        decode_audio(pf.text_pdf([["The budget is 15,000 euros."]]), "report.pdf")


def test_random_bytes_named_png_are_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "random.png"  # FFmpeg's image2 reader takes the name and calls it a video stream
    path.write_bytes(b"\x00" + os.urandom(3000))
    with pytest.raises(AudioFormatError) as err:
        decode_audio(path)
    assert "video" not in err.value.message
    assert "random.png is not" in err.value.message


def test_a_real_video_without_sound_is_still_called_one() -> None:
    with pytest.raises(AudioFormatError, match="video with no sound track"):
        decode_audio(encode_video(with_audio=False), "screen.mp4")


def test_transcribe_command_on_a_png_says_image(tmp_path: Path) -> None:
    path = tmp_path / "invoice.png"
    path.write_bytes(_image("PNG"))
    transcriber = WhisperTranscriber(shared_whisper_dir(), size="tiny.en")
    with pytest.raises(AudioFormatError, match=r"invoice\.png is an image \(PNG\), not a recording"):
        transcribe_payload(transcriber, path)
