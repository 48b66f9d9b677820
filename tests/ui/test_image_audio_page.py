"""The Images & audio page under streamlit's AppTest (uploads are not drivable by AppTest; services are real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.container import Services
from tests.fixtures.paths import FIXTURES

PAGE = Path(__file__).resolve().parents[2] / "pages" / "media.py"


@pytest.fixture()
def services(media_page_services: Services) -> Services:
    return media_page_services  # tests/ui/conftest.py: real services, one shared Whisper


def test_page_renders_with_model_choice(services) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Image", "Audio"]
    assert list(at.selectbox(key="media.size").options) == ["base", "tiny.en"]
    assert at.text_input(key="media.language").value == ""


def test_cancel_is_gone_once_the_transcription_finished(services) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=300).run()
    wav = (FIXTURES / "audio" / "ten_of_clubs.wav").read_bytes()
    at.file_uploader(key="media.audio").set_value(("cards.wav", wav, "audio/wav"))
    at.selectbox(key="media.size").set_value("tiny.en").run()
    at.button(key="media.go").click().run()
    assert not at.exception and not at.error
    assert at.radio(key="media.segment").options  # the transcript is shown …
    assert not [b for b in at.button if b.label == "Cancel"]  # … and there is nothing left to cancel
    (record,) = services.records.query(kind="transcribe")  # the run is in the audit trail
    assert record["origin"] == "images & audio page" and record["status"] == "ok" and record["file_name"] == "cards.wav"
