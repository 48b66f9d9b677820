"""The demo in the app: "Load the demo" on an empty Documents page, then the suggested questions as chips in an
empty chat (clicking one asks it)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.demo.load import SUGGESTED_QUESTIONS
from storage.records import SqliteRecordStore
from tests.fixtures.paths import ENTRY


def test_an_empty_chat_without_the_demo_shows_no_chips(data_dir):
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    assert not [b for b in at.button if b.key and b.key.startswith("chat.suggested.")]


@pytest.mark.slow
def test_load_the_demo_then_a_chip_asks_its_question(data_dir, packaged_model_path):
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    at.switch_page("../pages/documents.py").run()
    assert not at.exception
    at.button(key="documents.demo").click().run(timeout=400)
    assert not at.exception
    labels = " ".join(s.label for s in at.status)
    assert "Demo loaded in" in labels and "failed" not in labels
    (loaded,) = SqliteRecordStore(data_dir / "records.sqlite").query(kind="demo_loaded")
    assert loaded["status"] == "ok" and len(loaded["files"]) == 4

    at = AppTest.from_file(ENTRY, default_timeout=60).run()  # the Chat page, as after a reload
    chips = sorted((b for b in at.button if b.key and b.key.startswith("chat.suggested.")), key=lambda b: b.key)
    assert [b.label for b in chips] == list(SUGGESTED_QUESTIONS)
    chips[0].click().run(timeout=300)
    assert not at.exception
    users = [" ".join(md.value for md in m.markdown) for m in at.chat_message if m.name == "user"]
    assert users == [SUGGESTED_QUESTIONS[0]]
