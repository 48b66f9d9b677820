"""Streamlit glue shared by the pages: the cached services, session keys, common widgets.

Services are built once per server process (`st.cache_resource`) and shared by every
browser session; `st.session_state` holds only plain data under namespaced keys.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.access.roles import Actor
from app.container import Services, build_services
from app.errors import AssistantError
from app.llm.selector import parse_model_spec
from app.settings import SETTINGS_FILE, Settings, load_settings

# Session-state keys, namespaced by page so pages never collide.
KEY_CONVERSATION = "chat.conversation_id"
KEY_MODEL_CHOICE = "chat.model_choice"
KEY_ACTOR = "access.actor"  # the signed-in Actor (app.ui.signin sets it before any page runs)
OLLAMA_FIX = ":material/build: Start Ollama with `ollama serve`, or set its host in Settings."

# safe_markdown: a fence only at column 0 (a fence indented into a list item or quote ends with its container,
# which this scanner does not follow: there everything is escaped instead); a backtick fence's info string has
# no backtick. A closing fence may be indented up to 3 spaces, as CommonMark allows.
_FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})([^\n]*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_BARE_URL = re.compile(r"(?<![\w/\\])(?:(?:https?|ftp|file|data):[^\s<>`]+|www\.[^\s<>`]+)", re.I)
_URL_TAIL = ".,;:!?)]'\""
# [ ] start links, images, reference definitions, footnotes and Streamlit's :color[...]; < starts HTML and
# autolinks; $ starts LaTeX. Escaped, each shows as itself.
_ESCAPE = str.maketrans({"[": "\\[", "]": "\\]", "<": "\\<", "$": "\\$"})
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@st.cache_resource(show_spinner="Starting Analyst Assistant…")
def _services() -> Services:
    return build_services(load_settings())


@st.cache_resource(show_spinner=False)
def root_settings() -> Settings:
    """The settings as the server started with them (the sign-in mode comes from the environment only)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _pools() -> tuple[dict[str, Services], threading.Lock]:
    return {}, threading.Lock()


@st.cache_resource(show_spinner="Opening the workspace…", max_entries=256)
def _actor_services(user: str, role: str, workspace_id: str, workspace: str, folder: str, kind: str,
                    saved_at: float = 0.0) -> Services:
    # One Services per person and workspace (records carry who and where); the heavy ones (DuckDB, vectors) are
    # shared by everyone in the same workspace folder. `saved_at` (settings.json's time) is part of the key: an
    # admin's settings change reaches every session on its next rerun.
    actor = Actor(user, role, workspace_id, workspace, Path(folder), kind)
    services = build_services(load_settings(), actor)
    pools, lock = _pools()
    with lock:
        first = pools.setdefault(folder, services)
    if first is not services:
        services.share_pool(first)
    return services


def get_services() -> Services:
    """This browser session's services: the signed-in user's in their current workspace, or (sign-in off) the
    process-wide ones over the data directory."""
    actor = st.session_state.get(KEY_ACTOR)
    if isinstance(actor, Actor):
        saved = root_settings().data_dir / SETTINGS_FILE
        return _actor_services(actor.user, actor.role, actor.workspace_id, actor.workspace, str(actor.folder),
                               actor.kind, saved.stat().st_mtime if saved.exists() else 0.0)
    if root_settings().auth != "none":  # never the whole data directory to someone not signed in
        st.stop()
    return _services()


def safe_markdown(text: str) -> str:
    """Markdown whose images, links, autolinks and HTML show as text: nothing in it can make the browser fetch
    anything, or become a link that sends data out when clicked.

    For every text that comes from documents, tables, OCR, transcripts or a model (and text composed around
    it: pass the whole string). Ordinary text keeps its formatting (bold, lists, tables, headings) and code
    (fenced blocks, one-line code spans) stays as it is; bare URLs are shown as code, not links."""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is not None:
            out.append(line)
            close = _FENCE_CLOSE.match(line)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                fence = None
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            out.append(opened.group(1) + opened.group(2).translate(_ESCAPE))
            continue
        out.append(_safe_line(line))
    return "\n".join(out)


