"""What was worked around while reading a file reaches its ingest result as one plain line (issue 17, finding 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.documents.library import DocumentLibrary
from multimodal.transcribe import WhisperTranscriber
from tests.fixtures.media import encode_audio, encode_video, shared_whisper_dir, speech_samples


def _lib(tmp_path: Path) -> DocumentLibrary:
    tiny = WhisperTranscriber(shared_whisper_dir(), size="tiny.en")
    return DocumentLibrary(tmp_path / "data", transcriber_provider=lambda: tiny)


def test_a_video_with_sound_says_only_its_sound_was_used(tmp_path: Path) -> None:
    path = tmp_path / "talk.mp4"
    path.write_bytes(encode_video(with_audio=True, seconds=2.0))
    result = _lib(tmp_path).ingest_file(path)
    assert result.status == "indexed", result.error
    assert result.warnings == ("talk.mp4 is a video; only its sound track is used.",)


def test_a_cut_off_mp3_is_indexed_with_lines_saying_so(tmp_path: Path) -> None:
    speech = np.concatenate([speech_samples()] * 2)
    data = encode_audio(speech, "mp3", "libmp3lame")
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[: len(data) * 2 // 3] + bytes(range(256)) * 8)  # cut off, then garbage
    result = _lib(tmp_path).ingest_file(path)
    assert result.status == "indexed", result.error
    assert result.warnings and all("cut.mp3" in w for w in result.warnings)
    assert any("truncated or damaged" in w for w in result.warnings)
