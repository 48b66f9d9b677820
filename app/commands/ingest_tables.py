"""`ingest` dispatch for table files: CSV/TSV, Excel, Parquet, JSON and DuckDB go to DuckDB, not the index."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.errors import AssistantError
from multimodal.kinds import file_kind


def is_table_file(path: Path) -> bool:
    """True for a file the document index cannot take but DuckDB can (sniffed from the bytes)."""
    path = Path(path)
    return path.is_file() and file_kind(path) == "table"


def load_table(tables: Any, path: Path) -> dict[str, Any]:
    """Load one table file; a result in the `ingest --json` shape, plus the tables it made."""
    started = time.monotonic()
    entry: dict[str, Any] = {"path": str(path), "id": "", "kind": "table", "status": "indexed", "error": "",
                             "pages": 0, "chunks": 0, "seconds": 0.0, "tables": [], "rows": {}}
    try:
        loaded = tables.load_table_file(Path(path))
    except AssistantError as exc:
        entry.update(status="error", error=exc.one_line())
    else:
        entry.update(id=loaded.sha256[:16], tables=list(loaded.tables), rows=dict(loaded.rows),
                     status="skipped" if loaded.already_loaded else "indexed", warnings=list(loaded.warnings))
    entry["seconds"] = round(time.monotonic() - started, 3)
    return entry
