"""Images and recordings in the document library: real OCR, real whisper (tiny.en), timestamps in citations."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from app.chat.grounding import citation
from app.commands import docs
from app.documents.library import DocumentLibrary, IngestProgress
from app.documents.media import MediaText
from app.documents.search import Passage, format_passages
from multimodal.chunking import chunk_segments, join_segments
from multimodal.transcribe import WhisperTranscriber
from tests.fixtures import pdf_factory as pf
from tests.fixtures.media import SPEECH_WAV, render_text, shared_whisper_dir, speech_samples

PAGE = Path(__file__).resolve().parents[3] / "pages" / "documents.py"


@pytest.fixture(scope="module")
def tiny() -> WhisperTranscriber:
    return WhisperTranscriber(shared_whisper_dir(), size="tiny.en")


@pytest.fixture()
def lib(tmp_path: Path, tiny: WhisperTranscriber) -> DocumentLibrary:
    return DocumentLibrary(tmp_path / "data", transcriber_provider=lambda: tiny)


def _png(path: Path, lines: list[str]) -> Path:
    image = render_text([((20, 20 + 70 * i), text) for i, text in enumerate(lines)], size=(900, 80 + 70 * len(lines)))
    image.save(path, "PNG")
    return path


def _recording(tmp_path: Path, name: str = "meeting.wav") -> Path:
    return Path(shutil.copyfile(SPEECH_WAV, tmp_path / name))  # "He was not an ill disposed young man"


def _late_recording(path: Path, silence_s: float = 6.0) -> Path:
    """The fixture's speech after some silence, so its timestamp is not 0:00."""
    import wave

    import numpy as np

    pcm = (np.concatenate([np.zeros(int(16_000 * silence_s), np.float32), speech_samples()]) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(pcm.tobytes())
    return path


def test_image_is_indexed_by_its_text_and_cited_as_the_image(lib: DocumentLibrary, tmp_path: Path) -> None:
    path = _png(tmp_path / "whiteboard.png", ["Forklift inspection due in March", "Owner: Priya Raman"])
    result = lib.ingest_file(path)
    assert (result.status, result.kind, result.pages, result.error) == ("indexed", "image", 1, "")
    assert result.chunks == 1 and result.ocr_pages == 1
    (top, *_) = lib.search("when is the forklift inspection", k=3)
    assert (top.source, top.page, top.kind, top.start_s) == ("whiteboard.png", 1, "image", None)
    assert "Forklift inspection" in top.text
    assert lib.page_text(top.doc_id, 1)[top.char_start : top.char_end] == top.text
    cite = citation(1, top)
    assert (cite["source"], cite["page"], cite["kind"]) == ("whiteboard.png", 1, "image") and "timestamp" not in cite
    assert "[1] whiteboard.png (text read from the image):" in format_passages([top])
    stored = lib.file_path(top.doc_id)
    assert stored.suffix == ".png" and stored.read_bytes() == path.read_bytes()
    assert lib.get(top.doc_id).title.startswith("PNG image, 900×")
    again = lib.reindex(top.doc_id)
    assert (again.status, again.kind, again.chunks, lib.vectors.count()) == ("indexed", "image", 1, 1)


def test_recording_is_indexed_with_timestamps_and_deleted_cleanly(lib: DocumentLibrary, tmp_path: Path) -> None:
    events: list[IngestProgress] = []
    result = lib.ingest_file(_recording(tmp_path), progress=events.append)
    assert (result.status, result.kind, result.pages, result.error) == ("indexed", "audio", 1, "")
    assert result.chunks >= 1
    transcribing = [e for e in events if e.stage == "transcribe"]
    assert transcribing and transcribing[-1].seconds == pytest.approx(2.99, abs=0.05)
    assert transcribing[-1].total_seconds == pytest.approx(2.99, abs=0.05)
    assert [e.stage for e in events][0] == "start" and [e.stage for e in events][-2:] == ["page", "done"]

    (top, *_) = lib.search("disposed young man", k=3)
    assert (top.source, top.page, top.kind) == ("meeting.wav", 1, "audio")
    assert "young man" in top.text.lower()
    assert top.start_s is not None and top.end_s is not None and 0 <= top.start_s < top.end_s <= 3.1
    assert lib.page_text(top.doc_id, 1)[top.char_start : top.char_end] == top.text
    cite = citation(1, top)
    assert (cite["kind"], cite["timestamp"], cite["page"]) == ("audio", "0:00", 1)
    assert cite["start"] == top.start_s and cite["end"] == top.end_s
    assert "[1] meeting.wav @ 0:00:" in format_passages([top])
    stored = lib.file_path(top.doc_id)
    assert stored.suffix == ".wav" and stored.read_bytes() == SPEECH_WAV.read_bytes()

    lib.delete(top.doc_id)
    assert lib.vectors.count() == 0 and lib.keywords.count() == 0 and lib.list_documents() == []
    assert not stored.exists() and lib.registry.segments(top.doc_id) == []
    assert lib.search("disposed young man", k=3) == []


def test_re_embedding_a_recording_keeps_its_times(tmp_path: Path, tiny: WhisperTranscriber) -> None:
    from storage.embedder import OnnxMiniLM, shared_embedder

    first = DocumentLibrary(tmp_path / "data", transcriber_provider=lambda: tiny)
    first.ingest_file(_recording(tmp_path))
    (before,) = first.search("young man", k=1)
    base = shared_embedder()

    class Renamed(OnnxMiniLM):
        model_id = "renamed-model"

        def __init__(self) -> None:
            self.__dict__.update(base.__dict__)

    def no_whisper() -> WhisperTranscriber:
        raise AssertionError("re-embedding must not transcribe again")

    lib = DocumentLibrary(tmp_path / "data", embedder=Renamed(), transcriber_provider=no_whisper)
    (result,) = lib.resume()
    assert (result.status, result.kind) == ("indexed", "audio")
    (after,) = lib.search("young man", k=1)
    assert (after.start_s, after.end_s, after.text, after.kind) == (before.start_s, before.end_s, before.text, "audio")


@pytest.mark.parametrize(
    ("name", "data", "error_type", "says"),
    [
        ("notes.wav", b"Minutes of the meeting: nothing was decided.\n" * 20, "AudioFormatError", "text file"),
        ("notes.dat", b"Minutes of the meeting: nothing was decided.\n" * 20, "UnsupportedFileError",
         "not a PDF, an image or a recording"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 100, "ImageDamagedError", "damaged"),
    ],
)
def test_bad_media_is_a_clear_error_and_stores_nothing(
    lib: DocumentLibrary, tmp_path: Path, name: str, data: bytes, error_type: str, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    result = lib.ingest_file(path)
    assert (result.status, result.error_type) == ("error", error_type) and says in result.error
    assert lib.list_documents() == [] and list(lib.files_dir.iterdir()) == []


def test_image_without_text_says_there_is_nothing_to_search(lib: DocumentLibrary, tmp_path: Path) -> None:
    path = tmp_path / "sky.png"
    Image.new("RGB", (400, 300), (90, 150, 230)).save(path)
    result = lib.ingest_file(path)
    assert (result.status, result.kind, result.error_type) == ("error", "image", "NoTextInImageError")
    assert result.error.startswith("No text found in sky.png; nothing to search.")
    assert lib.list_documents() == [] and list(lib.files_dir.iterdir()) == []


def test_long_transcript_chunks_are_timed_slices_and_search_keeps_separate_moments(lib: DocumentLibrary) -> None:
    topics = ["The budget for the new warehouse roof is still open.",
              "We are hiring two forklift drivers for the night shift.",
              "The catering contract renewal is due in June."]
    segments = [(i * 6.0, i * 6.0 + 5.5, topics[(i // 12) % 3]) for i in range(60)]  # 12 segments per topic
    text, spans = join_segments(segments)
    chunks = chunk_segments(text, spans, max_chars=300)
    assert len(chunks) > 5
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start_s == a.end_s - 5.5 and b.char_start < a.char_end  # one segment of overlap
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text and len(c.text) <= 300
    media = MediaText("audio", text, "transcript", "Recording", chunks, spans)
    (lib.files_dir / "x.m4a").write_bytes(b"not played in this test")
    lib._index_media(Path("standup.m4a"), lib.files_dir / "x.m4a", "doc1", "sha1", media, lambda *a, **k: None, 0.0)
    hits = lib.search("hiring forklift drivers", k=4)
    assert len(hits) >= 2 and {h.source for h in hits} == {"standup.m4a"}
    for i, a in enumerate(hits):  # different moments of one recording, none overlapping another
        for b in hits[i + 1 :]:
            assert a.end_s <= b.start_s or b.end_s <= a.start_s


def test_format_and_citation_of_an_audio_passage_at_twelve_minutes() -> None:
    p = Passage("d", "meeting.m4a", 1, 0.1, "We agreed to ship in May.", "d:1:3", 10, 35, 0.5, False,
                start_s=751.2, end_s=779.0, kind="audio")
    assert format_passages([p]).startswith("[1] meeting.m4a @ 12:31:\n")
    cite = citation(2, p)
    assert (cite["timestamp"], cite["start"], cite["end"], cite["page"]) == ("12:31", 751.2, 779.0, 1)


def _cli(services: SimpleNamespace, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    parser = argparse.ArgumentParser()
    docs.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.handler(args, services)
    return code, json.loads(capsys.readouterr().out)


def test_cli_ingests_a_folder_of_pdf_image_and_recording(
    lib: DocumentLibrary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    pf.write(folder / "budget.pdf", pf.text_pdf([["The travel budget for 2024 is 15,000 euros."]]))
    _png(folder / "chart.png", ["Quarterly revenue grew 12%"])
    _recording(folder, "voice.wav")
    (folder / "readme.xyz").write_text("not a document")
    services = SimpleNamespace(documents=lib)
    code, out = _cli(services, ["ingest", str(folder), "--json"], capsys)
    files = {Path(f["path"]).name: f for f in out["files"]}
    assert code == 0
    assert {n: (f["kind"], f["status"]) for n, f in files.items() if f["status"] != "skipped"} == {
        "budget.pdf": ("pdf", "indexed"), "chart.png": ("image", "indexed"), "voice.wav": ("audio", "indexed")}
    assert files["readme.xyz"]["status"] == "skipped"
    for f in files.values():
        assert set(f) >= {"path", "id", "kind", "status", "error", "pages", "chunks", "seconds"}

    code, out = _cli(services, ["search", "ill disposed young man", "--k", "1", "--json"], capsys)
    (hit,) = out["results"]
    assert (hit["source"], hit["kind"], hit["timestamp"]) == ("voice.wav", "audio", "0:00")
    assert hit["start"] < hit["end"]
    code, out = _cli(services, ["search", "quarterly revenue", "--k", "1", "--json"], capsys)
    assert out["results"][0]["source"] == "chart.png" and "timestamp" not in out["results"][0]
    code, out = _cli(services, ["docs", "list", "--json"], capsys)
    assert sorted(d["kind"] for d in out["documents"]) == ["audio", "image", "pdf"]


def test_documents_page_shows_kinds_timestamps_and_a_player(
    lib: DocumentLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    streamlit_testing = pytest.importorskip("streamlit.testing.v1")
    import app.ui.common

    lib.ingest_file(_recording(tmp_path))
    monkeypatch.setattr(app.ui.common, "get_services", lambda: SimpleNamespace(documents=lib))
    at = streamlit_testing.AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception
    assert at.dataframe[0].value["kind"].tolist() == ["audio"]
    at.text_input(key="documents.query").input("ill disposed young man").run()
    assert not at.exception
    assert any("meeting.wav @ 0:00" in m.value for m in at.markdown)
    assert len(at.get("audio")) == 1


SERVICES: SimpleNamespace | None = None


def _citations_script() -> None:
    from types import SimpleNamespace

    from app.ui.chat_citations import render_citations
    from tests.unit.documents import test_ingest_media as t

    render_citations(t.SERVICES, SimpleNamespace(id="m1", meta={"citations": t.SERVICES.citations}))


def test_chat_citation_of_a_recording_plays_from_its_timestamp(tmp_path: Path) -> None:
    streamlit_testing = pytest.importorskip("streamlit.testing.v1")
    global SERVICES

    # 5 s windows: the silent first window is skipped, so the speech is timed from its window (~5-6 s).
    windowed = WhisperTranscriber(shared_whisper_dir(), size="tiny.en", window_seconds=5.0)
    lib = DocumentLibrary(tmp_path / "data", transcriber_provider=lambda: windowed)
    lib.ingest_file(_late_recording(tmp_path / "meeting.wav"))
    lib.ingest_file(_png(tmp_path / "note.png", ["Renewal deadline is Friday"]))
    audio = lib.search("young man", k=1)[0]
    assert audio.start_s is not None and 3.0 <= audio.start_s <= 7.0
    image = lib.search("renewal deadline", k=1)[0]
    SERVICES = SimpleNamespace(documents=lib, citations=[citation(1, audio), citation(2, image)])
    try:
        at = streamlit_testing.AppTest.from_function(_citations_script, default_timeout=60).run()
    finally:
        SERVICES = None
    assert not at.exception
    # Labels are markdown with the brackets escaped (text from files never becomes a link); read as shown.
    assert [e.label.replace("\\", "") for e in at.expander] == [f"[1] meeting.wav @ 0:0{int(audio.start_s)}",
                                                                 "[2] note.png"]
    (player,) = at.get("audio")
    assert player.proto.start_time == int(audio.start_s) and player.proto.url
    assert len(at.get("image")) == 1
