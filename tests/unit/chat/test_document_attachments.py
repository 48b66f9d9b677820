"""Word, PowerPoint, HTML, text and e-mail files attached to a question join the library like PDFs: indexed,
searched, and cited by section, slide or lines (real library, scripted model)."""

from __future__ import annotations

import pytest

from tests.fixtures import office_docs as od
from tests.fixtures.turns import steps


@pytest.mark.parametrize(
    ("name", "data", "question", "place"),
    [
        ("report.docx", od.word_report(), "Which office reported a record month?", "report.docx › 3.2 Revenue ¶1"),
        ("deck.pptx", od.slide_deck(), "What happened to the warehouse in the south?", "deck.pptx, slide 2"),
        ("notes.md", od.MARKDOWN_NOTES.encode(), "Which port does the proxy use?", "notes.md › Setup (lines 7–12)"),
    ],
)
def test_an_attached_document_is_indexed_and_cited_by_its_section(make_env, fake_model, name, data, question,
                                                                   place):
    assistant, _, _ = make_env(documents=True)
    fake_model.queue("The answer is in the document [1].")
    result = assistant.ask(question, files=[(name, data)]).run()
    assert result.status == "ok"
    assert steps(result)[0] == ("index_document", True)
    prompt = fake_model.sent[-1][-1].content
    assert f"] {place}:" in prompt  # the model reads where each passage is
    assert result.citations and all(c["source"] == name and c["locator"] for c in result.citations)
