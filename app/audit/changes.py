"""What an action record says about a change: a settings change field by field (secrets never shown), the
fingerprint of an SQL result and what one file's ingestion did. Kept apart from the container, which only writes
them."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from app.documents.results import IngestResult
from app.settings import Settings
from app.tables.service import SqlAnswer

# A setting whose name says it holds a secret is recorded as changed, never with its value; a URL's user and
# password (http://user:pass@host) are masked.
_SECRET_NAME = re.compile(r"(^|_)(key|secret|password|token|credentials?)$", re.I)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _shown(name: str, value: Any) -> Any:
    if _SECRET_NAME.search(name):
        return "(secret)"
    if isinstance(value, str):
        value = _URL_USERINFO.sub("***@", value)
        return value if len(value) <= 500 else value[:500] + "…"
    return value


def settings_changes(old: Settings, new: Settings, fields: Any) -> dict[str, dict[str, Any]]:
    """What a settings change did, field by field: {"field": {"old": ..., "new": ...}} (secrets never shown)."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return {name: {"old": _shown(name, before.get(name)), "new": _shown(name, after.get(name))}
            for name in sorted(fields) if before.get(name) != after.get(name)}


def sql_result_hash(answer: SqlAnswer) -> str:
    """The SHA-256 of an SQL result's columns and rows (recorded instead of the rows)."""
    data = json.dumps({"columns": answer.columns, "rows": answer.rows}, sort_keys=True, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def ingest_record(result: IngestResult, user: str) -> dict[str, Any]:
    """The `ingest` record of one file: its name (never the folder it came from), outcome, size and any error."""
    status = result.status if result.status in ("error", "cancelled") else "ok"
    return {"user": user, "status": status, "outcome": result.status,
            "name": Path(result.path).name, "doc_id": result.id, "kind": result.kind, "pages": result.pages,
            "chunks": result.chunks, "seconds": result.seconds, "error": result.error[:500]}
