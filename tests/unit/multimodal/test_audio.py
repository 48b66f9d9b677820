"""Audio decoding (PyAV) and the transcriber's handling of bad input, without running whisper on speech."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.errors import BadInputError
from multimodal.audio import (
    SAMPLE_RATE,
    AudioFormatError,
    AudioTooShortError,
    NoSpeechError,
    decode_audio,
    is_cancelled,
    open_audio,
)
from multimodal.transcribe import AudioTooLongError, WhisperTranscriber, format_timestamp
from tests.fixtures.media import (
    SPEECH_WAV,
    encode_audio,
    encode_silence_flac,
    encode_video,
    shared_whisper_dir,
    speech_samples,
)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return speech_samples()


@pytest.fixture(scope="module")
def transcriber() -> WhisperTranscriber:
    return WhisperTranscriber(shared_whisper_dir(), size="tiny.en")


def test_wav_fixture_decodes_to_16k_mono_float32():
    audio = decode_audio(SPEECH_WAV)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.duration == pytest.approx(2.99, abs=0.02)
    assert audio.info.container == "wav" and audio.info.sample_rate == SAMPLE_RATE
    assert audio.warnings == []


@pytest.mark.parametrize(
    ("fmt", "codec", "rate"),
    [("mp3", "libmp3lame", 16_000), ("ipod", "aac", 16_000), ("ogg", "libopus", 48_000),
     ("flac", "flac", 16_000), ("webm", "libopus", 48_000)],
)
def test_every_supported_format_decodes_from_bytes(speech, fmt, codec, rate):
    data = encode_audio(speech, fmt, codec, rate=rate)
    audio = decode_audio(data, f"clip.{fmt}")
    assert audio.duration == pytest.approx(len(speech) / SAMPLE_RATE, abs=0.15)
    # The decoded signal is the speech, not noise: correlated with the original.
    n = min(len(speech), len(audio.samples)) - 4000
    corr = max(np.corrcoef(speech[:n], audio.samples[lag : lag + n])[0, 1] for lag in range(0, 2000, 1))
    assert corr > 0.8


def test_stereo_44k_is_downmixed_and_resampled():
    t = np.arange(44_100 * 2) / 44_100
    tone = 0.5 * np.sin(2 * np.pi * 300 * t)
    data = encode_audio(tone, "flac", "flac", rate=44_100, in_rate=44_100)
    audio = decode_audio(data)
    assert audio.duration == pytest.approx(2.0, abs=0.05)


def test_text_renamed_mp3_is_refused(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("Meeting notes: discuss Q3 budget.\n" * 20, encoding="utf-8")
    with pytest.raises(AudioFormatError, match="text file, not audio"):
        decode_audio(path)


def test_random_bytes_and_empty_are_refused():
    with pytest.raises(AudioFormatError, match="not an audio file"):
        decode_audio(bytes(range(256)) * 40, "noise.bin")
    with pytest.raises(AudioFormatError, match="empty"):
        decode_audio(b"", "empty.wav")


def test_video_without_audio_is_refused():
    with pytest.raises(AudioFormatError, match="video with no sound track"):
        decode_audio(encode_video(with_audio=False), "screen.mp4")


def test_video_with_audio_uses_its_sound_and_says_so():
    audio = decode_audio(encode_video(with_audio=True), "talk.mp4")
    assert audio.duration == pytest.approx(1.0, abs=0.1)
    assert any("video" in w for w in audio.warnings)


def test_truncated_mp3_decodes_what_is_there_and_warns(speech):
    mp3 = encode_audio(speech, "mp3", "libmp3lame")
    audio = decode_audio(mp3[: len(mp3) // 2], "cut.mp3")
    assert 1.0 < audio.duration < 2.5
    assert any("truncated" in w for w in audio.warnings)


def test_truncated_m4a_says_damaged(speech):
    m4a = encode_audio(speech, "ipod", "aac")
    with pytest.raises(AudioFormatError, match="damaged or incomplete"):
        decode_audio(m4a[: len(m4a) // 2], "cut.m4a")


def test_chunks_are_contiguous_bounded_and_complete():
    rng = np.random.default_rng(0)
    seconds = 95
    signal = (0.1 * rng.standard_normal(seconds * SAMPLE_RATE)).astype(np.float32)
    signal[40 * SAMPLE_RATE : 41 * SAMPLE_RATE] = 0  # a pause the chunker may cut at
    data = encode_audio(signal, "flac", "flac")
    with open_audio(data) as stream:
        chunks = list(stream.chunks(30.0))
    assert [round(c.start, 3) for c in chunks] == sorted(round(c.start, 3) for c in chunks)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start == pytest.approx(a.start + a.duration, abs=1e-6)
    assert all(c.duration <= 30.0 for c in chunks)
    assert sum(len(c.samples) for c in chunks) == pytest.approx(seconds * SAMPLE_RATE, abs=SAMPLE_RATE * 0.05)


def test_cancel_tokens():
    event = threading.Event()
    assert not is_cancelled(event) and not is_cancelled(None) and not is_cancelled(lambda: False)
    event.set()
    assert is_cancelled(event) and is_cancelled(lambda: True)


def test_short_clip_is_refused(transcriber, speech):
    clip = encode_audio(speech[: int(0.2 * SAMPLE_RATE)], "wav", "pcm_s16le")
    with pytest.raises(AudioTooShortError, match="too short"):
        transcriber.transcribe(clip, name="blip.wav")


def test_silence_says_no_speech_found(transcriber):
    silence = encode_audio(np.zeros(5 * SAMPLE_RATE, np.float32), "wav", "pcm_s16le")
    with pytest.raises(NoSpeechError, match="No speech found"):
        transcriber.transcribe(silence, name="quiet.wav")


@pytest.fixture(scope="module")
def two_hours() -> bytes:
    return encode_silence_flac(2 * 3600)


def test_two_hour_recording_streams_with_progress(transcriber, two_hours):
    seen: list[tuple[float, float | None]] = []
    with pytest.raises(NoSpeechError, match="2:00:00"):
        transcriber.transcribe(two_hours, name="all-day.flac", progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0.0, pytest.approx(7200.0))
    assert seen[-1][0] == pytest.approx(7200.0, abs=0.1)
    assert len(seen) > 200  # one update per ~30 s window


def test_two_hour_recording_can_be_cancelled(transcriber, two_hours):
    cancel = threading.Event()
    seen: list[float] = []

    def progress(done: float, total: float | None) -> None:
        seen.append(done)
        if done >= 120:
            cancel.set()

    result = transcriber.transcribe(two_hours, name="all-day.flac", progress=progress, cancel=cancel)
    assert result.cancelled and result.segments == []
    assert 120 <= result.duration < 200 and max(seen) < 200


def test_limit_refuses_overlong_recordings(two_hours):
    short_limit = WhisperTranscriber(shared_whisper_dir(), size="tiny.en", max_seconds=3600)
    with pytest.raises(AudioTooLongError, match="2:00:00 long; the limit is 1:00:00"):
        short_limit.transcribe(two_hours, name="all-day.flac")


def test_english_only_model_refuses_other_languages(transcriber):
    with pytest.raises(BadInputError, match="only understands English"):
        transcriber.transcribe(SPEECH_WAV, language="de")


def test_timestamps_format():
    assert format_timestamp(751.4) == "12:31"
    assert format_timestamp(3725) == "1:02:05"


def test_unknown_language_is_a_user_error(transcriber):
    with pytest.raises(BadInputError, match="does not know the language 'klingon'"):
        transcriber.transcribe(SPEECH_WAV, language="klingon")
