"""Streamlit glue shared by the pages: the cached services, session keys, common widgets.

Services are built once per server process (`st.cache_resource`) and shared by every
browser session; `st.session_state` holds only plain data under namespaced keys.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.container import Services, build_services
from app.errors import AssistantError
from app.llm.selector import parse_model_spec
from app.settings import load_settings

# Session-state keys, namespaced by page so pages never collide.
KEY_CONVERSATION = "chat.conversation_id"
KEY_MODEL_CHOICE = "chat.model_choice"
OLLAMA_FIX = ":material/build: Start Ollama with `ollama serve`, or set its host in Settings."


@st.cache_resource(show_spinner="Starting Analyst Assistant…")
def _services() -> Services:
    return build_services(load_settings())


def get_services() -> Services:
    """The process-wide services."""
    return _services()


def show_error(exc: AssistantError) -> None:
    """Show a user-facing error with its hint (never a traceback): the one way every page shows an error.

    A failure that is not an AssistantError (a bug) is shown through it too, as an AssistantError that names
    the exception's type and says it was recorded."""
    st.error(f"**{exc.message}**" + (f"\n\n{exc.hint}" if exc.hint else ""), icon=":material/error:")


def show_error_note(text: str, where: DeltaGenerator | None = None) -> None:
    """A one-line warning inside something otherwise drawn (a citation, a message, a sidebar list): the part
    that failed says so in `text` (an AssistantError's message, or a bug's exception type), the rest stays."""
    (where if where is not None else st).caption(f":orange[:material/warning:] {text}")


def report_render_error(services: Services, where: str, exc: BaseException, **context: str | None) -> None:
    """A part of a page that could not be drawn: recorded (kind "ui_error", counted by Monitoring), never raised.

    The caller shows what could not be drawn; the rest of the page is drawn as usual."""
    body = {"user": services.settings.user, "status": "error", "where": where,
            "error": f"{type(exc).__name__}: {exc}"[:500], **context}
    try:
        services.records.append("ui_error", body)
    except Exception:  # noqa: BLE001 - a record that cannot be written must not break the page either
        pass


def progress_reporter(label: str) -> tuple[Callable[[float, str], None], Callable[[], None]]:
    """A progress bar and a callback for long steps; returns (callback, clear)."""
    bar = st.progress(0.0, text=label)

    def report(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    def clear() -> None:
        bar.empty()

    return report, clear


def model_choice() -> dict | None:
    """This browser session's model choice as router overrides (None = follow Settings)."""
    spec = parse_model_spec(st.session_state.get(KEY_MODEL_CHOICE))
    return spec.overrides() if spec else None


def status_panel(services: Services) -> None:
    """Sidebar panel: which backend/model answers, whether it sees images, and a fix if something is wrong."""
    router = services.router
    status = router.ollama_status()
    choice = router.choose(model_choice())
    with st.sidebar.container(border=True):
        st.markdown(f"**Model:** `{choice.model or '—'}` · {choice.backend}")
        if choice.backend == "embedded":
            st.caption("Text only: images are read with OCR. A vision model through Ollama sees more.")
        if status.reachable:
            st.caption(f":green[:material/check_circle:] Ollama at {status.host} · {len(status.models)} model(s)")
        else:
            st.caption(f":gray[:material/cloud_off:] Ollama not reachable at {status.host}")
            if services.settings.backend == "ollama":
                st.warning(status.hint or status.error, icon=":material/build:")
            else:
                # The embedded model answers meanwhile, but the fix is one line: show it (the README promises it).
                st.caption(OLLAMA_FIX)
        if choice.backend == "ollama" and not choice.model:
            st.warning("No Ollama chat model: run `ollama pull qwen2.5:7b`.", icon=":material/build:")
