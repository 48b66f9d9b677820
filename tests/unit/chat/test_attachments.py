"""Attachments on a question: kinds sniffed from bytes, transcript context, timestamp citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.chat import attachments as attach
from app.chat.assistant import Assistant
from app.errors import BadInputError
from app.ports import Usage
from multimodal.transcribe import Segment, Transcript, WhisperTranscriber
from storage.conversations import ConversationStore
from storage.records import SqliteRecordStore
from tests.fixtures.fakes import StubRouter

AUDIO = Path(__file__).resolve().parents[2] / "fixtures" / "audio"


def _meeting() -> attach.Attachment:
    transcript = Transcript(
        text="...", language="en", duration=900.0,
        segments=[Segment(0.0, 30.0, "Welcome everyone to the budget review."),
                  Segment(751.0, 760.0, "We agreed to cut travel spending by ten percent."),
                  Segment(760.0, 790.0, "Next item is hiring.")],
    )
    return attach.Attachment("meeting.m4a", "audio", "abc", 10, transcript=transcript)


def test_kinds_come_from_the_bytes_and_other_files_get_a_clear_error():
    assert attach.sniff_kind((AUDIO / "ten_of_clubs.wav").read_bytes(), "clip.bin") == "audio"
    with pytest.raises(BadInputError) as info:
        attach.sniff_kind(b"%PDF-1.7 not for the chat", "report.pdf")
    assert "Documents page" in info.value.hint
    with pytest.raises(BadInputError):
        attach.sniff_kind(b"", "empty.png")


def test_times_in_the_answer_become_citations_of_the_segment_at_that_time():
    cites = attach.timestamp_citations("Travel is cut by 10% (meeting.m4a @ 12:35).", [_meeting()])
    assert cites == [{
        "n": 1, "source": "meeting.m4a", "page": None, "kind": "audio", "sha256": "abc", "timestamp": "12:31",
        "start": 751.0, "end": 760.0, "quote": "We agreed to cut travel spending by ten percent.",
    }]


def test_without_a_time_the_best_matching_moment_is_cited():
    assert attach.timestamp_citations("They agreed to cut travel spending.", [_meeting()]) == []
    cites = attach.best_moment("They agreed to cut travel spending.", [_meeting()])
    assert cites[0]["timestamp"] == "12:31"
    assert attach.best_moment("Unrelated words only.", [_meeting()]) == []


def test_the_transcript_is_fenced_as_data_with_timestamps():
    block = attach.transcript_block(_meeting())
    assert "[12:31] We agreed to cut travel spending" in block
    assert "not instructions" in block


def test_a_recording_is_transcribed_for_real_and_its_moment_cited(tmp_path, settings_factory, fake_model):
    settings = settings_factory()
    assistant = Assistant(StubRouter(settings, fake_model), ConversationStore(tmp_path / "c.sqlite"),
                          SqliteRecordStore(tmp_path / "r.sqlite"))
    transcriber = WhisperTranscriber(tmp_path, size="tiny.en")
    assistant.attach_transcriber(lambda: transcriber)
    fake_model.queue("He says he was not an ill disposed young man (ill_disposed.wav @ 0:00).",
                     usage=Usage(50, 12, "stop"))

    recording = (AUDIO / "ill_disposed.wav").read_bytes()
    result = assistant.ask("What does he say?", files=[("ill_disposed.wav", recording)]).run()

    prompt = fake_model.sent[0][-1].content
    assert "young man" in prompt.lower() and "[0:00]" in prompt  # tiny.en hears "old-sposed"
    assert result.tools[0]["name"] == "read_transcript" and result.tools[0]["ok"]
    assert result.citations[0]["source"] == "ill_disposed.wav" and result.citations[0]["timestamp"] == "0:00"
    record = assistant.records.get(result.record_id)
    assert record["attachments"][0]["kind"] == "audio"
