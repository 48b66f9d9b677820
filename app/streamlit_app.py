"""Streamlit entry point: `python -m app serve` (or `streamlit run app/streamlit_app.py`).

Navigation is explicit (`st.navigation`), so the page scripts live in the top-level
`pages/` folder without Streamlit's automatic multipage discovery.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only this file's folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.errors import AssistantError  # noqa: E402
from app.ui.common import get_services, report_render_error, show_error, status_panel  # noqa: E402
from app.ui.jobs import jobs_sidebar  # noqa: E402
from app.ui.signin import account_panel, allowed_pages, anonymous_notice, gate  # noqa: E402
from storage.file_modes import owner_only_umask  # noqa: E402

owner_only_umask()  # `streamlit run` started directly: files the app creates are owner only too

PAGES = ROOT / "pages"

# An emoji icon, drawn by the browser itself: a :material/...: page icon makes Streamlit's frontend fetch the
# favicon from fonts.gstatic.com, a request to another host from an app that promises to stay offline.
st.set_page_config(page_title="Analyst Assistant", page_icon="📊", layout="wide")

ALL_PAGES = [
    st.Page(PAGES / "chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page(PAGES / "documents.py", title="Documents", icon=":material/description:", url_path="documents"),
    st.Page(PAGES / "tables.py", title="Tables", icon=":material/table_chart:", url_path="tables"),
    st.Page(PAGES / "board.py", title="Board", icon=":material/push_pin:", url_path="board"),
    st.Page(PAGES / "media.py", title="Images & audio", icon=":material/perm_media:", url_path="media"),
    st.Page(PAGES / "audit.py", title="Audit", icon=":material/fact_check:", url_path="audit"),
    st.Page(PAGES / "monitoring.py", title="Monitoring", icon=":material/monitoring:", url_path="monitoring"),
    st.Page(PAGES / "evaluation.py", title="Evaluation", icon=":material/rule:", url_path="evaluation"),
    st.Page(PAGES / "settings.py", title="Settings", icon=":material/settings:", url_path="settings"),
    st.Page(PAGES / "access.py", title="Users & workspaces", icon=":material/group:", url_path="access"),
]

try:
    actor = gate()  # sign-in first: nothing below runs for someone not signed in
    services = get_services()
except AssistantError as exc:  # e.g. an unreadable settings file or data directory
    show_error(exc)
    st.stop()

allowed = allowed_pages(actor)
# Pages a role may not use are not offered (a URL to one lands on the first page); the services refuse too.
pages = [p for p in ALL_PAGES if (p.title in allowed if allowed is not None else p.title != "Users & workspaces")]
# With Chat hidden (auditors), the first page offered opens by default.
navigation = st.navigation(pages)

st.sidebar.title(":material/query_stats: Analyst Assistant")
st.sidebar.caption("Private and local: nothing leaves this machine.")
if actor is not None:
    account_panel(actor)
anonymous_notice()
status_panel(services)
jobs_sidebar(services)  # starts the app's job consumer once; the panel refreshes itself
try:
    navigation.run()
except AssistantError as exc:  # a user-facing failure (e.g. a Chroma server that went away): say it, with its fix
    show_error(exc)
except Exception as exc:  # noqa: BLE001 - last resort: a bug must not replace the page with a traceback
    # Streamlit's own stop/rerun signals are BaseExceptions and pass through untouched.
    logging.getLogger("analyst_assistant").exception("page %s failed", navigation.title)
    report_render_error(services, f"page {navigation.title}", exc)
    show_error(AssistantError(f"This page hit an internal error ({type(exc).__name__}).",
                              "It was recorded (see Monitoring) and your data is untouched. Reload the page or "
                              "open another conversation; if it happens again, report it with the time shown in "
                              "Monitoring."))
