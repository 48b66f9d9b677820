"""The demo workspace in the app: "Load the demo" on an empty library, and suggested questions in an empty chat."""

from __future__ import annotations

import streamlit as st

from app.access.roles import WRITE
from app.container import Services
from app.demo.load import DOCUMENTS, SUGGESTED_QUESTIONS, load_demo
from app.errors import AssistantError
from app.ui.common import show_error


def demo_button(services: Services) -> None:
    """Offer the bundled demo material (public PDF, table, image, recording) when the library is empty."""
    actor = getattr(services, "actor", None)  # pages may be drawn with only the services they use
    if actor is not None and not actor.may(WRITE):
        return  # a viewer cannot add anything; the button would only be refused
    st.caption("New here? Load a small demo: an R manual (PDF), a WHO air-quality table, a chart image and a "
               "27-second public-domain recording, all public (sources in app/demo/data/SOURCES.md).")
    if not st.button("Load the demo", icon=":material/rocket_launch:", key="documents.demo"):
        return
    with st.status("Loading the demo (about a minute)…", expanded=True) as status:
        try:
            load = load_demo(services.documents, services.tables, services.records, services.settings.user,
                             lambda message: status.write(message))
        except AssistantError as exc:
            status.update(label="The demo could not be loaded", state="error")
            show_error(exc)
            return
        for file in load.files:
            status.write(f"{file.status}: {file.name} ({file.detail})")
        failed = load.failed
        status.update(label=f"Demo loaded in {load.seconds} s" + (f"; {len(failed)} file(s) failed" if failed
                                                                  else ": ask one of the suggested questions "
                                                                  "on the Chat page"),
                      state="error" if failed else "complete")


def demo_loaded(services: Services) -> bool:
    """Whether the demo documents are in this library (the suggested questions are about them)."""
    try:
        names = {d.name for d in services.documents.list_documents()}
    except AssistantError:
        return False
    return set(DOCUMENTS) <= names


def suggested_question(services: Services) -> tuple[str, list[tuple[str, bytes]]] | None:
    """Chips with the demo's questions in an empty chat; the clicked one as (question, no files)."""
    if not demo_loaded(services):
        return None
    st.caption("Try a question about the demo material:")
    columns = st.columns(2)
    for n, question in enumerate(SUGGESTED_QUESTIONS):
        if columns[n % 2].button(question, key=f"chat.suggested.{n}", width="stretch"):
            return question, []
    return None
