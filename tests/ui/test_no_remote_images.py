"""Finding 5 (issue 17): a markdown image (a beacon) in a document passage or in a model's answer is shown as
text, never as an image the browser would fetch: in the chat (answer, collapsed citation, tool steps), on the
Audit page (answer, notices) and on the Tables page (the answer in words). AppTest gives the markdown each
element is sent with; it is rendered here with a CommonMark renderer to see what the browser would draw."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.container import build_services
from app.settings import load_settings
from storage.conversations import OK
from storage.records import SqliteRecordStore
from tests.fixtures.markdown import BEACON, BEACON_ANSWER, BEACON_PASSAGE, fetches_or_links
from tests.fixtures.paths import ENTRY


def _seed_conversation() -> None:
    services = build_services(load_settings())
    try:
        conv = services.conversations.create("Beacon")
        services.conversations.add_message(conv.id, "user", "What does the report say?", OK, {})
        cite = {"n": 1, "source": "report.pdf", "page": 1, "quote": BEACON_PASSAGE, "doc_id": "",
                "chunk_id": "c1", "char_start": 0, "char_end": len(BEACON_PASSAGE)}
        step = {"name": "search_documents", "input": "report", "ok": True, "seconds": 0.1,
                "output": f"1 passage: {BEACON_PASSAGE}", "text": BEACON_PASSAGE}
        services.conversations.add_message(conv.id, "assistant", BEACON_ANSWER, OK,
                                           {"citations": [cite], "tools": [step],
                                            "notices": [f"Note: {BEACON_PASSAGE}"]})
    finally:
        services.close()


def _rendered(at: AppTest) -> list[str]:
    """Every markdown string the page sent (markdown, captions, alerts, expander labels)."""
    texts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    texts += [e.value for kind in ("error", "warning", "info", "success") for e in at.get(kind)]
    texts += [e.proto.expandable.label for e in at.get("expandable") if hasattr(e.proto, "expandable")]
    return texts


def test_beacon_images_in_a_chat_answer_and_its_citation_are_shown_as_text(data_dir):
    _seed_conversation()
    at = AppTest.from_file(ENTRY, default_timeout=60).run()
    assert not at.exception
    texts = _rendered(at)
    assert any(BEACON in t for t in texts), "the beacon's text is still on the page, as text"
    offenders = [t for t in texts if fetches_or_links(t)]
    assert not offenders, offenders


def test_beacon_images_in_an_audit_record_are_shown_as_text(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteRecordStore(data_dir / "records.sqlite")
    record_id = store.append("chat", {
        "user": "alice", "question": "What does the report say?", "answer": BEACON_ANSWER, "status": "ok",
        "model": "qwen", "backend": "embedded", "notices": [f"Note: {BEACON_PASSAGE}"],
        "citations": [{"n": 1, "source": BEACON_PASSAGE[:60], "page": 1}],
    })
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.switch_page("../pages/audit.py")
    at.run()
    at.selectbox(key="audit.open").set_value(record_id).run()
    assert not at.exception
    texts = _rendered(at)
    assert any(BEACON in t for t in texts)
    offenders = [t for t in texts if fetches_or_links(t)]
    assert not offenders, offenders
