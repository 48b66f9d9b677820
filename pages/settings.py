"""Settings page: backend, Ollama host, models, generation parameters."""

import streamlit as st

from app.ui.common import get_services
from app.ui.settings import apply, settings_form

services = get_services()
st.title("Settings")
st.caption("Saved to the data directory; environment variables (ANALYST_*) take precedence and lock a field.")

changes = settings_form(services)
if changes is not None:
    apply(services, changes)

with st.expander("Ollama connection"):
    if st.button("Test connection", key="settings.test"):
        status = services.router.ollama_status(refresh=True)
        if status.reachable:
            st.success(f"Reachable at {status.host}. Models: {', '.join(status.models) or 'none pulled'}")
        else:
            st.error(f"{status.error}\n\n{status.hint}")