def _safe_line(line: str) -> str:
    """One line outside a fenced block: code spans on this line kept, the rest escaped."""
    out: list[str] = []
    i, text_start = 0, 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in _PUNCT:
            i += 2
            continue
        if char != "`":
            i += 1
            continue
        run = _run_length(line, i)
        close = _closing_run(line, i + run, run)
        # A span holding | could be cut by a GFM table cell boundary: its text is escaped like any other.
        if close is None or "|" in line[i:close]:
            out.append(_safe_text(line[text_start:i]) + "\\`" * run)
            i = text_start = i + run
            continue
        out.append(_safe_text(line[text_start:i]) + line[i:close + run])
        i = text_start = close + run
    out.append(_safe_text(line[text_start:]))
    return "".join(out)


def _closing_run(line: str, start: int, run: int) -> int | None:
    """Where a backtick run of exactly `run` backticks starts at or after `start` (a code span's end)."""
    i = start
    while (i := line.find("`", i)) >= 0:
        length = _run_length(line, i)
        if length == run:
            return i
        i += length
    return None


def _run_length(line: str, start: int) -> int:
    """How many backticks follow one another from `start`."""
    end = start
    while end < len(line) and line[end] == "`":
        end += 1
    return end - start


def _safe_text(text: str) -> str:
    """Text outside code: bare URLs as code, the characters that start links, images, HTML or LaTeX escaped.
    A backslash escape already in the text is kept as it is (it never escapes what follows it twice)."""
    out: list[str] = []
    pos = 0
    for match in _BARE_URL.finditer(text):
        url = match.group(0).rstrip(_URL_TAIL)
        out.append(_escape(text[pos:match.start()]) + f"`{url}`")
        pos = match.start() + len(url)
    out.append(_escape(text[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    parts = re.split(r"(\\[!-/:-@\[-`{-~])", text)  # existing escapes stay as they are
    return "".join(part if index % 2 else part.translate(_ESCAPE) for index, part in enumerate(parts))


def show_error(exc: AssistantError) -> None:
    """Show a user-facing error with its hint (never a traceback): the one way every page shows an error.

    A failure that is not an AssistantError (a bug) is shown through it too, as an AssistantError that names
    the exception's type and says it was recorded."""
    text = f"**{exc.message}**" + (f"\n\n{exc.hint}" if exc.hint else "")
    st.error(safe_markdown(text), icon=":material/error:")


def show_error_note(text: str, where: DeltaGenerator | None = None) -> None:
    """A one-line warning inside something otherwise drawn (a citation, a message, a sidebar list): the part
    that failed says so in `text` (an AssistantError's message, or a bug's exception type), the rest stays."""
    (where if where is not None else st).caption(":orange[:material/warning:] " + safe_markdown(text))


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
            st.caption(f":green[:material/check_circle:] Ollama at `{status.host}` · {len(status.models)} model(s)")
        else:
            st.caption(f":gray[:material/cloud_off:] Ollama not reachable at `{status.host}`")
            if services.settings.backend == "ollama":
                st.warning(safe_markdown(status.hint or status.error), icon=":material/build:")
            else:
                # The embedded model answers meanwhile, but the fix is one line: show it (the README promises it).
                st.caption(OLLAMA_FIX)
        if choice.backend == "ollama" and not choice.model:
            st.warning("No Ollama chat model: run `ollama pull qwen2.5:7b`.", icon=":material/build:")
        if services.settings.openai_base_url:  # the OpenAI-compatible model server: reachable or not, and why
            served = router.openai_status()
            if served.reachable:
                st.caption(f":green[:material/check_circle:] Model server at `{served.host}` · "
                           f"{len(served.models)} model(s)")
            else:
                st.caption(f":red[:material/cloud_off:] Model server at `{served.host}` not reachable")
                st.warning(safe_markdown(served.hint or served.error), icon=":material/build:")
        running, waiting = router.model_queue().get(choice.backend, (0, 0))
        if waiting:  # fair queue in front of the model (app/llm/gate.py)
            st.caption(f":material/hourglass_top: {running} answering, {waiting} waiting for the model")
        store = services.vector_store_status()
        if store.kind == "embedded":
            st.caption(":green[:material/check_circle:] Vectors: embedded Chroma in the data directory")
        elif store.reachable:
            st.caption(f":green[:material/check_circle:] Vectors: Chroma server at `{store.location}`")
        else:
            st.caption(f":red[:material/cloud_off:] Vectors: Chroma server at `{store.location}` not reachable")
            st.warning(safe_markdown(store.error), icon=":material/build:")
