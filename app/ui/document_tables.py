"""The tables found inside a document (Documents page) and where a table came from (Tables page).

Loaded tables show their name for SQL, their place (page, slide or section) and a preview of their rows;
skipped ones say why. Everything shown comes from the document: it is drawn as data, never as HTML."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app.container import Services
from app.errors import AssistantError
from app.ui.common import safe_markdown
from storage.document_tables import LOADED, DocumentTableRegistry, TableOrigin

PREVIEW_ROWS = 5


def _registry(data_dir: Path) -> DocumentTableRegistry | None:
    path = Path(data_dir) / "document_tables.sqlite"
    return DocumentTableRegistry(path) if path.is_file() else None  # nothing made before a table was found


def document_tables_panel(services: Services, doc_id: str) -> None:
    """A document's tables: loaded ones with a preview (query them by name), skipped ones with the reason."""
    registry = _registry(services.documents.data_dir)
    origins = registry.for_document(doc_id) if registry is not None else []
    if not origins:
        return
    loaded = [o for o in origins if o.status == LOADED]
    title = f"Tables in this document: {len(loaded)} loaded as data" + (
        f", {len(origins) - len(loaded)} skipped" if len(loaded) < len(origins) else "")
    with st.expander(title, icon=":material/table_chart:"):
        for origin in origins:
            if origin.status == LOADED:
                _loaded_table(services, origin)
            else:
                st.caption(":orange[:material/warning:] " + safe_markdown(
                    f"Table {origin.table_index} ({origin.location_kind} {origin.location}) was not loaded as data: "
                    f"{origin.reason}. Its text is searchable with the document."))


def _loaded_table(services: Services, origin: TableOrigin) -> None:
    st.markdown(safe_markdown(f"**{origin.table_name}** · {origin.location_kind} {origin.location}, table "
                              f"{origin.table_index} · {origin.row_count} row(s)") + " — ask about it, or query "
                f"`SELECT * FROM {origin.table_name}`.")
    try:
        preview = services.tables.preview(origin.table_name, PREVIEW_ROWS)
        frame = pd.DataFrame(preview.rows, columns=preview.columns)
    except AssistantError:  # the table was removed on the Tables page: show the cells as read from the document
        header, body = origin.raw[0], origin.raw[1:PREVIEW_ROWS + 1]
        frame = pd.DataFrame(body, columns=[f"{h} ({n})" for n, h in enumerate(header, start=1)])
        st.caption("This table is no longer in the tables database; the cells as read from the document:")
    st.dataframe(frame, hide_index=True, width="stretch")


def table_origin_line(services: Services, table_name: str) -> str:
    """'Taken from q3_report.pdf, page 12 (table 1)' for a table taken from a document; '' otherwise."""
    registry = _registry(services.settings.data_dir)
    origin = registry.for_table(table_name) if registry is not None else None
    if origin is None:
        return ""
    return f"Taken from {origin.place} (table {origin.table_index})."
